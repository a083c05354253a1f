"""What `render`, `compare` and `build --compare` read is checked: a missing key, a wrong type, an out-of-range
confidence, deep nesting, a data file that is not the one written with results.json, or a damaged one, is exit 2 with
one line naming the file and the key, and the previous report is left as it was; a half-swapped folder is recovered
before it is read. Each case failed before (a default study rendered, "No meaningful change", a traceback, numpy's
hint about allow_pickle, "not a reportgen output folder")."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reportgen import outdir, store
from tests.test_compare import results as hand_made
from tests.test_safety import KILL_MID_SWAP, env, leftovers, run_main, snapshot


@pytest.fixture
def saved(light_tiny_build, tmp_path) -> Path:
    """A copy of a finished build's folder (the session's light build: fake training), to tamper with."""
    folder = tmp_path / "prev"
    shutil.copytree(light_tiny_build[0], folder)
    return folder


def _edit(folder: Path, change) -> None:
    """Change results.json's document in place."""
    doc = json.loads((folder / "results.json").read_text())
    change(doc)
    (folder / "results.json").write_text(json.dumps(doc))


def _refused(args, *needles: str) -> str:
    """Run the command line; assert exit 2 with one line holding every needle, and no traceback."""
    code, out, err = run_main(*args)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("reportgen: error: ") and "Traceback" not in err
    assert all(n in err for n in needles), err
    return err


def test_render_refuses_a_results_json_without_its_study(saved):
    """It used to render the default study ("500 epochs, plus strength sweeps") for a 6-epoch build."""
    _edit(saved, lambda d: d.pop("study"))
    before = snapshot(saved)
    _refused(["render", saved], f"{saved / 'results.json'}: not a reportgen results.json: key 'study' is missing")
    assert snapshot(saved) == before


def test_render_refuses_a_data_file_of_another_build(saved):
    """A valid data file, but not the one written with this results.json (as a half-swapped folder used to pair)."""
    with np.load(saved / store.FILE) as z:
        arrays = {k: z[k] for k in z.files}
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # the same arrays, stored another way: another file
    (saved / store.FILE).write_bytes(buf.getvalue())
    before = snapshot(saved)
    _refused(["render", saved], f"{saved / store.FILE}: not the data file of", "'data_sha256'", "mixes two builds")
    assert snapshot(saved) == before


@pytest.mark.parametrize("damage", ["cut", "empty", "random", "flipped"])
@pytest.mark.parametrize("rehash", [False, True])
def test_render_refuses_a_damaged_data_file_in_one_line_of_its_own(saved, damage, rehash):
    """rehash: results.json names the damaged file's digest, so that the file itself is read (and refused)."""
    blob = (saved / store.FILE).read_bytes()
    rng = np.random.default_rng(0)
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0xFF
    bad = {"cut": blob[: len(blob) // 2], "empty": b"", "random": rng.bytes(4096), "flipped": bytes(flipped)}[damage]
    (saved / store.FILE).write_bytes(bad)
    if rehash:
        _edit(saved, lambda d: d.update(data_sha256=hashlib.sha256(bad).hexdigest()))
    before = snapshot(saved)
    err = _refused(["render", saved], str(saved / store.FILE))
    assert "allow_pickle" not in err and ("not the data file" in err) != rehash
    assert snapshot(saved) == before


def test_render_refuses_a_results_json_from_before_build_ids(saved):
    _edit(saved, lambda d: d.pop("data_sha256"))
    _refused(["render", saved], "key 'data_sha256' is missing", "build it again")


@pytest.mark.parametrize("command", ["render", "compare"])
def test_deeply_nested_json_is_refused_without_a_traceback(saved, command):
    (saved / "results.json").write_text('{"reportgen": "0.1.0", "study": ' + "[" * 100_000 + "]" * 100_000 + "}")
    args = ["render", saved] if command == "render" else ["compare", saved, saved]
    _refused(args, f"{saved / 'results.json'}: nested too deeply to read")


def test_render_recovers_a_folder_a_killed_build_left_half_swapped(saved, tmp_path, light_build):
    """Killed after its report-data.npz moved in and before its results.json did: render puts the previous files back
    and renders them (it used to say "not a reportgen output folder", the old results.json being aside)."""
    before = snapshot(saved)
    old = len({p.split("/")[0] for p in outdir.read_manifest(saved)["files"]})
    proc = subprocess.run([sys.executable, "-c", KILL_MID_SWAP, str(saved), str(old + 2)], env=env(), timeout=60)
    assert proc.returncode == -9 and len(leftovers(saved)) == 1
    assert not (saved / "results.json").exists() and (saved / store.FILE).read_text() == "new report-data.npz"
    code, _, err = run_main("render", saved, "--out", tmp_path / "r", "--format", "html", "--quiet")
    assert code == 0, err
    assert snapshot(saved) == before and leftovers(saved) == []
    assert (tmp_path / "r" / "results.json").read_bytes() == before["results.json"]


def test_build_compare_recovers_a_half_swapped_folder_before_reading_it(saved, monkeypatch, light_build):
    """`build --compare OLD` on a folder a killed build left half-swapped reads the previous build (it used to say
    results.json was not found)."""
    from tests.test_safety import Reached

    old = len({p.split("/")[0] for p in outdir.read_manifest(saved)["files"]})
    proc = subprocess.run([sys.executable, "-c", KILL_MID_SWAP, str(saved), str(old + 1)], env=env(), timeout=60)
    assert proc.returncode == -9 and not (saved / "results.json").exists()  # every previous file moved aside
    seen = {}

    def stand_in(config, **kwargs):
        seen.update(kwargs)
        raise Reached()

    monkeypatch.setattr("reportgen.pipeline.build", stand_in)
    code, _, err = run_main("build", "--compare", saved, "--out", saved.parent / "new", "--set", "training.epochs=1")
    assert code is None, err
    assert seen["compare_with"][1].study.title == "Tiny study <b>&</b>" and leftovers(saved) == []


# ---- compare: the confidence and the types it reads -----------------------------------------------------------


def _write(folder: Path, doc: dict) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(doc))
    return str(folder)


@pytest.mark.parametrize("value", ["NaN", "1.0", "5", "Infinity", "-Infinity", "0.3", '"0.95"', "null"])
@pytest.mark.parametrize("where", ["confidence", "study.analysis.confidence"])
def test_compare_refuses_a_confidence_outside_its_range(tmp_path, value, where):
    """NaN and 1.0 used to report "No meaningful change" for any change; 5 and Infinity gave a traceback. A null one is
    read as absent (the schema's documented fallback: the study's, then the top-level one, then 0.95)."""
    doc = hand_made()
    (doc if where == "confidence" else doc["study"]["analysis"])["confidence"] = "VALUE"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text(json.dumps(doc).replace('"VALUE"', value))
    args = ["compare", _write(tmp_path / "good", hand_made()), tmp_path / "bad"]
    if value == "null":
        assert run_main(*args)[0] == 0
    else:
        _refused(args, f"{tmp_path / 'bad' / 'results.json'}: not a reportgen results.json: key '{where}'")


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda d: d["claims"][0].update(verdict=3), "claims.0.verdict"),
        (lambda d: d["runs"].__setitem__(0, "x"), "runs.0"),
        (lambda d: d.update(design=[]), "design"),
        (lambda d: d["study"]["variants"][0].pop("name"), "study.variants.0.name"),
        (
            lambda d: d["claims"][0]["primary"].update(per_replicate={"seeds": ["a"], "values": [1]}),
            "claims.0.primary.per_replicate.seeds.0",
        ),
        (lambda d: d["runs"][0].update(init=None), "runs.0.init"),
        (lambda d: d.update(sweep_choices={"l1": {"strength": "big"}}), "sweep_choices.l1.strength"),
    ],
)
def test_compare_refuses_a_wrong_type_in_one_line_naming_the_key(tmp_path, change, key):
    doc = hand_made()
    change(doc)
    _refused(["compare", _write(tmp_path / "good", hand_made()), _write(tmp_path / "bad", doc)], f"key '{key}")


def test_build_compare_refuses_a_tampered_old_build_before_training(tmp_path, monkeypatch):
    from tests.test_safety import Reached

    monkeypatch.setattr("reportgen.pipeline.build", lambda *a, **k: (_ for _ in ()).throw(Reached()))
    doc = hand_made()
    doc["confidence"] = float("nan")
    old = tmp_path / "old"
    old.mkdir()
    (old / "results.json").write_text(json.dumps(doc))  # NaN: what json.dumps writes unless told not to
    _refused(["build", "--compare", old, "--out", tmp_path / "new"], f"{old / 'results.json'}", "key 'confidence'")
    assert not os.path.exists(tmp_path / "new")


def test_a_study_file_nested_too_deeply_is_one_line_not_a_traceback(tmp_path):
    """tomllib parses nested arrays recursively: 100,000 deep used to end in a RecursionError traceback."""
    study = tmp_path / "study.toml"
    study.write_text("title = " + "[" * 100_000 + "]" * 100_000 + "\n")
    _refused(["build", "--config", study, "--out", tmp_path / "out"], f"{study}: TOML syntax error: values nested too deeply")
