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


def test_the_bar_says_how_long_is_left_at_the_rate_since_its_first_run_epochs(monkeypatch):
    """Compiling before the first run-epochs is not counted; nothing is said before RATE_AFTER seconds of training,
    nor once training has finished."""
    from reportgen import notebook

    now = [0.0]
    monkeypatch.setattr(notebook.time, "monotonic", lambda: now[0])
    bar = notebook.NotebookBar(100, "training 4 models")
    bar.update(advance=0, description="compiling the graph")
    now[0] = 10.0  # ten seconds of compiling, then the first 10 run-epochs
    bar.update(advance=10)
    now[0] = 11.0
    assert bar.left() is None and "left" not in repr(bar._view())
    now[0] = 15.0  # 20 more in 5 s: 4 per second, 70 to go
    bar.update(advance=20)
    assert bar.left() == pytest.approx(17.5)
    assert "30 / 100 run-epochs · ≈ 0:18 left · compiling the graph" in repr(bar._view())
    assert "≈ 0:18 left" in bar._view()._repr_html_()
    assert "left" not in repr(bar._view(finished=True))


@pytest.mark.parametrize(("seconds", "written"), [(0.4, "0:00"), (42, "0:42"), (725, "12:05"), (3725, "1:02:05")])
def test_a_time_left_is_written_as_the_terminal_bar_writes_it(seconds, written):
    from types import SimpleNamespace

    from rich.console import Console

    from reportgen.notebook import clock
    from reportgen.pipeline import _training_progress

    assert clock(seconds) == written
    progress, _ = _training_progress(Console(force_terminal=True), False, 100, 4)
    column = next(c for c in progress.columns if type(c).__name__ == "Left")
    assert column.render(SimpleNamespace(time_remaining=seconds, finished=False)).plain == f"≈ {written} left"
    assert column.render(SimpleNamespace(time_remaining=None, finished=False)).plain == ""  # still compiling
    assert column.render(SimpleNamespace(time_remaining=seconds, finished=True)).plain == ""
