"""examples/reportgen.ipynb: committed without outputs, and executed in a kernel as Jupyter would (nbclient, ipykernel),
with its build made light first (tests/conftest.py light: the fake trainer, stand-in figures, no helper process; nothing
here looks at a figure of the report): the notebook's own cells run unchanged."""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "reportgen.ipynb"
# run in the kernel before the notebook's cells: the repository's tests/ on the path, its builds light
SETUP = (
    f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport pytest\nfrom tests.conftest import light\n"
    "light(pytest.MonkeyPatch()).__enter__()"
)


def test_the_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert all(not c.metadata for c in nb.cells)  # no widget state, collapsed flags or timings either


def _outputs(cell, kind: str) -> list[str]:
    """The text of every output of a cell in one MIME type."""
    return ["".join(o["data"][kind]) for o in cell.get("outputs", []) if kind in o.get("data", {})]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook executed in a fresh kernel in a temporary folder (its output and run cache go there)."""
    from nbclient import NotebookClient

    folder = tmp_path_factory.mktemp("notebook")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(SETUP))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return nb.cells[1:], folder  # errors raise CellExecutionError above, with the cell and its traceback


def test_the_notebook_shows_the_report_inline(executed):
    cells, folder = executed
    shown = [text for cell in cells for text in _outputs(cell, "text/html") if text.startswith("<iframe srcdoc=")]
    assert len(shown) == 1
    srcdoc = html.unescape(re.match(r'<iframe srcdoc="([^"]*)"', shown[0]).group(1))
    assert srcdoc == (folder / "output-notebook" / "report.html").read_text(encoding="utf-8")
    assert "L1 and dropout on make_moons, from a notebook" in srcdoc


def test_the_notebook_shows_training_as_a_progress_bar_that_finishes(executed):
    cells, _ = executed
    bars = [
        o
        for cell in cells
        for o in cell.get("outputs", [])
        if "reportgen-progress" in "".join(o.get("data", {}).get("text/html", ""))
    ]
    assert bars, "no progress bar was displayed"
    last = "".join(bars[-1]["data"]["text/html"])  # the display updated in place holds its last state
    assert 'data-state="done"' in last
    done, total = map(int, re.search(r'<progress value="(\d+)" max="(\d+)"', last).groups())
    assert done == total == 3 * 3 * 20  # 3 variants × 3 replicates × 20 epochs


def test_the_notebook_tabulates_claims_and_plots_runs_with_seaborn(executed):
    cells, folder = executed
    claims = next(c for c in cells if "result.claims[" in c.source)
    table = _outputs(claims, "text/html")
    assert table and "<table" in table[0] and "verdict" in table[0] and "flip_probability" in table[0]
    plot = next(c for c in cells if "sns.stripplot" in c.source)
    assert _outputs(plot, "image/png"), "the seaborn cell drew no figure"
    last = cells[-1]
    assert _outputs(last, "text/plain") == [f"({3 * 3}, 'report.html')"]  # reportgen.load read the build back
    assert (folder / "output-notebook" / "runs.csv").is_file() and (folder / "output-notebook" / "claims.csv").is_file()
