"""The scaled deployment's services, one definition for both ways of running it.

``docker-compose.yml`` runs these services as containers on a compose network; ``deploy/local-stack`` runs
them as processes on loopback ports (``insight.deploy.stack``). Both take every command, environment
variable and health check from :func:`services`, which differ only in the :class:`Placement`: the names the
services reach each other by, their ports, the address they listen on and where their data lives.
``tests/test_compose.py`` checks the compose file against ``services(COMPOSE_NETWORK)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from insight.config import LLMSettings
from insight.llm.local_model import LOCAL_MODEL_NAME, QWEN25_CODER_05B

ServiceName = Literal["postgres", "mlflow", "chroma", "llm-model", "llm", "train", "api"]

# Postgres role and database MLflow keeps its runs in (compose's `POSTGRES_*` variables).
MLFLOW_DB_USER = "mlflow"
MLFLOW_DB_PASSWORD = "mlflow"
MLFLOW_DB_NAME = "mlflow"
# The artifact path under the MLflow server's artifact root that Insight's experiments use.
ARTIFACT_PREFIX = "insight"


@dataclass(frozen=True)
class HttpCheck:
    """Healthy when ``GET http://127.0.0.1:<port><path>`` answers 2xx, asked from inside the service."""

    port: int
    path: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def compose_test(self) -> list[str]:
        probe = f"import urllib.request; urllib.request.urlopen('{self.url}', timeout=4)"
        return ["CMD", "python", "-c", probe]


@dataclass(frozen=True)
class CommandCheck:
    """Healthy when the command exits 0."""

    argv: tuple[str, ...]

    def compose_test(self) -> list[str]:
        return ["CMD", *self.argv]


@dataclass(frozen=True)
class Service:
    name: ServiceName
    command: tuple[str, ...] | None  # None: the image's own (postgres, set up by its environment)
    environment: dict[str, str]
    health: HttpCheck | CommandCheck | None  # None: a one-shot job, done when it exits 0
    depends_on: tuple[ServiceName, ...] = ()
    timings: dict[str, str | int] = field(default_factory=dict)  # compose's interval/timeout/start_period/retries

    @property
    def one_shot(self) -> bool:
        return self.health is None


@dataclass(frozen=True)
class Placement:
    """Where the services run: the host names they reach each other by, ports, bind address, data paths."""

    hosts: dict[ServiceName, str]
    ports: dict[ServiceName, int]
    bind: str  # the address servers listen on
    chroma_data: str
    mlflow_artifacts: str
    llm_models: str
    predictor_dir: str
    keys_path: str
    eval_cache: str


COMPOSE_NETWORK = Placement(
    hosts={"postgres": "postgres", "mlflow": "mlflow", "chroma": "chroma", "llm": "llm", "api": "api"},
    ports={"postgres": 5432, "mlflow": 5000, "chroma": 8000, "llm": 8080, "api": 8000},
    bind="0.0.0.0",  # inside a container, reached through the compose network
    chroma_data="/app/var/chroma",
    mlflow_artifacts="/mlflow/artifacts",
    llm_models="/app/var/models/llm",
    predictor_dir="/app/var/predictor/model",
    keys_path="/app/var/auth/keys.db",
    eval_cache="/app/var/eval/cache",
)


def postgres_uri(place: Placement) -> str:
    host, port = place.hosts["postgres"], place.ports["postgres"]
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the images and the lock carry psycopg2
    return f"postgresql+psycopg2://{MLFLOW_DB_USER}:{MLFLOW_DB_PASSWORD}@{host}:{port}/{MLFLOW_DB_NAME}"


def mlflow_url(place: Placement) -> str:
    return f"http://{place.hosts['mlflow']}:{place.ports['mlflow']}"


def _allowed_hosts(place: Placement) -> str:
    port = place.ports["mlflow"]
    names = dict.fromkeys([place.hosts["mlflow"], "localhost", "127.0.0.1"])  # ordered, no repeats
    return ",".join(f"{name}:{port}" for name in names)


def _tracking_env(place: Placement) -> dict[str, str]:
    return {
        "INSIGHT_TRACKING__URI": mlflow_url(place),
        # Artifacts go through the tracking server into its artifact root, not onto the client's disk. No host
        # in the URI: the server refuses one that names a host (mlflow-artifacts://mlflow:5000/… gets
        # INVALID_PARAMETER_VALUE) and resolves a bare one against the tracking URI.
        "INSIGHT_TRACKING__ARTIFACT_LOCATION": f"mlflow-artifacts:///{ARTIFACT_PREFIX}",
    }


def _api_env(place: Placement, port: int) -> dict[str, str]:
    return {
        **_tracking_env(place),
        "INSIGHT_LOG_LEVEL": "INFO",
        "INSIGHT_LOG_FORMAT": "json",
        "INSIGHT_API__HOST": place.bind,
        "INSIGHT_API__PORT": str(port),
        # The model server is llama.cpp on CPUs: a 1,105-token narration prompt took 146 s on a loaded 2-core
        # machine (load 13; ~30 s when quiet), so the request and model-call limits leave room for that.
        "INSIGHT_API__REQUEST_TIMEOUT_S": "300",
        "INSIGHT_VECTORSTORE__HOST": place.hosts["chroma"],
        "INSIGHT_VECTORSTORE__PORT": str(place.ports["chroma"]),
        "INSIGHT_LLM__PROVIDER": "openai_compatible",
        "INSIGHT_LLM__BASE_URL": f"http://{place.hosts['llm']}:{place.ports['llm']}/v1",
        "INSIGHT_LLM__MODEL": LOCAL_MODEL_NAME,
        "INSIGHT_LLM__TIMEOUT_S": "240",
        "INSIGHT_AUTH__ENABLED": "true",
        "INSIGHT_AUTH__KEYS_PATH": place.keys_path,
        "INSIGHT_PREDICTOR__MODEL_DIR": place.predictor_dir,
        "INSIGHT_EVALUATION__CACHE_DIR": place.eval_cache,
    }


def api_service(place: Placement, port: int | None = None) -> Service:
    """One API replica (``port`` defaults to the placement's: replicas differ only in it)."""
    port = place.ports["api"] if port is None else port
    return Service(
        name="api",
        command=("insight", "serve"),
        environment=_api_env(place, port),
        health=HttpCheck(port, "/health"),
        depends_on=("train", "chroma", "mlflow", "llm"),
        timings={"interval": "15s", "timeout": "5s", "start_period": "60s", "retries": 3},
    )


def services(place: Placement) -> dict[ServiceName, Service]:
    """Every service of the deployment, in an order that starts each after what it depends on."""
    llm_defaults = LLMSettings()
    pg, mlflow, chroma, llm = (place.ports[name] for name in ("postgres", "mlflow", "chroma", "llm"))
    listed = [
        Service(
            name="postgres",
            command=None,
            environment={
                "POSTGRES_USER": MLFLOW_DB_USER,
                "POSTGRES_PASSWORD": MLFLOW_DB_PASSWORD,
                "POSTGRES_DB": MLFLOW_DB_NAME,
            },
            health=CommandCheck(
                ("pg_isready", "-h", "127.0.0.1", "-p", str(pg), "-U", MLFLOW_DB_USER, "-d", MLFLOW_DB_NAME)
            ),
            timings={"interval": "5s", "timeout": "5s", "retries": 10},
        ),
        Service(
            name="mlflow",
            command=(
                "mlflow",
                "server",
                f"--host={place.bind}",
                f"--port={mlflow}",
                "--workers=1",
                f"--backend-store-uri={postgres_uri(place)}",
                f"--artifacts-destination={place.mlflow_artifacts}",
                "--serve-artifacts",
                f"--allowed-hosts={_allowed_hosts(place)}",
            ),
            environment={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"},
            health=HttpCheck(mlflow, "/health"),
            depends_on=("postgres",),
            timings={"interval": "10s", "timeout": "5s", "start_period": "30s", "retries": 5},
        ),
        Service(
            name="chroma",
            command=("chroma", "run", f"--host={place.bind}", f"--port={chroma}", f"--path={place.chroma_data}"),
            environment={"ANONYMIZED_TELEMETRY": "False"},
            health=HttpCheck(chroma, "/api/v2/heartbeat"),
            timings={"interval": "10s", "timeout": "5s", "start_period": "10s", "retries": 5},
        ),
        Service(
            name="llm-model",
            command=("python", "-m", "insight.llm.local_model", place.llm_models),
            environment={},
            health=None,
        ),
        Service(
            name="llm",
            command=(
                "python",
                "-m",
                "llama_cpp.server",
                f"--model={place.llm_models}/{QWEN25_CODER_05B.filename}",
                f"--model_alias={LOCAL_MODEL_NAME}",
                f"--host={place.bind}",
                f"--port={llm}",
                f"--n_ctx={llm_defaults.n_ctx}",
                f"--n_threads={llm_defaults.n_threads}",
            ),
            environment={},
            health=HttpCheck(llm, "/v1/models"),
            depends_on=("llm-model",),
            timings={"interval": "10s", "timeout": "5s", "start_period": "60s", "retries": 5},
        ),
        Service(
            name="train",
            command=("insight", "train", "--if-missing"),
            environment={**_tracking_env(place), "INSIGHT_PREDICTOR__MODEL_DIR": place.predictor_dir},
            health=None,
            depends_on=("mlflow",),
        ),
        api_service(place),
    ]
    return {service.name: service for service in listed}


def compose_healthcheck(service: Service) -> dict[str, object] | None:
    """The compose ``healthcheck`` block for ``service`` (None for a one-shot job)."""
    if service.health is None:
        return None
    return {"test": service.health.compose_test(), **service.timings}


def local_paths(state_dir: Path, models_dir: Path) -> dict[str, str]:
    """The data paths of a process stack under ``state_dir`` (the chat model shared with ``make llm-model``)."""
    return {
        "chroma_data": str(state_dir / "chroma"),
        "mlflow_artifacts": str(state_dir / "mlflow" / "artifacts"),
        "llm_models": str(models_dir),
        "predictor_dir": str(state_dir / "predictor" / "model"),
        "keys_path": str(state_dir / "auth" / "keys.db"),
        "eval_cache": str(state_dir / "eval" / "cache"),
    }


def loopback(ports: dict[ServiceName, int], state_dir: Path, models_dir: Path) -> Placement:
    """The placement of a process stack: every service on 127.0.0.1, data under ``state_dir``."""
    return Placement(
        hosts={name: "127.0.0.1" for name in ports},
        ports=dict(ports),
        bind="127.0.0.1",
        **local_paths(state_dir, models_dir),
    )
