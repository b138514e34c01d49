"""Pages of the workbench. Each page is a template plus one small ES module that calls the public API.

No page reads a service directly: what the browser shows is what the API returns, under the same
API key, so the workbench cannot show a user more than their key allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from insight import __version__
from insight.api.deps import Services, ServicesDep

_HERE = Path(__file__).resolve().parent
_templates = Jinja2Templates(directory=_HERE / "templates")

Page = Literal["analyze", "documents", "evals", "predict"]
PAGES: dict[Page, str] = {
    "analyze": "Analyze",
    "documents": "Documents",
    "evals": "Evaluations",
    "predict": "Predict",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/ui/analyze")


@router.get("/ui")
async def ui_home() -> RedirectResponse:
    return RedirectResponse("/ui/analyze")


@router.get("/ui/{page}", response_class=HTMLResponse)
async def page(request: Request, page: Page, services: ServicesDep) -> HTMLResponse:
    return _templates.TemplateResponse(
        request,
        f"{page}.html",
        {
            "page": page,
            "pages": PAGES,
            "version": __version__,
            "dev_key": _dev_key(services),
            "mlflow_ui": services.settings.tracking.ui_url,
        },
    )


def _dev_key(services: Services) -> str | None:
    """The local admin key, pre-filled only in dev mode (``insight serve --dev``)."""
    return services.auth.dev_key if services.settings.auth.dev_mode else None


def mount_workbench(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=_HERE / "static"), name="workbench-static")
