"""`reportgen build` end to end on a tiny study: the files a user gets, and what happens when a build fails."""

import io
import json
import re
import shutil

import pytest

from reportgen import pipeline
from reportgen.cli import main
from reportgen.config import load_config
from reportgen.executor import train as ENGINES  # the real one, before any test replaces it
from tests.conftest import light, tiny_raw, write_study

VARIANTS = ["baseline", "l1", "l1+drop <i>"]


@pytest.fixture(scope="module")
def fake_tiny_build(tmp_path_factory):
    """`reportgen build` of the tiny study, both formats, made light (tests/conftest.py light: the fake trainer, no
    helper process, this machine's matmul peak taken as known; these tests read the files a build writes, not what it
    learned nor the figures' pixels) with a stand-in figure of its own bytes for each figure, so that the PDF holds each
    as an image of its own; return (output folder, study file). Read-only: a test that builds from its study gives the
    build a copy of its run cache and another output folder."""
    from PIL import Image

    from reportgen import figures
    from reportgen.context import Figure

    def stand_ins(analysis, helper=None):
        out = []
        for i, spec in enumerate(figures.figure_specs(analysis)):
            png = io.BytesIO()
            Image.new("RGB", (1, 1), (i, 255 - i, 0)).save(png, "PNG")  # one colour per figure: bytes of its own
            out.append(Figure(spec.key, spec.title, "A stand-in figure.", png.getvalue(), 8.0))
        return out

    root = tmp_path_factory.mktemp("build")
    study = write_study(root / "study.toml", tiny_raw(output={"dir": "out"}))
    with pytest.MonkeyPatch.context() as mp, light(mp):
        mp.setattr("reportgen.figures.make_figures", stand_ins)
        assert main(["build", "--config", str(study), "--quiet"]) == 0
    return root / "out", study


def test_html_names_every_variant_and_embeds_its_figures(fake_tiny_build):
    out, _ = fake_tiny_build
    html = (out / "report.html").read_text()
    for name in VARIANTS:
        assert name.replace("<", "&lt;").replace(">", "&gt;") in html
    assert "<i>" not in html and "<b>&</b>" not in html  # study text is text, not markup
    text = re.sub(r'data:[^"]+', "", html).lower().replace("http-equiv", "")  # base64 images may spell anything
    assert not re.search(r'(src|href)="(?!data:|#)', html) and "http" not in text
    for section in (
        "page-one",
        "contents",
        "setup",
        "overfitting",
        "regularizers",
        "reg-l1",
        "reg-l1-drop-i",
        "weights",
        "sweeps",
        "observations",
        "appendix-claims",
        "reproducibility",
    ):
        assert f'id="{section}"' in html, section
    figures = [
        "dataset",
        "boundaries",
        "snapshots",
        "loss-curves",
        "compare-l1",
        "compare-l1-drop-i",
        "weights-hist",
        "sparsity-curve",
        "pruning",
        "sweeps",
        "sweep-boundaries",
        "weights-box",
        "reliability",
        "weight-extremes",
    ]
    for key in figures:  # every figure the study calls for, each once, with alt text
        assert html.count(f'id="fig-{key}"') == 1, key
    frames = len(re.findall(r'<img class="frame[^"]*" src="data:image/png;base64,[^"]+" alt="[^"]{20,}"', html))
    assert frames == 6  # the frames of training: after epochs 1 to 5 of 6, and at the end
    assert len(re.findall(r'<img src="data:image/png;base64,[^"]+" alt="[^"]{20,}"', html)) == len(figures) - 1


def test_pdf_holds_the_report_every_variant_and_every_figure(fake_tiny_build):
    from pypdf import PdfReader

    out, _ = fake_tiny_build
    reader = PdfReader(io.BytesIO((out / "report.pdf").read_bytes()))
    pages = [page.extract_text() for page in reader.pages]
    text = "\n".join(pages)
    assert len(pages) >= 4 and pages[0].startswith("Tiny study <b>&</b>")  # the study's title, as text
    assert f"Page 1 of {len(pages)}" in pages[0] and f"Page {len(pages)} of {len(pages)}" in pages[-1]
    for heading in ("Contents", "What this build found", "Strength sweeps", "Appendix C: reproducibility"):
        assert heading in text, heading
    for name in VARIANTS:
        assert name in text
    html = (out / "report.html").read_text()
    images = {
        ref.idnum
        for page in reader.pages
        for ref in page["/Resources"].get("/XObject", {}).values()
        if ref.get_object()["/Subtype"] == "/Image"
    }
    figures = html.count('<img src="data:image/png;base64,')
    stills = html.count('<img class="frame still" src="data:image/png;base64,')  # of the film, print keeps the stills
    assert figures and stills >= 2 and html.count('<img class="frame"') > 0
    assert len(images) == figures + stills  # every figure of the HTML and every still of its film, once


def test_results_json_keeps_every_run_and_claim(fake_tiny_build):
    doc = json.loads((fake_tiny_build[0] / "results.json").read_text())
    assert doc["study"]["training"]["epochs"] == 6
    keys = {(r["variant"], r["seed"]) for r in doc["runs"]}
    assert keys == {(v, s) for v in VARIANTS + ["l1=0.01"] for s in (0, 1)}
    design = doc["design"]
    assert design["replicates"] == 2 and design["resample_data"] and "the test points" in design["sentence"]
    assert set(design["test_sets"]) == {"0", "1"}
    run = doc["runs"][0]
    assert len(run["history"]["val_loss"]) == run["epochs_run"] and 0 <= run["test_accuracy"] <= 1
    text = (fake_tiny_build[0] / "results.json").read_text()  # histories as float32's shortest decimals, not float64 noise
    first = json.dumps(run["history"]["val_loss"][0])
    assert len(first.lstrip("-0.").replace(".", "").split("e")[0]) <= 9 and first in text
    assert [layer["layer"] for layer in run["layers"]] == [1, 2]
    assert {"min", "max", "mean_abs", "l1_norm", "l2_norm", "below_0.001", "below_0.01"} <= set(run["layers"][0])
    assert {c["verdict"] for c in doc["claims"]} <= {"supported", "contradicted", "no meaningful effect", "inconclusive"}
    keys = {c["key"] for c in doc["claims"]}
    assert {"sparsity:l1", "sparsity:l1+drop <i>", "overfits:baseline"} <= keys and doc["observations"]
    for c in doc["claims"]:
        p = c["primary"]
        assert p["role"] == "primary" and p["family_size"] == len(doc["claims"]) and p["p_adjusted"] >= p["p_value"]
    import base64

    import numpy as np

    bits = np.unpackbits(np.frombuffer(base64.b64decode(run["test_predictions"]), np.uint8))[:200]
    labels = np.unpackbits(np.frombuffer(base64.b64decode(design["test_sets"][str(run["seed"])]["labels"]), np.uint8))[:200]
    assert np.mean(bits == labels) == pytest.approx(run["test_accuracy"])  # the kept predictions recompute the accuracy


def test_summary_md_is_a_markdown_table(fake_tiny_build):
    md = (fake_tiny_build[0] / "summary.md").read_text()
    assert md.startswith("## Tiny study") and "| baseline |" in md and "| l1+drop &lt;i&gt; |" in md


@pytest.mark.parametrize("stage", ["reportgen.figures.make_figures", "reportgen.report.render_html"])
def test_failed_build_leaves_the_previous_report(fake_tiny_build, tmp_path, light_build, monkeypatch, stage):
    _, study = fake_tiny_build
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("previous")
    cache = tmp_path / "cache"  # the runs and their kept analysis without the kept figures, so that the figures are drawn
    shutil.copytree(study.parent / ".reportgen-cache", cache, ignore=shutil.ignore_patterns("figures-*"))

    def boom(*args, **kwargs):
        raise RuntimeError(f"{stage} exploded")

    monkeypatch.setattr(stage, boom)
    with pytest.raises(RuntimeError, match="exploded"):
        pipeline.build(load_config(study, [f'output.dir="{out}"', f'output.cache="{cache}"']), quiet=True)
    assert [p.name for p in out.iterdir()] == ["report.html"] and (out / "report.html").read_text() == "previous"
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_html_only_and_save_models(tmp_path, fake_tiny_build, capsys, light_build):
    _, study = fake_tiny_build
    out = tmp_path / "o"
    out.mkdir()
    (out / "report.pdf").write_text("a stale PDF of an earlier build")
    (out / "notes.txt").write_text("the user's own file")
    # --force: the folder holds a file of the user's and a PDF no manifest vouches for; report files go, notes stay
    args = [
        "build",
        "--config",
        str(study),
        "--out",
        str(out),
        "--format",
        "html",
        "--save-models",
        "--force",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--set",
        "training.epochs=2",
        "--set",
        "variants=[{name='baseline'}]",
        "--set",
        "sweeps.l1=[]",
    ]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".reportgen-manifest.json",
        "claims.csv",
        "models",
        "notes.txt",
        "report-data.npz",
        "report.html",
        "results.json",
        "runs.csv",
        "summary.md",
    ]
    assert sorted(p.name for p in (out / "models").iterdir()) == ["baseline-seed0.keras", "baseline-seed1.keras"]
    printed = capsys.readouterr()
    written = [str(p) for p in sorted(out.iterdir()) if p.name not in ("notes.txt", ".reportgen-manifest.json")]
    assert [line.split()[1] for line in printed.out.splitlines()] == written
    assert all(line.startswith("✓") for line in printed.err.splitlines() if line.strip())


def test_render_writes_the_pdf_from_the_outputs_alone(fake_tiny_build, tmp_path, capsys, light_build):
    """`reportgen render DIR --format pdf`: the report again, as a PDF only, from the output folder (no run cache); its
    figures are stand-ins (light_build), the PDF's text is what is read."""
    from pypdf import PdfReader

    out, _ = fake_tiny_build
    assert main(["render", str(out), "--out", str(tmp_path / "r"), "--format", "pdf"]) == 0
    written = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert "report.pdf" in written and "report.html" not in written and "results.json" in written
    assert f"wrote {tmp_path / 'r' / 'report.pdf'}" in capsys.readouterr().out
    reader = PdfReader(io.BytesIO((tmp_path / "r" / "report.pdf").read_bytes()))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 4 and text.startswith("Tiny study <b>&</b>") and "What this build found" in text
    assert all(name in text for name in VARIANTS)
    assert json.loads((tmp_path / "r" / "results.json").read_text()) == json.loads((out / "results.json").read_text())


def test_one_fixed_draw_of_the_data_when_resample_is_false(tmp_path, light_build):
    """data.resample = false: every replicate trains and tests on the one draw of data.seed, and the report says the
    intervals cover the initial weights and the batch order, not the data."""
    import numpy as np

    from reportgen.data import make_datasets

    raw = tiny_raw(
        data={"n_samples": 60, "test_samples": 200, "resample": False},
        training={"epochs": 2, "seeds": [0, 1], "batch_size": 16},
        output={"dir": "out", "formats": ["html"]},
    )
    study = write_study(tmp_path / "s.toml", raw)
    assert main(["build", "--config", str(study), "--quiet"]) == 0
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    design = doc["design"]
    assert design["resample_data"] is False and design["test_sets"]["0"] == design["test_sets"]["1"]
    assert "the initial weights" in design["sentence"] and "the test points" not in design["sentence"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "2 replicates on one fixed draw of the data, each with its own initial weights" in html
    first, second = make_datasets(load_config(study).data, [0, 1]).values()
    assert np.array_equal(first.x_train, second.x_train) and np.array_equal(first.x_test, second.x_test)
    resampled = make_datasets(load_config(study, ["data.resample=true"]).data, [0, 1])
    assert not np.array_equal(resampled[0].x_train, resampled[1].x_train)  # the setting is what made them equal


@pytest.mark.slow
def test_the_keras_engine_builds_a_whole_study_and_saves_the_models_it_trained(tmp_path, monkeypatch, light_build):
    """engine = "keras" (stock model.fit, one run at a time) through a whole build with --save-models: the saved models
    are the trained ones, and they score on each replicate's test points what results.json reports. Real training;
    the figures are stand-ins (light_build, its fake trainer put back to the real one)."""
    import numpy as np

    from reportgen._tf import keras
    from reportgen.data import make_datasets
    from reportgen.plan import model_file_name

    monkeypatch.setattr("reportgen.executor.train", ENGINES)

    raw = tiny_raw(
        training={"epochs": 2, "seeds": [0], "batch_size": 16, "engine": "keras"},
        variants=[{"name": "baseline"}, {"name": "l2", "l2": 0.01}],
        sweeps={"l1": []},
        analysis={"grid_resolution": 20},
        output={"dir": "out", "formats": ["html"]},
    )
    study = write_study(tmp_path / "s.toml", raw)
    assert main(["build", "--config", str(study), "--save-models", "--quiet"]) == 0
    out = tmp_path / "out"
    doc = json.loads((out / "results.json").read_text())
    assert doc["study"]["training"]["engine"] == "keras" and len(doc["runs"]) == 2
    assert sorted(p.name for p in (out / "models").iterdir()) == sorted(model_file_name(r["key"]) for r in doc["runs"])
    data = make_datasets(load_config(study).data, [0])
    for run in doc["runs"]:
        model = keras.models.load_model(out / "models" / model_file_name(run["key"]))
        test = data[run["seed"]]
        predicted = model.predict(test.x_test, verbose=0)[:, 0] > 0.5
        assert np.mean(predicted == test.y_test) == pytest.approx(run["test_accuracy"], abs=0.01), run["key"]
