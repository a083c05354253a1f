from pathlib import Path

import pytest

from reportgen.cli import main
from reportgen.config import StudyConfig, commented_study, load_config
from reportgen.errors import ConfigError
from tests.conftest import tiny_raw, write_study


def test_default_is_the_seed_study():
    c = StudyConfig()
    assert (c.data.n_samples, c.data.noise, c.data.validation_fraction, c.data.test_samples) == (100, 0.25, 0.2, 2000)
    assert (c.model.hidden_units, c.model.learning_rate) == ([128, 128], 0.01)
    assert (c.training.epochs, c.training.batch_size) == (500, 32)
    assert [v.name for v in c.variants] == ["baseline", "l1", "l2", "dropout", "batchnorm", "early_stopping"]
    by = {v.name: v for v in c.variants}
    assert by["l1"].l1 == 0.001 and by["l2"].l2 == 0.001 and by["dropout"].dropout == 0.2 and by["batchnorm"].batchnorm
    assert by["early_stopping"].early_stopping.patience == 50 and by["early_stopping"].early_stopping.restore_best_weights


def test_overrides_and_paths_relative_to_the_study(tmp_path):
    study = write_study(tmp_path / "s.toml", tiny_raw())
    c = load_config(study, ["training.epochs=3", "training.seeds=[4, 5]", "title=Hello world", "output.dir=rep"])
    assert c.training.epochs == 3 and c.training.seeds == [4, 5] and c.title == "Hello world"
    assert c.output.dir == tmp_path / "rep"


def test_combined_variant_needs_no_code_change(tmp_path):
    raw = tiny_raw(variants=[{"name": "mix", "l1": 1e-3, "l2": 1e-2, "dropout": 0.3, "batchnorm": True}])
    c = load_config(write_study(tmp_path / "s.toml", raw))
    assert "L1 0.001, L2 0.01, dropout 0.3, batch norm" == c.variants[0].describe()


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"training": {"epochs": 0}}, "training.epochs"),
        ({"model": {"learning_rate": 0}}, "model.learning_rate"),
        ({"data": {"noise": -0.1}}, "data.noise"),
        ({"variants": [{"name": "d", "dropout": 1.0}]}, "variants.0.dropout"),
        ({"variants": []}, "variants"),
        ({"variants": [{"name": "a"}, {"name": "a"}]}, "duplicate variant names: a"),
        ({"training": {"epochs": "many"}}, "training.epochs"),
        ({"trainig": {"epochs": 3}}, "trainig"),
        ({"training": {"epochs": "500"}}, "training.epochs"),
        ({"variants": [{"name": "b", "batchnorm": "yes"}]}, "variants.0.batchnorm"),
        ({"data": {"n_samples": 10, "validation_fraction": 0.01}}, "leaves 0 for validation"),
    ],
)
def test_bad_values_name_file_key_and_value(tmp_path, change, expected):
    study = write_study(tmp_path / "s.toml", tiny_raw(**change))
    with pytest.raises(ConfigError) as err:
        load_config(study)
    assert all(line.startswith(str(study)) for line in err.value.lines)
    assert expected in str(err.value)


def test_every_problem_reported_at_once(tmp_path):
    raw = tiny_raw(
        training={"epochs": 0, "batch_size": -1}, data={"noise": -1}, variants=[{"name": "a", "colour": 1}, {"name": "a"}]
    )
    with pytest.raises(ConfigError) as err:
        load_config(write_study(tmp_path / "s.toml", raw))
    text = str(err.value)
    assert len(err.value.lines) == 5
    assert "training.epochs" in text and "training.batch_size" in text and "data.noise" in text and "(got -1" in text
    assert "variants.0.colour (variant 'a'): unknown key" in text and "duplicate variant names: a" in text


def test_toml_syntax_error_names_the_line(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text('title = "x"\n[training\nepochs = 3\n')
    with pytest.raises(ConfigError, match=r"line 2"):
        load_config(study)


def test_missing_file():
    with pytest.raises(ConfigError, match="study file not found"):
        load_config(Path("/nonexistent/study.toml"))


def test_init_round_trips_to_the_default(tmp_path):
    path = tmp_path / "study.toml"
    assert main(["init", str(path)]) == 0
    loaded = load_config(path)
    assert loaded.model_dump(exclude={"output"}) == StudyConfig().model_dump(exclude={"output"})
    assert commented_study().count("# ") > 20
    assert main(["init", str(path)]) == 2  # refuses to overwrite


def test_readme_example_study_is_valid(tmp_path):
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", readme, re.S).group(1)
    study = tmp_path / "s.toml"
    study.write_text(block)
    config = load_config(study)
    assert [v.name for v in config.variants] == ["baseline", "l1", "l1+dropout", "early_stopping"]


def test_flags_are_typed_values_not_toml_text(tmp_path):
    study = write_study(tmp_path / "s.toml", tiny_raw())
    hostile = tmp_path / 'a "quoted" \\ name\nwith a newline = "x"'
    c = load_config(study, [], {"output.dir": hostile, "output.formats": ["html"], "output.save_models": True})
    assert c.output.dir == hostile and c.output.formats == ["html"] and c.output.save_models is True
    assert c.title == tiny_raw()["title"]  # nothing after the quote was read as a key


def test_errors_name_where_the_value_came_from(tmp_path):
    study = write_study(tmp_path / "s.toml", tiny_raw(data={"noise": -1}))
    with pytest.raises(ConfigError) as err:
        load_config(study, ["training.epochs=0", "model.hiden_units=[4]"], {"output.formats": ["docx"]})
    assert sorted(err.value.lines) == [
        "--format: output.formats.0: Input should be 'html' or 'pdf' (got 'docx')",
        "--set: model.hiden_units: unknown key; did you mean 'hidden_units'? (got [4])",
        "--set: training.epochs: Input should be greater than or equal to 1 (got 0)",
        f"{study}: data.noise: Input should be greater than or equal to 0 (got -1)",
    ]
    with pytest.raises(ConfigError, match=r"^--set: training\.epochs\.x: 'epochs' is not a table$"):
        load_config(study, ["training.epochs.x=1"])


@pytest.mark.parametrize(
    "change, line",
    [
        ({"training": {"epocs": 5}}, "training.epocs: unknown key; did you mean 'epochs'? (got 5)"),
        (
            {"variants": [{"name": "e", "early_stopping": {"patiense": 3}}]},
            "variants.0.early_stopping.patiense (variant 'e'): unknown key; did you mean 'patience'? (got 3)",
        ),
        ({"modle": {}}, "modle: unknown key; did you mean 'model'?"),
        ({"zzz": 1}, "zzz: unknown key (got 1)"),
    ],
)
def test_unknown_keys_suggest_the_nearest_valid_key(tmp_path, change, line):
    study = write_study(tmp_path / "s.toml", tiny_raw(**change))
    with pytest.raises(ConfigError) as err:
        load_config(study)
    assert err.value.lines == [f"{study}: {line}"]


def test_long_values_are_quoted_by_a_short_prefix(tmp_path):
    study = write_study(tmp_path / "s.toml", tiny_raw(title="t" * 100_000, colour="c" * 100_000))
    with pytest.raises(ConfigError) as err:
        load_config(study, ["k" * 100_000 + ".y=1"])
    assert len(err.value.lines) == 3
    assert all(len(line) < len(str(study)) + 200 and "…" in line for line in err.value.lines)
    with pytest.raises(ConfigError, match=r"^--set 'x{60}…': expected key=value"):
        load_config(study, ["x" * 100_000])


def test_upper_bounds_hold_and_init_documents_them(tmp_path):
    import time

    start = time.perf_counter()
    with pytest.raises(ConfigError, match="a replicate count must be 1 to 1,000"):
        load_config(write_study(tmp_path / "s.toml", tiny_raw(training={"seeds": 10**15})))
    assert time.perf_counter() - start < 1  # refused before a list of 10**15 seeds is made
    text = commented_study()
    for comment in (
        "Training epochs, 1 to 100,000",
        "1 to 10 layers of 1 to 4,096 units",
        "At most 1,000 replicates",
        "(10 to 100,000)",
        "Mini-batch size (1 to 100,000)",
        "L1 strengths to train (at most 30)",
        "Report title (at most 200 characters)",
    ):
        assert comment in text
