"""Execute every notebook under notebooks/ and check it runs cleanly to the end.

Each notebook's own assert cells (e.g. the EDA "Conclusions" guard) make a stale notebook fail
here, not just a crashing one.
"""

import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client import AsyncKernelManager
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).parents[1]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))

# Appended to the in-memory copy only: proves the kernel is this interpreter (the venv's).
_PROBE = "import sys\nprint(sys.executable, end='')"

pytestmark = pytest.mark.notebook


def _kernel_manager() -> AsyncKernelManager:
    km = AsyncKernelManager(kernel_name="python3")
    # Whatever "python3" kernelspec is found, run it on the interpreter running the tests.
    km.kernel_spec.argv[0] = sys.executable
    return km


def _is_conclusions_cell(cell: nbformat.NotebookNode) -> bool:
    if cell.cell_type != "markdown":
        return False
    return any(
        line.lstrip("#").strip().lower() == "conclusions" for line in cell.source.splitlines() if line.startswith("#")
    )


def test_notebooks_found() -> None:
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOKS_DIR}"
    # the guide's layout: EDA, feature engineering, model experiments, each with its conclusions asserted
    expected = {"01_eda.ipynb", "02_feature_engineering.ipynb", "03_model_experiments.ipynb"}
    assert expected <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(_PROBE))

    client = NotebookClient(
        nb,
        km=_kernel_manager(),
        timeout=300,  # per cell: 03 runs `insight train --search` (tens of seconds; over a minute on a loaded machine)
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    # cleanup_kc: nbclient only shuts down kernels it created itself unless told to.
    client.execute(cleanup_kc=True)  # raises CellExecutionError on the first failing cell

    probe = nb.cells.pop()
    stdout = "".join(o.get("text", "") for o in probe.outputs if o.output_type == "stream")
    assert Path(stdout) == Path(sys.executable), f"kernel ran {stdout!r}"

    errors = [
        (i, out.get("ename"), out.get("evalue"))
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert not errors, f"error outputs in {path.name}: {errors}"
    assert any(_is_conclusions_cell(c) for c in nb.cells), f"{path.name}: no Conclusions cell"
