"""De+Recouple's four sweeps (Tables 1-6, Fig. 6): their tables, stand-in columns and paper profiles, and (slow)
each sweep's smoke profile end to end on an embedded Ray."""

import argparse
import re

import pytest

from actrec.errors import UsageError
from actrec.models import model_config, tiny_overrides
from actrec.papers.derecouple import DERECOUPLE_PAPER
from actrec.tune.cli import build_parser
from actrec.tune.plan import base_config, resolve_trial, trial_overrides
from tests.conftest import load_sweep, sweeps_of
from tests.sweep_tools import train_a_step, trial_configs

SWEEPS = sweeps_of(DERECOUPLE_PAPER)

# De+Recouple §4.1 (``DERECOUPLE_CITATION``): MFST's recipe but 64 frames, random crop + rotation, DTN with 3
# branches, M=6 spatial and N=6 temporal blocks, sharpness temperature cosine 0.04→0.07, FRP λ=2, and §4.1's
# "augmentation only includes random clipping and rotation" (no MixUp).
RECIPE = {
    "data.num_frames": 64,
    "data.crop_size": 224,
    "optim.momentum": 0.9,
    "optim.weight_decay": 3e-4,
    "optim.lr": 0.01,
    "optim.warmup_epochs": 3.0,
    "optim.min_lr": 0.0,
    "train.epochs": 100,
    "train.mixup_alpha": 0.0,
    "train.num_workers": 4,
    "train.accelerator": "gpu",
    "model.spatial_blocks": 6,
    "model.temporal_blocks": 6,
    "model.sharpness_start": 0.04,
    "model.sharpness_end": 0.07,
    "model.frp_lambda": 2.0,
    "model.branch_frames": (16, 32, 48),
    "model.rcm_frames": 64,
}
GESTURES, ACTIONS = {"nvgesture", "isogd"}, {"thu_read", "ntu_rgbd_60"}


def _args(name: str, profile: str, **extra) -> argparse.Namespace:
    sweep = load_sweep(name)
    argv = ["--profile", profile]
    for value in extra.pop("data_root", []):
        argv += ["--data-root", value]
    args = (sweep.parser() if hasattr(sweep, "parser") else build_parser(sweep.SPEC)).parse_args(argv)
    for key, value in extra.items():
        setattr(args, key, value)
    return args


def _spec(name: str, args):
    sweep = load_sweep(name)
    return sweep.extend(sweep.SPEC, args) if hasattr(sweep, "extend") else sweep.SPEC


def _resolved(name: str, profile: str, **extra) -> list[dict]:
    args = _args(name, profile, **extra)
    spec = _spec(name, args)
    base = base_config(spec, args)
    return [resolve_trial(base, t) for t in trial_overrides(spec, args)]


PAPER_ROOTS = ["nvgesture=/d/nv", "thu_read=/d/thu", "isogd=/d/iso", "ntu_rgbd_60=/d/ntu"]


@pytest.mark.parametrize("name", SWEEPS)
def test_paper_profile_is_the_papers_recipe_on_the_papers_datasets(name):
    resolved = _resolved(name, "paper", data_root=PAPER_ROOTS)
    for config in resolved:
        for key, want in RECIPE.items():
            assert config[key] == (pytest.approx(want) if isinstance(want, float) else want), (name, key)
        assert config["data.rotation_deg"] > 0  # "random clipping and rotation"
        assert config["model.name"] in ("derecouple", "derecouple_rgbd")
        # Each dataset its own prepared root, and the distillation temperature of its domain (Fig. 6 (b)).
        dataset = config["data.dataset"]
        assert config["data.root"] == {"nvgesture": "/d/nv", "thu_read": "/d/thu", "isogd": "/d/iso",
                                       "ntu_rgbd_60": "/d/ntu"}[dataset]  # fmt: skip
        if name != "derecouple_recoupling":
            assert config["model.distill_temperature"] == (0.4 if dataset in GESTURES else 0.5)
    pairs = {(c["data.dataset"], c["data.protocol"]) for c in resolved}
    if name == "derecouple_fusion":
        thu = {("thu_read", f"cs{i}") for i in range(1, 5)}  # leave-one-split-out, averaged in the column
        ntu = {("ntu_rgbd_60", "cross_subject"), ("ntu_rgbd_60", "cross_view")}
        assert pairs == {("nvgesture", "official"), ("isogd", "official")} | thu | ntu
        assert len(resolved) == 5 * 8  # 5 rows x (NvGesture, THU-READ CS1-4, IsoGD, NTU CS, NTU CV)
    else:
        assert pairs == {("nvgesture", "official"), ("thu_read", "cs2")}  # §5: NvGesture and THU-READ (CS2)


def test_missing_dataset_root_is_named():
    from actrec.tune.plan import data_roots

    with pytest.raises(SystemExit, match="unknown dataset 'nvgesturez'"):
        data_roots(argparse.Namespace(data_root=["nvgesturez=/d"]))
    with pytest.raises(SystemExit, match="given twice"):
        data_roots(argparse.Namespace(data_root=["/a", "/b"]))
    assert data_roots(argparse.Namespace(data_root=["/a", "isogd=/b"])) == ("/a", {"isogd": "/b"})


@pytest.mark.parametrize("name", SWEEPS)
@pytest.mark.parametrize("profile", ["smoke", "local"])
def test_cpu_profiles_run_tiny_models_on_synthetic_stand_ins(name, profile):
    args = _args(name, profile)
    spec = _spec(name, args).for_profile(profile)
    resolved = _resolved(name, profile)
    assert {c["data.dataset"] for c in resolved} == {"synthetic"}
    assert all(c["train.accelerator"] == "cpu" for c in resolved)
    for config in resolved:
        assert config["model.d"] == tiny_overrides(config["model.name"])["d"] != model_config(config["model.name"]).d
    measured = [c for c in spec.table.columns if c.match.get("data.dataset") == "synthetic"]
    assert len(measured) == (1 if profile == "smoke" else 2)  # the smoke profile measures one column
    # Every trial lands in exactly one row and one measured column of the report's table.
    from actrec.report.spec import matches

    for config in resolved:
        assert sum(matches(config, row.match) for row in spec.table.rows) == 1
        assert sum(matches(config, column.match) for column in spec.table.columns) == 1
    assert all(column.note for column in spec.table.columns)  # stand-in or "paper values only"


def test_components_rows_are_cumulative():
    rows = load_sweep("derecouple_components").SPEC.table.rows
    switches = [(r.match["model.frp"], r.match["model.multi_loss"], r.match["model.sharpness"],
                 r.match["model.knn_k"] is not None) for r in rows]  # fmt: skip
    assert switches == [(False,) * 4, (True, False, False, False), (True, True, False, False),
                        (True, True, True, False), (True,) * 4]  # fmt: skip


def test_recoupling_temperature_grid():
    sweep = load_sweep("derecouple_recoupling")
    resolved = _resolved("derecouple_recoupling", "paper", data_root=PAPER_ROOTS)
    temperatures = sorted({c["model.distill_temperature"] for c in resolved if c["model.recoupling"]})
    assert temperatures == pytest.approx([0.1 * i for i in range(1, 11)])
    assert sum(not c["model.recoupling"] for c in resolved) == 2  # one per dataset
    args = _args("derecouple_recoupling", "local", temperature_grid="0.7,0.2")
    spec = sweep.extend(sweep.SPEC, args)
    assert [r.label for r in spec.table.rows] == ["Without recoupling", "𝒯 = 0.2", "𝒯 = 0.7"]
    # The paper's values sit where it found 𝒯 best: 0.4 for the gesture set, 0.5 for the action set.
    paper = {
        r.label: r.paper for r in _spec("derecouple_recoupling", _args("derecouple_recoupling", "paper")).table.rows
    }
    assert paper["𝒯 = 0.4"] == {"NvGesture": 89.58} and paper["𝒯 = 0.5"] == {"THU-READ CS2": 81.67}
    for bad in ("0,0.4", "x"):
        with pytest.raises(UsageError, match="temperature-grid"):
            sweep.extend(sweep.SPEC, _args("derecouple_recoupling", "local", temperature_grid=bad))


# The paper's numbers (``DERECOUPLE_CITATION``), per sweep: column -> its rows' values in table order. Table 5
# (§5.1, RGB, cumulative components), Table 6 (§5.3, cross-modal interaction) and the "Ours" rows of Tables 1-4
# (§4.2: RGB, Depth, and the Multiplication, Addition and CAPF fusions, one table per dataset; NTU RGB+D's Table 4
# gives CS and CV). Fig. 6 prints no numbers: its best temperatures' cells repeat Table 5's full model.
PAPER_VALUES = {
    "derecouple_components": {
        "NvGesture": [85.21, 86.67, 87.08, 89.13, 89.58],
        "THU-READ CS2": [75.24, 78.33, 80.53, 80.91, 81.67],
    },
    "derecouple_interaction": {
        "NvGesture": [91.10, 91.32, 91.53, 91.70],
        "THU-READ CS2": [86.35, 87.34, 88.75, 90.00],
    },
    "derecouple_fusion": {
        "NvGesture": [89.58, 90.62, 90.89, 91.10, 91.70],
        "THU-READ": [81.25, 77.92, 86.10, 86.25, 87.04],
        "IsoGD": [60.87, 60.17, 66.71, 66.68, 66.79],
        "NTU CS": [90.3, 92.7, 93.6, 93.9, 94.2],
        "NTU CV": [95.4, 96.2, 96.6, 96.7, 97.3],
    },
    "derecouple_recoupling": {
        "NvGesture": [None, None, 89.58, None, None],
        "THU-READ CS2": [None, None, None, 81.67, None],
    },
}


def test_paper_values_are_the_papers():
    assert set(PAPER_VALUES) == set(SWEEPS)
    for name, columns in PAPER_VALUES.items():
        table = load_sweep(name).SPEC.table
        assert [c.label for c in table.columns] == list(columns), name
        ours = {c.label: [row.paper.get(c.label) for row in table.rows] for c in table.columns}
        assert ours == columns, name


# --- smoke profiles end to end (slow) -------------------------------------------------------------------------------


def _loss_terms(params) -> dict[str, bool]:
    """Which named loss terms a trial with these ``params`` (its dotted config, values as MLflow strings) trains:
    each stream's DTN heads (``ce``; ``ce_branches`` with ``model.multi_loss``), the recoupling distillation with
    ``model.recoupling``, and CAPF's fused head on RGB-D."""
    streams = ("rgb_", "depth_") if params["data.modality"] == "rgbd" else ("",)
    # RGB-D trains its streams' own DTN heads (ce, ce_branches) only with model.stream_ce (off in the sweeps).
    heads = len(streams) == 1 or params["model.stream_ce"] == "True"
    terms = {}
    for prefix in streams:
        terms[f"{prefix}ce"] = heads
        terms[f"{prefix}ce_branches"] = heads and params["model.multi_loss"] == "True"
        terms[f"{prefix}distill"] = params["model.recoupling"] == "True"
    terms["ce_fused"] = params.get("model.fusion") == "capf" and len(streams) == 2
    return terms


@pytest.mark.parametrize("name", SWEEPS)
def test_every_cell_trains_the_loss_terms_of_its_switches(name):
    """Every cell of the full smoke grid (one training step, no Ray) trains the loss terms of its switches, and only
    those; the smoke run below checks that the terms of the cells it ran reach MLflow."""
    for config in trial_configs(name):
        trained = train_a_step(config)
        for term, expected in _loss_terms({k: str(v) for k, v in config.items()}).items():
            assert (term in trained) == expected, (term, config)


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEPS)
def test_smoke_runs_log_the_loss_terms_of_their_switches(name, smoke_runs):
    """The session's smoke run of ``name`` (tests/test_sweeps_smoke.py checks it as a sweep): each trial logged the
    loss terms of its model's switches, and only those."""
    run = smoke_runs.get(name)
    for child in run.children:
        for term, expected in _loss_terms(child.data.params).items():
            assert (f"train_{term}" in child.data.metrics) == expected, (term, child.data.params)
    assert "synthetic stand-in" in run.report  # the column notes say what the measured column stood in for
    if name == "derecouple_fusion":
        assert "paper values only" in run.report  # NvGesture, THU-READ, IsoGD and NTU CV are not measured in smoke
    if name == "derecouple_recoupling":
        assert (run.reports / f"{name}_plot.png").stat().st_size > 1000


def _two_dataset_spec(stand_ins):
    from actrec.report.spec import Column, Row, TableSpec
    from actrec.tune.spec import SweepSpec

    table = TableSpec(
        sweep="toy",
        paper="p",
        citation="f",
        table="T",
        title="t",
        paper_setting="s",
        rows=(Row(label="a", match={"model.frp": True}, paper={"Nv": 1.0, "THU": 2.0}),),
        columns=(
            Column(label="Nv", match={"data.dataset": "nvgesture", "data.protocol": "official"}),
            Column(label="THU", match={"data.dataset": "thu_read"}),
        ),
    )
    cells = (
        {"model.frp": True, "data.dataset": "nvgesture", "data.protocol": "official", "model.distill_temperature": 0.4},
        {"model.frp": True, "data.dataset": "thu_read", "data.protocol": "cs1"},
        {"model.frp": True, "data.dataset": "thu_read", "data.protocol": "cs2"},
    )
    profiles = {"local": {}, "paper": {}}
    return SweepSpec(table=table, cells=cells, axes={}, profiles=profiles, column_stand_ins=stand_ins)


def test_for_profile_replaces_only_the_stood_in_columns():
    from actrec.tune.profiles import SYNTHETIC_CS, SYNTHETIC_CV

    spec = _two_dataset_spec({"local": {"Nv": SYNTHETIC_CS, "THU": SYNTHETIC_CV}})
    assert spec.for_profile("paper") is spec  # profiles without stand-ins run the cells as written
    local = spec.for_profile("local")
    # The column's match keys replaced, other cell values kept; THU-READ's two splits become one stand-in cell.
    assert local.cells == (
        {"model.frp": True, "model.distill_temperature": 0.4, **SYNTHETIC_CS},
        {"model.frp": True, **SYNTHETIC_CV},
    )
    assert [c.match for c in local.table.columns] == [SYNTHETIC_CS, SYNTHETIC_CV]
    assert "cross_subject" in local.table.columns[0].note and "nvgesture" in local.table.columns[0].note
    assert local.for_profile("local") == local  # idempotent
    only_nv = _two_dataset_spec({"local": {"Nv": SYNTHETIC_CS}}).for_profile("local")
    assert len(only_nv.cells) == 1 and "paper values only" in only_nv.table.columns[1].note


def test_stand_ins_are_validated():
    from actrec.tune.profiles import SYNTHETIC_CS

    with pytest.raises(ValueError, match="share a stand-in"):
        _two_dataset_spec({"local": {"Nv": SYNTHETIC_CS, "THU": SYNTHETIC_CS}})
    with pytest.raises(ValueError, match="unknown profile or columns"):
        _two_dataset_spec({"local": {"IsoGD": SYNTHETIC_CS}})
    with pytest.raises(ValueError, match="unknown profile or columns"):
        _two_dataset_spec({"smoke": {"Nv": SYNTHETIC_CS}})


def test_a_real_dataset_without_root_is_named_before_ray_starts(tmp_path, capsys):
    sweep = load_sweep("derecouple_components")
    nv = tmp_path / "nv"
    nv.mkdir()
    (nv / "index.json").write_text(
        '{"format_version": 1, "dataset": "nvgesture", "num_classes": 25, "shards": [], "splits": {}}'
    )
    argv = ["--profile", "paper", "--data-root", f"nvgesture={nv}", "--storage-path", str(tmp_path)]
    with pytest.raises(SystemExit) as done:
        sweep.main(sweep.SPEC, argv)
    assert done.value.code == 2  # from the plan, before Ray (tests/test_tune_plan.py checks that in a process)
    assert re.search("no data root for thu_read.*--data-root thu_read=DIR", capsys.readouterr().err)
