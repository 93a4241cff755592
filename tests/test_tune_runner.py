"""actrec.tune (cli, plan, tuner, cluster, interrupt, runner) + sweeps/cdc_theta.py: trial generation, profiles and
early validation (no Ray started)."""

import os
import time

import pytest

from actrec.config import from_flat
from actrec.errors import UsageError
from actrec.tune.plan import base_config, resolve_trial, trial_overrides


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
    with pytest.raises(UsageError, match="theta-grid"):
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


def test_impossible_override_fails_before_ray_starts(cdc, capsys, monkeypatch):
    import ray

    started = []  # (the session's Ray may be up already: the driver would then use it rather than start one)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda *args, **kwargs: started.append(kwargs))
    with pytest.raises(SystemExit) as done:
        cdc.main(
            cdc.SPEC,
            ["--profile", "smoke", "--set", "train.epochs=-1"],
            extend=cdc.with_theta_grid,
            parser=cdc.parser(),
        )
    assert done.value.code == 2
    assert capsys.readouterr().err.strip().startswith("error: train.epochs must be >= 0")
    assert not started


def test_asha_refused_for_exact_table(cdc, tmp_path):
    from actrec.tune.tuner import build_tune_config

    args = cdc.parser().parse_args(["--asha"])
    with pytest.raises(SystemExit, match="exact table"):
        build_tune_config(cdc.SPEC, args, 1)


def test_asha_and_optuna_are_wired_for_tables_that_allow_them(cdc):
    import dataclasses

    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from actrec.tune.tuner import build_tune_config

    spec = dataclasses.replace(cdc.SPEC, early_stopping=True)
    config = build_tune_config(spec, cdc.parser().parse_args(["--asha"]), 3)
    assert isinstance(config.scheduler, ASHAScheduler) and config.max_concurrent_trials == 3
    config = build_tune_config(spec, cdc.parser().parse_args(["--search", "optuna", "--num-samples", "7"]), 2)
    assert isinstance(config.search_alg, OptunaSearch) and config.num_samples == 7
    # The searcher maximises the table's metric; ASHA ranks by the validation loss (accuracy ties at chance after
    # one epoch), or by accuracy on request; Tune's own metric stays unset (it refuses one in both places).
    assert (config.search_alg.metric, config.search_alg.mode) == ("val_best_top1", "max")
    assert (config.scheduler.metric, config.scheduler._metric_op, config.metric) == ("val_loss", -1.0, None)
    args = cdc.parser().parse_args(["--search", "optuna", "--asha-metric", "accuracy"])
    scheduler = build_tune_config(spec, args, 2).scheduler
    assert (scheduler.metric, scheduler._metric_op) == ("val_best_top1", 1.0)
    config = build_tune_config(spec, cdc.parser().parse_args(["--search", "optuna", "--asha", "off"]), 2)
    assert (config.metric, config.mode, config.scheduler) == ("val_best_top1", "max", None)
    # --cost: Optuna's multi-objective search on accuracy and GFLOPs, seeded by --search-seed; Tune itself gets no
    # metric (it would replace the searcher's two) and no ASHA (it ranks by one metric).
    args = cdc.parser().parse_args(["--search", "optuna", "--cost", "gflops", "--search-seed", "5"])
    config = build_tune_config(spec, args, 2)
    assert config.search_alg.metric == ["val_best_top1", "model_gflops"] and config.search_alg.mode == ["max", "min"]
    assert (config.metric, config.mode, config.scheduler) == (None, None, None) and config.search_alg._seed == 5


def test_asha_is_on_by_default_where_early_stopping_is_allowed_only(cdc):
    import dataclasses

    from ray.tune.schedulers import ASHAScheduler

    from actrec.tune.plan import use_asha
    from actrec.tune.tuner import build_tune_config

    parse = cdc.parser().parse_args
    # Table IV's grid is exact: every cell runs all its epochs.
    assert not use_asha(cdc.SPEC, parse([])) and build_tune_config(cdc.SPEC, parse([]), 2, 12).scheduler is None
    # An Optuna search looks for the best θ, not a table of every cell: ASHA by default, over the trials' epochs.
    optuna = parse(["--search", "optuna"])
    scheduler = build_tune_config(cdc.SPEC, optuna, 2, 12).scheduler
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

    from actrec.tune import interrupt
    from actrec.tune.interrupt import SweepInterrupted, raise_if_interrupted, signals_interrupt

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    # Outside Tuner.fit: either signal ends the sweep at once.
    for sig in (signal.SIGTERM, signal.SIGINT):
        with pytest.raises(SweepInterrupted) as caught, signals_interrupt() as received:
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
        with signals_interrupt() as received:
            interrupt.fitting.set()
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
            assert calls == [signal.SIGTERM]
            with pytest.raises(SweepInterrupted, match="SIGINT"):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            interrupt.fitting.clear()
            with pytest.raises(SweepInterrupted, match="SIGTERM"):
                raise_if_interrupted(received)
    finally:
        interrupt.fitting.clear()
        signal.signal(signal.SIGUSR1, saved_usr1)
    raise_if_interrupted([])  # nothing received: a finished fit


def test_state_api_check_tells_a_cluster_without_dashboard(monkeypatch):
    import ray.util.state

    from actrec.tune.cluster import state_api_reachable

    def no_dashboard(**kwargs):
        raise ConnectionError("no dashboard at this address")

    monkeypatch.setattr(ray.util.state, "list_nodes", no_dashboard)
    assert not state_api_reachable()
    monkeypatch.setattr(ray.util.state, "list_nodes", lambda **kwargs: [{"node_id": "head"}])
    assert state_api_reachable()


def _no_data_steps(monkeypatch):
    """Skip the data steps that precede Ray's start (synthetic generation, prepare's skip count)."""
    from actrec.tune import cluster, runner

    monkeypatch.setattr(runner, "_prepare_data", lambda resolved: None)
    monkeypatch.setattr(runner, "_prepare_skipped", lambda cfg: 0)
    monkeypatch.setattr(cluster, "running_cluster_address", lambda: None)


def test_ctrl_c_while_ray_starts_stops_the_sweep(cdc, tmp_path, monkeypatch, capsys):
    """A SIGINT that arrives while ``ray.init`` runs, and that Ray's start-up swallows, still stops the sweep: no
    Tuner is built, nothing is written to MLflow, and the driver's handlers are gone afterwards."""
    import os
    import signal
    import time

    import ray
    from ray import tune

    _no_data_steps(monkeypatch)
    before = signal.getsignal(signal.SIGINT)

    def init_swallowing_ctrl_c(**kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(2)
        except BaseException:  # as Ray's start-up can, waiting on its processes
            pass

    def no_tuner(*args, **kwargs):
        raise AssertionError("the sweep went on after Ctrl-C")

    monkeypatch.setattr(ray, "init", init_swallowing_ctrl_c)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(tune, "Tuner", no_tuner)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["--profile", "smoke", "--tracking-uri", uri, "--storage-path", str(tmp_path / "runs")]
    with pytest.raises(SystemExit) as done:
        cdc.main(cdc.SPEC, argv, extend=cdc.with_theta_grid, parser=cdc.parser())
    assert done.value.code == 128 + signal.SIGINT
    assert "SIGINT: sweep stopped before its first trial" in capsys.readouterr().err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "runs").exists()
    assert signal.getsignal(signal.SIGINT) == before


def test_a_ray_startup_timeout_is_retried_once_then_reported_in_one_line(cdc, tmp_path, monkeypatch, capsys):
    import ray

    from actrec.errors import UsageError
    from actrec.tune import cluster

    _no_data_steps(monkeypatch)
    timeout = Exception("The current node timed out during startup. This could happen because some of the raylet ...")
    calls = []

    def init(**kwargs):
        calls.append(kwargs)
        if outcomes.pop(0):
            raise timeout

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    outcomes = [True, False]  # times out once, then starts
    assert cluster.init_ray(verbose=False) is False and len(calls) == 2
    assert "trying once more" in capsys.readouterr().out
    outcomes, calls[:] = [True, True], []
    with pytest.raises(UsageError, match="timed out twice during start-up .*too busy"):
        cluster.init_ray(verbose=False)
    assert len(calls) == 2
    outcomes, calls[:] = [True, True], []
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["--profile", "smoke", "--tracking-uri", uri, "--storage-path", str(tmp_path / "runs")]
    with pytest.raises(SystemExit) as done:
        cdc.main(cdc.SPEC, argv, extend=cdc.with_theta_grid, parser=cdc.parser())
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1 and err[0].startswith("error: Ray timed out twice")
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "runs").exists(), "a failed start writes nothing"

    def other(**kwargs):  # any other failure is Ray's to tell, not retried
        calls.append(kwargs)
        raise RuntimeError("something else")

    monkeypatch.setattr(ray, "init", other)
    calls[:] = []
    with pytest.raises(RuntimeError, match="something else"):
        cluster.init_ray(verbose=False)
    assert len(calls) == 1


def test_resume_restores_the_stored_invocation_and_refuses_conflicts(cdc, tmp_path, monkeypatch):
    from ray import tune

    from actrec.errors import UsageError
    from actrec.tune import cli, runner
    from actrec.tune.invocation import save_invocation

    monkeypatch.setattr(tune.Tuner, "can_restore", staticmethod(lambda path: True))
    parser = cdc.parser()
    store = tmp_path / "elsewhere" / "mlflow.db"
    first = [
        "--profile", "smoke", "--seeds", "2", "--set", "train.epochs=3", "--set", "optim.lr=0.02",
        "--tracking-uri", f"sqlite:///{store}", "--storage-path", str(tmp_path / "runs"), "--theta-grid", "0.2",
    ]  # fmt: skip
    args = parser.parse_args(first)
    sweep_dir = runner._new_sweep_dir(cdc.SPEC, args)
    save_invocation(sweep_dir, args, first, sweep="cdc_theta")
    monkeypatch.chdir(tmp_path)  # resumed from another directory, with another default store in the environment
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///other.db")

    def resume(*argv):
        return cli.restored_invocation(cdc.SPEC, parser.parse_args(argv), parser, list(argv))

    restored = resume("--resume", sweep_dir)
    assert restored.resume == sweep_dir
    assert (restored.profile, restored.seeds, restored.search, restored.theta_grid) == ("smoke", 2, "grid", "0.2")
    assert restored.tracking_uri == f"sqlite:///{store}"
    assert restored.storage_path == str(tmp_path / "runs")
    assert restored.overrides == ["train.epochs=3", "optim.lr=0.02"]
    # The newest sweep under --storage-path, of any profile unless --profile is given.
    assert resume("--resume", "--storage-path", str(tmp_path / "runs")).resume == sweep_dir
    assert resume("--resume", "--storage-path", str(tmp_path / "runs"), "--profile", "smoke").resume == sweep_dir
    with pytest.raises(UsageError, match="no earlier cdc_theta sweep with profile local"):
        resume("--resume", "--storage-path", str(tmp_path / "runs"), "--profile", "local")
    # The same flags again are fine (in any order); different ones are named, with both values.
    same = resume("--resume", sweep_dir, "--set", "optim.lr=0.02", "--set", "train.epochs=3", "--seeds", "2")
    assert same.overrides == ["train.epochs=3", "optim.lr=0.02"]
    with pytest.raises(UsageError) as conflict:
        resume("--resume", sweep_dir, "--seeds", "3", "--tracking-uri", "sqlite:///mlflow.db")
    message = str(conflict.value)
    assert "--seeds 3 (the sweep has 2)" in message and f"(the sweep has sqlite:///{store})" in message
    with pytest.raises(UsageError, match="--set"):
        resume("--resume", sweep_dir, "--set", "train.epochs=4")
    with pytest.raises(UsageError, match="no such sweep directory"):
        resume("--resume", str(tmp_path / "typo"))
    # Another table's sweep directory is refused, not resumed under this table's name.
    from conftest import load_sweep

    ntu = load_sweep("mfst_ntu")
    ntu_parser = ntu.parser() if hasattr(ntu, "parser") else cli.build_parser(ntu.SPEC)
    older = tmp_path / "runs" / "mfst_ntu-local-20260101-000000-000000"  # a sweep dir without a stored invocation
    older.mkdir()
    with pytest.raises(UsageError, match="that is a mfst_ntu sweep, not cdc_theta"):
        resume("--resume", str(older))
    with pytest.raises(UsageError, match="that is a cdc_theta sweep, not mfst_ntu"):
        cli.restored_invocation(
            ntu.SPEC, ntu_parser.parse_args(["--resume", sweep_dir]), ntu_parser, ["--resume", sweep_dir]
        )


def test_progress_lines_show_the_keys_the_trials_differ_in(cdc):
    from actrec.tune.progress import shown_keys

    keys = shown_keys(trial_overrides(cdc.SPEC, cdc.parser().parse_args(["--seeds", "2"])))
    assert set(keys) == {"model.stem", "model.theta", "data.modality", "train.seed"}  # Table IV's swept keys
    assert shown_keys([{"model.name": "a", "train.seed": 0}, {"model.name": "a", "train.seed": 1}]) == ("train.seed",)
    assert shown_keys([{"model.name": "a"}]) == ("model.name",)  # a single trial shows its own values


def test_environment_defaults_hold_only_inside_their_block(monkeypatch):
    from actrec.tune.cluster import environ_default

    monkeypatch.delenv("ACTREC_TEST_UNSET", raising=False)
    monkeypatch.setenv("ACTREC_TEST_SET", "user")
    with environ_default(ACTREC_TEST_UNSET="1", ACTREC_TEST_SET="1"):
        assert os.environ["ACTREC_TEST_UNSET"] == "1" and os.environ["ACTREC_TEST_SET"] == "user"
    assert "ACTREC_TEST_UNSET" not in os.environ and os.environ["ACTREC_TEST_SET"] == "user"


def test_an_embedded_rays_processes_leave_out_the_preemption_watcher_and_poll_workers_often(ray_session):
    """The session's Ray is started as the sweeps start an embedded one (:func:`actrec.tune.cluster.init_ray`): its
    processes inherit the switch that leaves Ray Train's preemption watcher out and the controller's short poll
    interval, unless the user set them (the driver's own environment is restored once Ray is up:
    ``test_environment_defaults_hold_only_inside_their_block``)."""
    import ray

    from actrec.tune.cluster import EMBEDDED_RAY_ENV

    keys = ("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S")
    assert set(EMBEDDED_RAY_ENV) == set(keys)

    @ray.remote(num_cpus=0)
    def switches():
        return [os.environ.get(key) for key in keys]

    assert ray.get(switches.remote()) == [
        os.environ.get("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "0"),
        os.environ.get("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.25"),
    ]


def test_an_embedded_ray_reuses_its_task_processes_from_one_pass_to_the_next(ray_session):
    """Twice as many tasks at once as the node has free CPUs (decode tasks at ``data.decode_cpus`` 0.25; a barrier
    holds each round's tasks until all of them run), then a second round after they all went idle: the embedded Ray
    keeps their worker processes (``idle_workers_env``), so the second round starts none anew, where Ray's default
    keeps one idle process per free CPU, kills the rest after a second and starts at least half of them again."""
    import psutil
    import ray

    @ray.remote(num_cpus=0)
    class Barrier:
        def __init__(self, parties: int) -> None:
            self.parties, self.arrived = parties, 0

        def arrive(self) -> None:
            self.arrived += 1

        def open(self) -> bool:
            return self.arrived >= self.parties

    @ray.remote(num_cpus=0.25)
    def pid(barrier) -> int:
        ray.get(barrier.arrive.remote())
        while not ray.get(barrier.open.remote()):
            time.sleep(0.05)
        return os.getpid()

    def round_of(tasks: int) -> set[int]:
        barrier = Barrier.remote(tasks)
        pids = set(ray.get([pid.remote(barrier) for _ in range(tasks)], timeout=120))
        ray.kill(barrier)
        assert len(pids) == tasks
        return pids

    free = int(ray.available_resources().get("CPU", 0))
    assert free >= 2, f"the session's Ray has {free} free CPUs: an earlier test still holds them"
    round_of(2 * free)
    time.sleep(3)  # idle for longer than Ray's idle-worker timeout (1 s)
    alive = set(psutil.pids())
    new = round_of(2 * free) - alive
    assert len(new) < free, f"{len(new)} of {2 * free} worker processes were started anew"


def test_asha_metric_is_refused_where_asha_does_not_run(cdc):
    from actrec.errors import UsageError
    from actrec.tune.plan import plan_sweep

    parse = cdc.parser().parse_args
    for argv in (["--asha-metric", "loss"], ["--search", "optuna", "--asha", "off", "--asha-metric", "accuracy"]):
        with pytest.raises(UsageError, match="--asha-metric"):
            plan_sweep(cdc.SPEC, parse(argv))
    assert plan_sweep(cdc.SPEC, parse(["--search", "optuna", "--asha-metric", "accuracy"])).asha
