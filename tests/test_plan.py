"""The default study's plan, without training: what `reportgen build` with no study file trains at its first look."""

from reportgen.config import load_config
from reportgen.plan import check_unique, plan_runs, settings_key, sweep_variant
from reportgen.sequential import at_look, first_look

SHARED = {"l1": 0.001, "l2": 0.001, "dropout": 0.2}  # the sweep points that equal a variant of the default study


def _first_look():
    config = load_config(None)
    return at_look(config, first_look(config))


def test_the_default_study_trains_560_models_at_its_first_look():
    """6 variants and 20 strength-sweep points of their own, plus the twins, each x 20 replicates (README: 560)."""
    config = _first_look()
    runs = plan_runs(config)
    assert config.training.seeds == list(range(20)) and config.training.looks == (20, 30, 40)
    assert len(runs) == 560 == (6 + 20 + 2) * 20
    assert all(r.point is None for r in runs)  # no data or capacity sweeps by default
    for seed in config.training.seeds:  # every replicate trains every setting: the comparisons pair within it
        assert sum(r.seed == seed for r in runs) == 28
    check_unique(runs)  # no two runs share a key or a model file


def test_sweep_points_equal_to_a_variant_reuse_its_runs():
    config = _first_look()
    names = {r.variant.name for r in plan_runs(config)}
    sweep_points = {f"{kind}={s:g}" for kind in ("l1", "l2", "dropout") for s in getattr(config.sweeps, kind)}
    shared = {f"{kind}={s:g}" for kind, s in SHARED.items()}
    assert len(sweep_points) == 23 and shared <= sweep_points
    assert names == {v.name for v in config.variants} | (sweep_points - shared)
    variants = {v.name: v for v in config.variants}
    for kind, strength in SHARED.items():  # trained once, under the variant's name
        assert settings_key(sweep_variant(kind, strength)) == settings_key(variants[kind])


def test_the_baseline_and_batch_norm_are_trained_twice_per_replicate():
    """The twins (a second initialization on the same data) that the initialization claim needs."""
    config = _first_look()
    twins = [r for r in plan_runs(config) if r.init]
    assert sorted({r.variant.name for r in twins}) == ["baseline", "batchnorm"]
    assert sorted(r.seed for r in twins) == sorted(2 * config.training.seeds) and {r.init for r in twins} == {1}
    assert all(r.init_seed != r.seed and r.data_key == r.seed for r in twins)  # other weights, the same data
