"""actrec.tune.runner + sweeps/cdc_theta.py: trial generation, profiles and early validation (no Ray started)."""

import pytest

from actrec.config import from_flat
from actrec.tune.runner import base_config, resolve_trial, trial_overrides


@pytest.fixture()
def cdc(cdc_sweep):
    return cdc_sweep


def test_table_iv_grid_has_ten_cells_times_seeds(cdc):
    args = cdc.parser().parse_args(["--seeds", "3"])
    trials = trial_overrides(cdc.SPEC, args)
    assert len(trials) == 5 * 2 * 3
    cells = {(t["model.stem"], t["model.theta"], t["data.modality"]) for t in trials}
    assert ("vanilla", 0.0, "rgb") in cells and ("CDC-T", 0.8, "depth") in cells
    assert len(cells) == 10
    assert {t["train.seed"] for t in trials} == {0, 1, 2}


def test_paper_values_are_table_iv(cdc):
    paper = {(r.label, r.extra["θ"]): (r.paper["RGB(%)"], r.paper["DEP(%)"]) for r in cdc.TABLE.rows}
    assert paper == {
        ("Vanilla-3D", 0.0): (90.4, 91.2),
        ("3D-CDC-ST", 0.6): (92.1, 91.6),
        ("3D-CDC-T", 0.6): (89.6, 93.8),
        ("3D-CDC-ST", 0.8): (91.0, 91.0),
        ("3D-CDC-T", 0.8): (89.9, 92.4),
    }


def test_theta_grid_adds_rows_without_duplicates(cdc):
    args = cdc.parser().parse_args(["--theta-grid", "0,0.2,0.6,1.0"])
    spec = cdc.with_theta_grid(cdc.SPEC, args)
    assert len(spec.cells) == 5 + 4  # 0.2 and 1.0 for both CDC stems; 0 and 0.6 already present
    assert [r.label for r in spec.table.rows[5:]] == ["3D-CDC-ST", "3D-CDC-T", "3D-CDC-ST", "3D-CDC-T"]
    assert all(not r.paper for r in spec.table.rows[5:])
    with pytest.raises(SystemExit, match="theta-grid"):
        cdc.with_theta_grid(cdc.SPEC, cdc.parser().parse_args(["--theta-grid", "1.5"]))


def test_paper_profile_is_the_mfst_recipe(cdc, tmp_path):
    args = cdc.parser().parse_args(["--profile", "paper", "--data-root", str(tmp_path)])
    base = base_config(cdc.SPEC, args)
    for overrides in trial_overrides(cdc.SPEC, args):
        cfg = from_flat(resolve_trial(base, overrides))
        assert cfg.model_name == "mfst_large"  # MFST ablations use MFST-Large (§IV-C)
        assert cfg.model.num_classes == 60
        assert (cfg.data.dataset, cfg.data.protocol) == ("ntu_rgbd_60", "cross_subject")
        assert (cfg.data.num_frames, cfg.data.crop_size) == (32, 224)
        assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.weight_decay) == (0.01, 0.9, 3e-4)
        assert (cfg.optim.warmup_epochs, cfg.train.epochs) == (3.0, 100)
        assert cfg.train.mixup_alpha > 0
        assert (cfg.train.num_workers, cfg.train.use_gpu) == (4, True)
        assert cfg.data.root == str(tmp_path)


def test_local_and_smoke_profiles_resolve(cdc):
    for profile in ("smoke", "local"):
        args = cdc.parser().parse_args(["--profile", profile])
        base = base_config(cdc.SPEC, args)
        for overrides in trial_overrides(cdc.SPEC, args):
            cfg = from_flat(resolve_trial(base, overrides))
            assert cfg.data.dataset == "synthetic" and not cfg.train.use_gpu


def test_impossible_override_fails_before_ray_starts(cdc):
    import ray

    with pytest.raises(ValueError, match=r"train\.epochs"):
        cdc.main(
            cdc.SPEC,
            ["--profile", "smoke", "--set", "train.epochs=-1"],
            extend=cdc.with_theta_grid,
            parser=cdc.parser(),
        )
    assert not ray.is_initialized()


def test_asha_refused_for_exact_table(cdc, tmp_path):
    from actrec.tune.runner import _tune_config

    args = cdc.parser().parse_args(["--asha"])
    with pytest.raises(SystemExit, match="exact table"):
        _tune_config(cdc.SPEC, args, 1)


def test_asha_and_optuna_are_wired_for_tables_that_allow_them(cdc):
    import dataclasses

    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from actrec.tune.runner import _tune_config

    spec = dataclasses.replace(cdc.SPEC, early_stopping=True)
    config = _tune_config(spec, cdc.parser().parse_args(["--asha"]), 3)
    assert isinstance(config.scheduler, ASHAScheduler) and config.max_concurrent_trials == 3
    config = _tune_config(spec, cdc.parser().parse_args(["--search", "optuna", "--num-samples", "7"]), 2)
    assert isinstance(config.search_alg, OptunaSearch) and config.num_samples == 7
    assert (config.metric, config.mode) == ("val_best_top1", "max")


def test_asha_is_on_by_default_where_early_stopping_is_allowed_only(cdc):
    import dataclasses

    from ray.tune.schedulers import ASHAScheduler

    from actrec.tune.runner import _tune_config, use_asha

    parse = cdc.parser().parse_args
    # Table IV's grid is exact: every cell runs all its epochs.
    assert not use_asha(cdc.SPEC, parse([])) and _tune_config(cdc.SPEC, parse([]), 2, 12).scheduler is None
    # An Optuna search looks for the best θ, not a table of every cell: ASHA by default, over the trials' epochs.
    optuna = parse(["--search", "optuna"])
    scheduler = _tune_config(cdc.SPEC, optuna, 2, 12).scheduler
    assert use_asha(cdc.SPEC, optuna) and isinstance(scheduler, ASHAScheduler)
    assert scheduler._max_t == 12 and scheduler._reduction_factor == 3
    assert not use_asha(cdc.SPEC, parse(["--search", "optuna", "--asha", "off"]))
    assert use_asha(cdc.SPEC, parse(["--search", "optuna", "--asha"]))
    # A grid whose table allows early stopping gets it by default, and can turn it off.
    loose = dataclasses.replace(cdc.SPEC, early_stopping=True)
    assert use_asha(loose, parse([])) and not use_asha(loose, parse(["--asha", "off"]))
    with pytest.raises(SystemExit):
        parse(["--asha", "sometimes"])


def test_sigterm_and_ctrl_c_stop_the_sweep_and_the_handlers_come_back():
    import os
    import signal
    import time

    from actrec.tune import runner
    from actrec.tune.runner import SweepInterrupted, _raise_if_interrupted, _signals_interrupt

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    # Outside Tuner.fit: either signal ends the sweep at once.
    for sig in (signal.SIGTERM, signal.SIGINT):
        with pytest.raises(SweepInterrupted) as caught, _signals_interrupt() as received:
            assert os.environ["TUNE_DISABLE_SIGINT_HANDLER"] == "1", "Tune must leave Ctrl-C to the driver"
            os.kill(os.getpid(), sig)
            time.sleep(5)  # the handler raises here at the latest
        assert caught.value.signal_name == signal.Signals(sig).name and caught.value.signal_number == sig
        assert received == [sig]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    assert "TUNE_DISABLE_SIGINT_HANDLER" not in os.environ

    # During Tuner.fit: the first signal goes to Tune's graceful-stop handler (which ends fit()); afterwards the
    # received signal ends the sweep. A second signal ends it at once.
    calls = []

    def signal_interrupt_tune_run(sig, frame):  # named as Tune names its handler
        calls.append(sig)

    saved_usr1 = signal.signal(signal.SIGUSR1, signal_interrupt_tune_run)
    try:
        with _signals_interrupt() as received:
            runner._fitting.set()
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
            assert calls == [signal.SIGTERM]
            with pytest.raises(SweepInterrupted, match="SIGINT"):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            runner._fitting.clear()
            with pytest.raises(SweepInterrupted, match="SIGTERM"):
                _raise_if_interrupted(received)
    finally:
        runner._fitting.clear()
        signal.signal(signal.SIGUSR1, saved_usr1)
    _raise_if_interrupted([])  # nothing received: a finished fit


def test_state_api_check_tells_a_cluster_without_dashboard(monkeypatch):
    import ray.util.state

    from actrec.tune.runner import _state_api_reachable

    def no_dashboard(**kwargs):
        raise ConnectionError("no dashboard at this address")

    monkeypatch.setattr(ray.util.state, "list_nodes", no_dashboard)
    assert not _state_api_reachable()
    monkeypatch.setattr(ray.util.state, "list_nodes", lambda **kwargs: [{"node_id": "head"}])
    assert _state_api_reachable()
