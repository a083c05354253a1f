"""The wheel: built from this tree, it carries the templates, the stylesheets and the script the report is made of."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_the_templates_and_finds_them_installed(tmp_path):
    # no build isolation: the build backend (hatchling) is in the dev extras, so nothing is fetched and it takes seconds
    build = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    done = subprocess.run(build, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "setuptools" not in done.stderr  # the warning block this build used to print
    wheel = next(tmp_path.glob("reportgen-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = sorted(p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file())
    assert {"report.html", "base.html", "css/report.css", "css/print.css", "js/report.js"} <= set(templates)
    assert {f"reportgen/templates/{t}" for t in templates} <= names and "reportgen/cli.py" in names
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "reportgen").rglob("*.py")}
    assert modules <= names, sorted(modules - names)  # every module of every subpackage
    assert "reportgen/schema/results.schema.json" in names  # the JSON Schema shipped for readers in other languages
    # installed (the wheel unpacked ahead of this tree on the path), reportgen reads the templates it carries
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = "import reportgen.report as r; r.environment().get_template('report.html'); print(r.TEMPLATES)"
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(site)}
    )
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == site / "reportgen" / "templates"
