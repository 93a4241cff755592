"""CTN's sweeps (thesis chapter 4: Tables 4.3, 4.4, 4.5-4.6): their tables, stand-in columns and paper profiles, and
(slow) each sweep's smoke profile end to end on an embedded Ray."""

import argparse

import pytest
import torch

from actrec.layers.video_tokens import stem_output_size, token_grid
from actrec.models import create_model, model_config, tiny_overrides
from actrec.models.complexity import count_parameters
from actrec.papers.ctn import CTN_PAPER
from actrec.report.spec import matches
from actrec.tune.cli import build_parser
from actrec.tune.plan import base_config, resolve_trial, trial_overrides
from tests.conftest import load_sweep, sweeps_of

SWEEPS = sweeps_of(CTN_PAPER)
PAPER_ROOTS = ["epic_kitchens_100_actions=/d/epic", "diving48=/d/d48"]
# §4.4.1, Tables 4.1-4.2 (thesis chapter 4, ``CTN_CITATION``): 8 frames at 224², 12 encoders x 12 heads at width
# 768, patches 4x4x2 of the stem output, SGD (momentum 0.9) lr 0.005, 2.5 warm-up epochs, cosine, 100 epochs, batch
# 16 on 4 GPUs.
RECIPE = {
    "data.num_frames": 8,
    "data.crop_size": 224,
    "data.modality": "rgb",
    "optim.name": "sgd",
    "optim.momentum": 0.9,
    "optim.lr": 0.005,
    "optim.warmup_epochs": 2.5,
    "train.epochs": 100,
    "train.num_workers": 4,
    "train.accelerator": "gpu",
    "model.dim": 768,
    "model.depth": 12,
    "model.heads": 12,
    "model.patch_size": (2, 4, 4),
    "model.image_size": 224,
    "model.num_frames": 8,
}


def _args(name: str, profile: str, *argv: str) -> argparse.Namespace:
    return build_parser(load_sweep(name).SPEC).parse_args(["--profile", profile, *argv])


def _reference(row) -> dict:
    """The row's paper-size model overrides (its ``reference`` without ``model.``)."""
    return {k.removeprefix("model."): v for k, v in row.reference.items() if k != "model.name"}


def _resolved(name: str, profile: str, *argv: str) -> list[dict]:
    args = _args(name, profile, *argv)
    spec = load_sweep(name).SPEC
    base = base_config(spec, args)
    return [resolve_trial(base, t) for t in trial_overrides(spec, args)]


@pytest.mark.parametrize("name", SWEEPS)
def test_paper_profile_is_the_thesis_recipe_with_verb_noun_heads_on_epic(name):
    roots = [a for r in PAPER_ROOTS for a in ("--data-root", r)]
    resolved = _resolved(name, "paper", *roots)
    assert len(resolved) == 2 * len(PAPER_VALUES[name])  # every row on both datasets
    for config in resolved:
        for key, want in RECIPE.items():
            assert config[key] == want, (name, key)
        assert config["train.batch_size"] * config["train.num_workers"] == 16
        if config["data.dataset"] == "epic_kitchens_100_actions":  # action accuracy from the verb and noun heads
            assert config["model.name"] == "ctn_epic" and config["data.root"] == "/d/epic"
            assert (config["model.num_verbs"], config["model.num_nouns"], config["model.num_classes"]) == (
                97, 300, 97 * 300,
            )  # fmt: skip
        else:
            assert (config["data.dataset"], config["data.root"]) == ("diving48", "/d/d48")
            assert (config["model.name"], config["model.num_classes"]) == ("ctn", 48)
    spec = load_sweep(name).SPEC
    for config in resolved:  # every trial lands in exactly one row and one column of the report's table
        assert sum(matches(config, row.match) for row in spec.table.rows) == 1
        assert sum(matches(config, column.match) for column in spec.table.columns) == 1


@pytest.mark.parametrize("name", SWEEPS)
@pytest.mark.parametrize("profile", ["smoke", "local"])
def test_cpu_profiles_train_the_tiny_ctn_on_synthetic_stand_ins(name, profile):
    resolved = _resolved(name, profile)
    spec = load_sweep(name).SPEC.for_profile(profile)
    assert {c["data.dataset"] for c in resolved} == {"synthetic"}
    assert len(resolved) == len(PAPER_VALUES[name]) * (1 if profile == "smoke" else 2)
    for config in resolved:
        assert config["model.dim"] == tiny_overrides("ctn")["dim"] != model_config("ctn").dim
        assert config["optim.name"] == "adamw" and config["train.accelerator"] == "cpu"
        if config["data.protocol"] == "cross_subject":  # EPIC-KITCHENS' stand-in: 8 classes = 2 verbs x 4 nouns
            assert config["model.name"] == "ctn_epic"
            assert (config["model.num_verbs"], config["model.num_nouns"], config["model.num_classes"]) == (2, 4, 8)
        else:
            assert config["model.name"] == "ctn" and config["model.num_classes"] == 8
        assert sum(matches(config, row.match) for row in spec.table.rows) == 1
        assert sum(matches(config, column.match) for column in spec.table.columns) == 1


def test_vivit_rows_are_vivit_b():
    # Table 4.3's ViViT-B rows: CTN with tubelets and the linear mapping has ViViT-B/16x2's layers exactly.
    rows = load_sweep("ctn_embeddings").SPEC.table.rows
    vivit = [r for r in rows if r.label.startswith("ViViT-B")]
    assert len(vivit) == 2
    with torch.device("meta"):
        baseline = count_parameters(create_model("vivit_b", num_classes=48))
        for row in vivit:
            overrides = _reference(row)
            count = count_parameters(create_model("ctn", **overrides))
            assert (count == baseline) is overrides["positional_embedding"]  # no PE: fewer parameters


def test_table_4_4_stems_all_give_the_same_196_tokens():
    # Table 4.4's rows reduce the 8 x 224² clip by 4 in every axis, with a stride-4 conv or stride 2 + max-pool.
    for row in load_sweep("ctn_tokens_kernels").SPEC.table.rows:
        ref = row.reference
        size = stem_output_size(
            (8, 224, 224), kernel_size=ref["model.v2t_kernel"], stride=ref["model.v2t_stride"],
            max_pool=ref["model.v2t_max_pool"],
        )  # fmt: skip
        assert size == (2, 56, 56), row.label
        assert token_grid(size, (2, 4, 4)) == (1, 14, 14)


def test_mapping_rows_change_only_the_qkv_mapping():
    rows = load_sweep("ctn_mapping_kernels").SPEC.table.rows
    with torch.device("meta"):
        counts = {r.label: count_parameters(create_model("ctn", **_reference(r))) for r in rows}
    linear, conv3, conv3_bn, conv5, conv5_bn = counts.values()
    # Depth-wise 3x3 -> 5x5 adds 16 weights per channel for Q, K and V in each of the 12 encoders; BN's scale and
    # shift (2 per channel) replace the depth-wise conv's bias (1).
    assert conv5 - conv3 == 12 * 3 * 768 * 16
    assert conv3_bn - conv3 == conv5_bn - conv5 == 12 * 3 * 768
    assert linear < conv3


# The thesis' numbers (chapter 4, ``CTN_CITATION``), per sweep and row in table order: (row label, EPIC-KITCHENS
# action top-1, Diving48 top-1, the row's complexity cells). Table 4.4: the video-to-tokens stems; Tables 4.5 (linear
# vs convolutional mapping: 44.1 / 77.3 and 45.9 / 78.2) and 4.6 (kernel 3 / 5 without and with BN); Table 4.3: the
# embeddings with their GFLOPs.
PAPER_VALUES = {
    "ctn_tokens_kernels": [
        ("[7 7 7] stride 4, 64 ch", 41.9, 75.6, {}),
        ("[5 5 5] stride 4, 64 ch", 41.6, 75.2, {}),
        ("[7 7 7] stride 2 + max-pool [3 3 3] stride 2, 32 ch", 43.6, 76.2, {}),
        ("[7 7 7] stride 2 + max-pool [3 3 3] stride 2 + BN, 32 ch (CTN)", 45.9, 78.2, {}),
    ],
    "ctn_mapping_kernels": [
        ("Linear mapping (Table 4.5 CTN-a)", 44.1, 77.3, {}),
        ("Conv 3×3, no BN (Table 4.6)", 43.1, 75.8, {}),
        ("Conv 3×3 + BN (Table 4.5 CTN-b = Table 4.6, CTN)", 45.9, 78.2, {}),
        ("Conv 5×5, no BN (Table 4.6)", 43.6, 76.1, {}),
        ("Conv 5×5 + BN (Table 4.6)", 45.6, 77.7, {}),
    ],
    "ctn_embeddings": [
        ("ViViT-B, tubelets, default PE", 43.1, 77.1, {"gflops": 325}),
        ("ViViT-B, tubelets, no PE", 42.0, 76.2, {"gflops": 318}),
        ("CTN, tubelets, default PE", 43.9, 77.1, {"gflops": 353}),
        ("CTN, video-to-tokens, default PE", 44.5, 77.7, {"gflops": 370}),
        ("CTN, video-to-tokens, no PE (CTN)", 45.9, 78.2, {"gflops": 358}),
    ],
}


def test_paper_values_are_the_thesis():
    assert set(PAPER_VALUES) == set(SWEEPS)
    for name, rows in PAPER_VALUES.items():
        table = load_sweep(name).SPEC.table
        assert [c.label for c in table.columns] == ["EPIC-KITCHENS", "Diving48"]
        ours = [(r.label, r.paper["EPIC-KITCHENS"], r.paper["Diving48"], dict(r.paper_complexity)) for r in table.rows]
        assert ours == rows, name


@pytest.mark.slow
@pytest.mark.parametrize("name", SWEEPS)
def test_smoke_runs_train_ctn_epic_on_the_epic_kitchens_stand_in(name, smoke_runs):
    """The session's smoke run of ``name`` (tests/test_sweeps_smoke.py checks it as a sweep)."""
    run = smoke_runs.get(name)
    for child in run.children:
        assert (child.data.params["data.dataset"], child.data.params["model.name"]) == ("synthetic", "ctn_epic")
    assert "synthetic stand-in" in run.report
