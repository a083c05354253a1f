"""The package's import structure: no circle, the analysis and the data apart from training, no work at import."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import reportgen

PACKAGE = Path(reportgen.__file__).parent


def _modules() -> dict[str, Path]:
    """Every module of reportgen by dotted name (a package by its own name, from its __init__.py)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("reportgen", *path.relative_to(PACKAGE).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imported(path: Path, modules: dict[str, Path]) -> set[str]:
    """The reportgen modules a file imports anywhere in it, in functions too: `from pkg import name` is pkg.name when
    that is a module, else pkg. Imports under `if TYPE_CHECKING:` do not count: they never run."""
    out = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for block in [n for n in ast.walk(tree) if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]:
        block.body = []  # names for type checkers only: never imported when the program runs
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names}
    return out & modules.keys()


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imported(path, modules) for name, path in modules.items()}


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    """The modules that start imports, directly or through others."""
    seen, stack = set(), [start]
    while stack:
        for nxt in graph[stack.pop()] - seen:
            seen.add(nxt)
            stack.append(nxt)
    return seen


def test_the_import_graph_has_no_circle():
    graph = _graph()
    circles = sorted(name for name in graph if name in _reach(graph, name))
    assert not circles, f"modules that import themselves through others: {circles}"


def test_the_data_and_the_analysis_never_reach_training():
    graph = _graph()
    for module in ("reportgen.data", "reportgen.analysis", "reportgen.plan", "reportgen.cache"):
        into = sorted(m for m in _reach(graph, module) if m.startswith("reportgen.training"))
        assert not into, f"{module} imports {into}"


CHILD = """
import importlib, json, os, sys
from pathlib import Path
third_party, ours = json.loads(sys.argv[1])
for name in third_party:  # their own start-up (matplotlib's config folder, say) is not reportgen's
    importlib.import_module(name)
home = Path(os.environ["HOME"])
env, folders = dict(os.environ), {str(p) for p in home.rglob("*")}
for name in ours:
    importlib.import_module(name)
print(json.dumps({
    "env": {k: v for k, v in os.environ.items() if env.get(k) != v},
    "paths": sorted({str(p) for p in home.rglob("*")} - folders) + sorted(str(p) for p in Path.cwd().iterdir()),
    "tensorflow": "tensorflow" in sys.modules,
}))
"""


def _third_party() -> list[str]:
    """The other packages that reportgen's modules import when they are imported (not inside functions)."""
    names = set()
    for path in _modules().values():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return sorted(names - {"reportgen", "__future__"})


def test_importing_any_module_sets_nothing_and_makes_no_folder(tmp_path):
    """Importing every module of reportgen in a fresh interpreter sets no environment variable, creates no file or
    folder (in HOME or the working folder) and does not start TensorFlow."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MPLCONFIGDIR", "REPORTGEN_"))}
    args = json.dumps([_third_party(), sorted(_modules())])
    out = subprocess.run(
        [sys.executable, "-c", CHILD, args], env={**env, "HOME": str(home)}, cwd=cwd, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"env": {}, "paths": [], "tensorflow": False}
