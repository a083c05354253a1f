"""results.json's one schema (reportgen.schema): the shipped JSON Schema is current, a build's file is exactly what the
models write back, and readers of older files get the documented defaults."""

import json
import subprocess
import sys

import pytest

from reportgen import schema
from reportgen.errors import ConfigError
from reportgen.results import results_json
from reportgen.schema import Results


def test_the_shipped_json_schema_is_the_models_own():
    """Fails while results.schema.json is out of date: regenerate it with `python -m reportgen.schema`."""
    assert json.loads(schema.FILE.read_text(encoding="utf-8")) == schema.json_schema()
    assert schema.FILE.read_text(encoding="utf-8") == schema.schema_text()


def test_regenerating_writes_the_file_that_the_package_ships(tmp_path):
    target = tmp_path / "results.schema.json"
    proc = subprocess.run([sys.executable, "-m", "reportgen.schema", str(target)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert target.read_text(encoding="utf-8") == schema.FILE.read_text(encoding="utf-8")


def test_the_json_schema_names_what_readers_rely_on():
    doc = schema.json_schema()
    assert doc["$schema"].endswith("2020-12/schema") and set(doc["required"]) == {
        "reportgen",
        "study",
        "design",
        "claims",
        "runs",
    }
    claim = doc["$defs"]["Claim"]
    assert set(claim["required"]) == {"key", "verdict"} and "flip_probability" in claim["properties"]
    confidence = next(t for t in doc["properties"]["confidence"]["anyOf"] if t.get("type") == "number")
    assert confidence["exclusiveMinimum"] == 0.5 and confidence["exclusiveMaximum"] == 1


def test_a_build_s_results_json_is_exactly_what_its_records_write_back(light_tiny_build):
    """Every key the writer puts in results.json is in the schema: reading the file and writing its records again gives
    the same bytes (a key the models ignored would be missing)."""
    text = (light_tiny_build[0] / "results.json").read_bytes()
    doc = schema.parse(text, "results.json")
    lines = [json.dumps(r.model_dump(mode="json"), allow_nan=False) for r in doc.runs]
    assert results_json(doc, lines) == text
    assert len(doc.data_sha256) == 64 and doc.claims and doc.runs and doc.study.title == "Tiny study <b>&</b>"


def test_keys_an_older_results_json_lacks_read_as_documented(light_tiny_build):
    """A results.json from before a key existed reads with that key absent (None), not refused."""
    doc = json.loads((light_tiny_build[0] / "results.json").read_text())
    for key in ("data_sha256", "sweep_choices", "failed", "failure_reasons", "checks", "timings_seconds"):
        del doc[key]
    for claim in doc["claims"]:
        for key in ("flip_probability", "borderline", "replicates_to_firm"):
            del claim[key]
        del claim["primary"]["per_replicate"]
    for run in doc["runs"]:
        del run["initial_loss"], run["failed"]
    old = Results.model_validate_json(json.dumps(doc), strict=True)
    assert old.data_sha256 is None and old.sweep_choices is None and old.claims[0].primary.per_replicate is None
    assert old.runs[0].failed is None and old.claims[0].flip_probability is None


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("study"), "key 'study' is missing"),
        (lambda d: d["claims"][0].pop("verdict"), "key 'claims.0.verdict' is missing"),
        (lambda d: d["runs"][0].update(seed="0"), "key 'runs.0.seed': Input should be a valid integer"),
        (lambda d: d["runs"][0].update(gap=[1]), "key 'runs.0.gap.float': Input should be a valid number"),
        (lambda d: d.update(confidence=1.0), "key 'confidence': Input should be less than 1"),
        (lambda d: d["study"]["analysis"].update(confidence=0.2), "key 'study.analysis.confidence': Input should be greater"),
        (lambda d: d.update(data_sha256="abc"), "key 'data_sha256': String should match pattern"),
    ],
)
def test_a_document_off_the_schema_is_one_line_naming_the_key(light_tiny_build, change, message):
    doc = json.loads((light_tiny_build[0] / "results.json").read_text())
    change(doc)
    with pytest.raises(ConfigError) as err:
        schema.parse(json.dumps(doc), "x/results.json")
    (line,) = err.value.lines
    assert line.startswith("x/results.json: not a reportgen results.json: ") and message in line


def test_every_look_of_an_adaptive_build_keeps_its_stage_times():
    """An adaptive build runs analysis and claims once a look: each time is kept (the later ones numbered), so the
    times add up to the build's instead of the last look's replacing the others."""
    from reportgen.results import stage_times

    timings = [("data", 0.1), ("analysis", 20.0), ("claims", 2.0), ("analysis", 10.0), ("claims", 3.0), ("analysis", 9.0)]
    times = stage_times(timings)
    assert list(times) == ["data", "analysis", "claims", "analysis (2)", "claims (2)", "analysis (3)"]
    assert sum(times.values()) == sum(s for _, s in timings) and times["analysis (3)"] == 9.0
