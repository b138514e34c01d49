"""Layers run one way: no module imports a layer above its own, and no two modules import each other.

The layers, top to bottom. A module belongs to the longest entry that names it or a package above it
(``insight.rag.answer`` → ``insight.rag``). A module may import its own entry (inside one package) and any
layer below; entries of the same layer are independent (``insight.rag`` and ``insight.analysis`` do not
import each other). Every module under ``src/insight`` must have a layer, so a new one is placed on
purpose.

Which imports count: every ``insight.*`` import in a module, at module level, inside functions (a
lazy import is still a dependency: it runs whenever the function does) and under ``TYPE_CHECKING``
(an annotation is a dependency too, and a type that only an upper layer knows is an upward one).
``from package import name`` counts as importing the submodule ``package.name`` when there is one,
else the package's ``__init__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT_PACKAGE = "insight"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("insight.deploy",),  # the deployment topology and the process stack (deploy/local-stack)
    ("insight.cli",),  # the command line
    ("insight.api.app",),  # the app: assembles the API's routes and the workbench
    ("insight.workbench",),  # the browser pages (through the API's dependencies)
    ("insight.api", "insight.bulk"),  # routes, dependencies, domain errors → HTTP; bulk jobs (local or Ray)
    ("insight.evaluation", "insight.observability"),  # scoring the services; watching them
    ("insight.rag", "insight.analysis"),  # the services over documents and over tables
    ("insight.llm", "insight.predictor", "insight.auth"),  # chat model clients, the classifier, API keys
    # the low layer, imported by everyone, importing nobody above it:
    ("insight.console", "insight.prompts", "insight.tracking", "insight.tokens", "insight.reader"),
    ("insight.config", "insight.yamlfile", "insight.hashing", "insight.files"),
    ("insight.errors",),
    ("insight",),  # the package root: its version
)


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((SRC / ROOT_PACKAGE).rglob("*.py"))}


def _absolute(node: ast.ImportFrom, source: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = source.split(".") if is_package else source.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(source: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every ``insight.*`` module that ``source`` imports, anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == ROOT_PACKAGE:
                    yield Import(source, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, source, path.name == "__init__.py")
            if base.split(".")[0] != ROOT_PACKAGE:
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield Import(source, submodule if submodule in modules else base, node.lineno)


def layer_of(module: str) -> tuple[int, str] | None:
    """(layer index, 0 = top; the entry) of the longest entry naming ``module`` or a package above it."""
    best: tuple[int, str] | None = None
    for index, layer in enumerate(LAYERS):
        for entry in layer:
            if (module == entry or module.startswith(entry + ".")) and (best is None or len(entry) > len(best[1])):
                best = (index, entry)
    return best


def upward_imports(found: list[Import]) -> list[str]:
    problems: list[str] = []
    for imp in found:
        source, target = layer_of(imp.source), layer_of(imp.target)
        assert source is not None and target is not None
        if source[1] == target[1]:
            continue
        if target[0] < source[0]:
            problems.append(f"{imp.source}:{imp.line} imports {imp.target} from a layer above ({target[1]})")
        elif target[0] == source[0]:
            problems.append(
                f"{imp.source}:{imp.line} imports {imp.target}: {source[1]} and {target[1]} are independent"
            )
    return sorted(set(problems))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    found = all_modules()
    assert len(found) > 50 and "insight.api.app" in found  # the walk saw the package
    return found


@pytest.fixture(scope="module")
def found(modules: dict[str, Path]) -> list[Import]:
    return [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def test_every_module_has_a_layer(modules: dict[str, Path]) -> None:
    assert sorted(name for name in modules if layer_of(name) is None) == []


def test_every_import_names_a_module_that_exists(found: list[Import], modules: dict[str, Path]) -> None:
    assert sorted({f"{imp.source}:{imp.line} {imp.target}" for imp in found if imp.target not in modules}) == []


def test_no_module_imports_a_layer_above_its_own(found: list[Import]) -> None:
    assert upward_imports(found) == []


# Cycles known and not yet removed, each with the way out. Listed exactly: a new cycle fails the test, and
# so does removing one of these without deleting its entry here.
KNOWN_CYCLES: list[list[str]] = []


def test_no_import_cycles(found: list[Import]) -> None:
    graph: dict[str, set[str]] = {}
    for imp in found:
        graph.setdefault(imp.source, set()).add(imp.target)
    assert cycles(graph) == KNOWN_CYCLES


# --- the checks themselves catch what they are for ------------------------------------------------


def _imports(tmp_path: Path, name: str, code: str) -> list[Import]:
    path = tmp_path / "mod.py"
    path.write_text(code, encoding="utf-8")
    return list(imports_of(name, path, all_modules()))


def test_lazy_and_type_checking_imports_are_found_and_resolved(tmp_path: Path) -> None:
    code = (
        "from typing import TYPE_CHECKING\n"
        "import insight.errors\n"
        "from insight.llm import client, LLMClient\n"
        "if TYPE_CHECKING:\n"
        "    from insight.api.deps import Services\n"
        "def f():\n"
        "    from . import ingest\n"
        "    import os\n"
    )
    targets = [imp.target for imp in _imports(tmp_path, "insight.rag.answer", code)]
    assert targets == ["insight.errors", "insight.llm.client", "insight.llm", "insight.api.deps", "insight.rag.ingest"]


def test_an_upward_or_sideways_import_is_reported(tmp_path: Path) -> None:
    upward = _imports(tmp_path, "insight.observability.metrics", "from insight.api.deps import Services\n")
    assert upward_imports(upward) == [
        "insight.observability.metrics:1 imports insight.api.deps from a layer above (insight.api)"
    ]
    sideways = _imports(tmp_path, "insight.rag.answer", "def f():\n    from insight.analysis import chain\n")
    assert upward_imports(sideways) == [
        "insight.rag.answer:2 imports insight.analysis.chain: insight.rag and insight.analysis are independent"
    ]
    assert upward_imports(_imports(tmp_path, "insight.cli", "from insight.tokens import get_encoding\n")) == []


def test_a_cycle_through_a_lazy_import_is_reported() -> None:
    graph = {"insight.cli": {"insight.auth.cli"}, "insight.auth.cli": {"insight.cli"}, "insight.x": {"insight.y"}}
    assert cycles(graph) == [["insight.auth.cli", "insight.cli"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}) == [["a", "b", "c"], ["d"]]
