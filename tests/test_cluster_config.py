"""cluster/a100.yaml against the autoscaler schema of the installed Ray, and what the cluster workflow relies on:
8-GPU p4d workers, current py311 images, services on loopback only, MLflow on a PostgreSQL backend; the workstation
script's interface; how a sweep decides between joining a cluster and starting its own Ray."""

import copy
import pathlib
import re
import subprocess
import types

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from actrec.tune import cluster

ROOT = pathlib.Path(__file__).resolve().parents[1]
A100 = ROOT / "cluster" / "a100.yaml"


@pytest.fixture(scope="module")
def a100():
    return yaml.safe_load(A100.read_text())


def _validated(config):
    """What `ray up` does to the file before launching anything: merge the provider defaults, then validate."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def test_a100_config_passes_the_autoscaler_schema(a100):
    prepared = _validated(a100)
    assert prepared["provider"]["type"] == "aws"
    assert prepared["head_node_type"] == "head"


def test_the_schema_check_rejects_a_broken_copy(a100):
    broken = copy.deepcopy(a100)
    broken["available_node_types"]["gpu_worker"]["resources"]["GPU"] = "eight"
    with pytest.raises(jsonschema.ValidationError):
        _validated(broken)
    unknown = copy.deepcopy(a100)
    unknown["max_wokers"] = 4
    with pytest.raises(jsonschema.ValidationError):
        _validated(unknown)


def test_gpu_workers_are_p4d_with_eight_gpus_and_autoscale(a100):
    worker = a100["available_node_types"]["gpu_worker"]
    assert worker["node_config"]["InstanceType"] == "p4d.24xlarge"
    assert worker["resources"] == {"CPU": 96, "GPU": 8}
    assert worker["min_workers"] == 0 < worker["max_workers"] <= a100["max_workers"]
    assert a100["idle_timeout_minutes"] > 0
    head = a100["available_node_types"]["head"]
    assert head["resources"]["CPU"] == 0, "Train workers and decode tasks never land on the head"


def test_images_are_current_py311_ray_images(a100):
    docker = a100["docker"]
    assert re.fullmatch(r"rayproject/ray:2\.\d+\.\d+-py311-gpu", docker["worker_image"])
    assert re.fullmatch(r"rayproject/ray:2\.\d+\.\d+-py311(-gpu)?", docker["head_image"])
    assert "rayproject/ray-ml" not in A100.read_text()


def test_setup_installs_cpu_free_torch_pin_and_actrec(a100):
    setup = " ; ".join(a100["setup_commands"])
    assert "torch==2.13.0" in setup and "pip install --quiet -e /home/ray/actrec" in setup
    assert a100["file_mounts"] == {"/home/ray/actrec": "."}
    assert "psycopg2" in " ".join(a100["head_setup_commands"])


def test_services_bind_loopback_only(a100):
    head_start = " ".join(a100["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    assert re.search(r"mlflow server --host 127\.0\.0\.1 ", head_start)
    assert "--backend-store-uri postgresql://" in head_start
    assert "--artifacts-destination /mnt/efs/" in head_start
    postgres = " ".join(a100["available_node_types"]["head"]["initialization_commands"])
    assert "-p 127.0.0.1:5432:5432" in postgres
    assert "0.0.0.0" not in A100.read_text()
    # The driver on the head writes to the loopback server; every node shares EFS for runs and data.
    assert "-e MLFLOW_TRACKING_URI=http://127.0.0.1:5000" in a100["docker"]["head_run_options"]
    assert {"-e ACTREC_STORAGE=/mnt/efs/actrec_runs", "-e ACTREC_CACHE=/mnt/efs/actrec_cache"} <= set(
        a100["docker"]["run_options"]
    )


def test_workstation_script_parses_and_explains_its_usage():
    script = ROOT / "cluster" / "workstation.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    usage = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "start|stop|status" in usage.stderr


def test_sweeps_join_ray_address(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert cluster.running_cluster_address() == "10.0.0.5:6379"


def test_sweeps_join_a_running_ray_start_head_but_not_a_stale_record(monkeypatch):
    import ray._private.services as services

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: "127.0.0.1:6379")
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: {"127.0.0.1:6379"})
    assert cluster.running_cluster_address() == "127.0.0.1:6379"
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: set())  # head gone, its record left behind
    assert cluster.running_cluster_address() is None
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    assert cluster.running_cluster_address() is None


@pytest.mark.parametrize(
    ("resources", "accelerators", "joined", "cap", "expected"),
    [
        ({"CPU": 8}, {}, False, 0, 5),  # 8 // 1.5
        ({"CPU": 8}, {}, False, 2, 2),
        ({"CPU": 192, "GPU": 16}, {"GPU": 4}, True, 0, 4),  # two p4d nodes up, 4 GPUs a trial
        ({"CPU": 0}, {"GPU": 4}, True, 0, None),  # no worker node yet: Tune queues, the autoscaler adds nodes
        ({"CPU": 0}, {"GPU": 4}, True, 8, 8),
        ({"CPU": 8, "accel": 4}, {"accel": 2}, True, 0, 2),  # a custom resource standing in for GPUs
        ({"CPU": 8, "GPU": 8}, {"accel": 2}, True, 0, None),  # GPUs are not the custom resource the trials ask for
    ],
)
def test_concurrency_follows_cluster_resources(monkeypatch, resources, accelerators, joined, cap, expected):
    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: resources)
    args = types.SimpleNamespace(max_concurrent=cap)
    assert cluster.max_concurrent(1.5, accelerators, args, joined=joined) == expected


@pytest.mark.parametrize(
    ("accelerator", "per_worker", "workers", "expected"),
    [
        ("cpu", 1.0, 4, {}),
        ("gpu", 1.0, 4, {"GPU": 4.0}),
        ("gpu", 0.5, 1, {"GPU": 0.5}),
        ("accel", 2.0, 4, {"accel": 8.0}),
    ],
)
def test_a_trial_requests_its_workers_accelerators(accelerator, per_worker, workers, expected):
    from actrec.config import TrainConfig

    train = TrainConfig(num_workers=workers, accelerator=accelerator, accelerators_per_worker=per_worker)
    assert cluster.trial_accelerators(train) == expected
    assert train.worker_resources == {"CPU": 1.0, **{k: v / workers for k, v in expected.items()}}
    assert train.use_gpu == (accelerator == "gpu")


def test_embedded_ray_without_gpus_refuses_gpu_trials(monkeypatch):
    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 4})
    with pytest.raises(SystemExit, match="has 4 CPU, 0 GPU; each trial needs 1.5 CPU, 4 GPU"):
        cluster.max_concurrent(1.5, {"GPU": 4}, types.SimpleNamespace(max_concurrent=0), joined=False)


def test_a_joined_cluster_that_declares_no_such_accelerator_is_named(monkeypatch, capsys):
    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8, "GPU": 8})
    assert cluster.max_concurrent(1.5, {"acel": 2}, types.SimpleNamespace(max_concurrent=0), joined=True) is None
    assert "no node of this cluster declares acel" in capsys.readouterr().out


def test_trial_drivers_stay_on_the_heads_driver_slots_and_failed_trials_restart_on_a_cluster(a100):
    """cluster/a100.yaml's head (no spot) declares the driver resource; a trial's Tune function (and with it its Ray
    Train controller) asks for one where a cluster has it, a hundredth of a CPU elsewhere; Tune restarts a failed trial
    twice on a joined cluster, never on an embedded Ray, unless --trial-retries says otherwise."""
    head = a100["available_node_types"][a100["head_node_type"]]["resources"]
    assert head["CPU"] == 0 and head[cluster.DRIVER_RESOURCE] >= 8
    assert cluster.trial_driver_resources(head) == {"CPU": 0, cluster.DRIVER_RESOURCE: 1}
    assert cluster.trial_driver_resources({"CPU": 4}) == {"CPU": 0.01}
    unset, zero = types.SimpleNamespace(trial_retries=None), types.SimpleNamespace(trial_retries=0)
    assert cluster.trial_retries(unset, joined=True) == cluster.JOINED_TRIAL_RETRIES > 0
    assert cluster.trial_retries(unset, joined=False) == 0 and cluster.trial_retries(zero, joined=True) == 0


def test_gpu_workers_keep_their_decode_processes_between_passes(a100):
    """The worker nodes start Ray with the idle-worker cap an embedded Ray gets (``idle_workers_env``) for their CPUs,
    so the YAML's figure follows the node type's CPUs and the code's rule."""
    cpus = a100["available_node_types"]["gpu_worker"]["resources"]["CPU"]
    ((name, value),) = cluster.idle_workers_env(cpus).items()
    start = " ".join(a100["worker_start_ray_commands"])
    assert f"{name}={value} ray start --address=" in start, (name, value)
