"""Every sweep's Optuna search space (``SweepSpec.optuna_space``): declared over the table's own knobs, valid at every
corner in every CPU profile, sampled through Ray Tune's ``OptunaSearch`` as a search samples it, and every corner's
model takes a training step at smoke size (without Ray)."""

from __future__ import annotations

import json

import pytest

from actrec.tune.plan import distinct_settings, is_sampled, plan_sweep, resolve_trial, tune_domain
from actrec.tune.spec import Choice, IntRange, Uniform
from tests.conftest import SWEEP_NAMES
from tests.sweep_tools import sweep_args, train_a_step, trial_configs


def _sample(plan, n: int, seed: int = 0) -> list[dict]:
    """``n`` configs OptunaSearch suggests for ``plan``'s space (the fixed setting under them), resolved."""
    from ray.tune.search.optuna import OptunaSearch

    space = {k: tune_domain(v) for k, v in plan.search_space.items()}
    searcher = OptunaSearch(space=None, metric="val_best_top1", mode="max", seed=seed)
    searcher.set_search_properties("val_best_top1", "max", space)
    configs = []
    for i in range(n):
        suggested = searcher.suggest(f"t{i}")
        assert suggested is not None
        configs.append(resolve_trial(plan.base, {**plan.trials[0], **suggested}))
        searcher.on_trial_complete(f"t{i}", {"val_best_top1": float(i)})
    return configs


@pytest.mark.parametrize("name", SWEEP_NAMES)
def test_every_sweep_has_a_search_space_that_resolves_and_samples(name):
    args, spec = sweep_args(name, "--search", "optuna")
    sampled = {k: v for k, v in spec.optuna_space.items() if is_sampled(v)}
    assert sampled, f"sweep {name} declares no sampled knob"
    table_keys = {k for cell in spec.cells for k in cell} | set(spec.axes)
    if spec.fusion is not None:
        table_keys |= set(spec.fusion.fused) | {k for v in spec.fusion.variants for k in v}
    # The space searches the table's own knobs (with model knobs the table holds at one value, e.g. CTN's kernels).
    assert set(sampled) & table_keys or all(k.startswith("model.") for k in sampled), (name, sorted(sampled))
    settings = distinct_settings(spec.optuna_space)
    for profile in ("smoke", "local"):
        args, spec = sweep_args(name, "--search", "optuna", "--profile", profile)
        plan = plan_sweep(spec, args)
        assert plan.num_samples == (10 if settings is None else min(10, settings))
        assert len(plan.trials) == 1 and not plan.fused
        constants = len(spec.optuna_space) - len(sampled)  # a constant is its own (one) corner
        assert len(plan.corners) == sum(len(d.corners()) for d in sampled.values()) + constants
    resolved_choices = {key: [corner[key] for corner in plan.corners] for key in sampled}  # as configs hold them
    for config in _sample(plan, min(4, plan.num_samples)):
        for key, domain in sampled.items():
            if isinstance(domain, Choice):
                assert config[key] in resolved_choices[key], (key, config[key])
            else:
                assert domain.low <= config[key] <= domain.high, (key, config[key])


@pytest.mark.parametrize("name", SWEEP_NAMES)
def test_every_corner_of_every_search_space_trains_a_step(name):
    """The search space's ends (each categorical value, each bound; the others at their first) build their model and
    take a training step at smoke size: no sampled value can fail inside a trial."""
    args, spec = sweep_args(name, "--search", "optuna", "--profile", "smoke")
    from actrec.train.frame_pretrain import parse_spatial_init

    plan = plan_sweep(spec, args)
    # A corner equal to a cell of the smoke grid takes its step in test_every_cell_of_the_smoke_grid_trains_a_step.
    stepped = {json.dumps(c, sort_keys=True, default=str) for c in trial_configs(name)}
    for config in plan.corners:  # without what only the driver fills in (pose pretraining): from scratch here
        config = {k: v for k, v in config.items() if parse_spatial_init(v) is None}
        if json.dumps(config, sort_keys=True, default=str) not in stepped:
            train_a_step(config)


def test_dimensions_refuse_what_optuna_cannot_sample_or_store():
    with pytest.raises(ValueError, match="low < high"):
        Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="low > 0"):
        Uniform(0.0, 1.0, log=True)
    with pytest.raises(ValueError, match="low < high"):
        IntRange(3, 3)
    with pytest.raises(ValueError, match="str, int, float, bool"):
        Choice((7, 7, 7), (5, 5, 5))
    with pytest.raises(ValueError, match="distinct"):
        Choice("a", "a")
    assert IntRange(1, 6).corners() == [1, 6] and IntRange(1, 6).text() == "integer in [1, 6]"


def test_an_integer_range_includes_its_upper_bound_in_tune():
    domain = tune_domain(IntRange(1, 3))
    assert {domain.sample() for _ in range(200)} == {1, 2, 3}


def test_a_search_runs_on_the_first_cell_that_agrees_with_the_users_sets():
    """--set data.modality=depth on Table VI's search takes its first depth cell, with that cell's CDC-T stem."""
    args, spec = sweep_args("mfst_temporal", "--search", "optuna", "--set", "data.modality=depth")
    plan = plan_sweep(spec, args)
    assert plan.trials[0]["model.stem"] == "CDC-T" and "data.modality" not in plan.trials[0]
    assert plan.resolved[0]["data.modality"] == "depth"
    args, spec = sweep_args("mfst_temporal", "--search", "optuna")
    assert plan_sweep(spec, args).resolved[0]["data.modality"] == "rgb"


def test_search_flags_that_contradict_the_space_are_refused():
    from actrec.errors import UsageError

    for name, argv, words in (
        ("epam_width", ("--num-samples", "3"), ("2 distinct settings", "--num-samples 2")),
        ("epam_width", ("--set", "model.streams=pose"), ("holds model.streams=rgb fixed",)),
        ("mfst_ntu", ("--fusion", "joint"), ("--fusion joint",)),
    ):
        args, spec = sweep_args(name, "--search", "optuna", *argv)
        with pytest.raises(UsageError) as refused:
            plan_sweep(spec, args)
        assert all(w in str(refused.value) for w in words), str(refused.value)


def test_every_combination_of_a_discrete_space_is_resolved_before_the_search_starts():
    import dataclasses

    args, spec = sweep_args("mfst_stages", "--search", "optuna", "--profile", "smoke")
    # Valid knob by knob (the corners: each value with the other knob at its first), not together: 5 stages need 5
    # widths.
    bad = {"model.dims": Choice("16,24,32,32,40", "16,24"), "model.stages": IntRange(1, 5)}
    with pytest.raises(ValueError, match="model.dims"):
        plan_sweep(dataclasses.replace(spec, optuna_space=bad), args)


def test_a_discrete_space_is_enumerated_each_setting_once():
    from optuna.samplers import BruteForceSampler, TPESampler
    from ray.tune.search.optuna import OptunaSearch

    from actrec.tune.tuner import build_tune_config

    args, spec = sweep_args("rpe_clusters", "--search", "optuna")
    config = build_tune_config(spec, args, 2)
    assert isinstance(config.search_alg._sampler, BruteForceSampler) and config.num_samples == 6
    args, spec = sweep_args("cdc_theta", "--search", "optuna")
    assert not isinstance(build_tune_config(spec, args, 2).search_alg._sampler, BruteForceSampler)
    # A space with a continuous knob gets no sampler of ours: Ray's OptunaSearch makes its TPESampler when it starts.
    searcher = build_tune_config(spec, args, 2).search_alg
    assert isinstance(searcher, OptunaSearch) and searcher._sampler is None
    searcher.set_search_properties(None, None, {"model.theta": tune_domain(Uniform(0.0, 1.0))})
    assert isinstance(searcher._ot_study.sampler, TPESampler)


def test_help_says_what_an_unset_flag_means_instead_of_default_none():
    from actrec.tune.cli import build_parser

    text = " ".join(build_parser(sweep_args("cdc_theta")[1]).format_help().split())  # unwrapped
    assert "(default: None)" not in text and "(unset: 10," in text and "(default: grid)" in text
