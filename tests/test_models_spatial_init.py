"""``model.spatial_init``: starting RPE-STDT's spatial encoder / the per-frame ViT from a ViT checkpoint file."""

from __future__ import annotations

import pytest
import torch

from actrec.models import create_model, tiny_overrides
from actrec.models.spatial_init import canonical_vit_state, load_spatial_encoder

TIMM_NAMES = (("cls.token", "cls_token"), ("positions.positions", "pos_embed"), ("mlp.net.0", "mlp.fc1"))


def _vit(**extra):
    torch.manual_seed(1)
    return create_model("vit_spatial", **{**tiny_overrides("vit_spatial"), "num_classes": 5, **extra})


def _rpe(**extra):
    torch.manual_seed(2)
    base = {**tiny_overrides("rpe_stdt"), "num_classes": 7, "temporal_depth": 1, "subsample_layers": ()}
    return create_model("rpe_stdt", **{**base, **extra})


def _as_timm(state):
    out = {}
    for key, value in state.items():
        for mine, timm in (*TIMM_NAMES, ("mlp.net.3", "mlp.fc2")):
            key = key.replace(mine, timm)
        out[key] = value
    return out


def _frames(vit, x):
    """The ViT's per-frame class features (before its time average)."""
    tokens = vit.cls(vit.patch_embed(x).flatten(0, 1))
    tokens = vit.positions(tokens, vit.patch_embed.grid(x.shape[-2], x.shape[-1]))
    for block in vit.blocks:
        tokens = block(tokens)
    return vit.norm(tokens[:, 0]).unflatten(0, (x.shape[0], x.shape[2]))


def test_timm_vit_starts_the_spatial_encoder_and_gives_the_same_frame_features(tmp_path):
    vit = _vit()
    path = tmp_path / "vit_timm.pth"
    torch.save({"model": _as_timm(vit.state_dict())}, path)
    assert {"cls_token", "pos_embed", "blocks.1.mlp.fc2.weight"} <= set(canonical_vit_state(torch.load(path)["model"]))

    fresh = _rpe(position_embedding="absolute")
    rpe = _rpe(position_embedding="absolute", spatial_init=str(path))
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(rpe.encode_frames(x), _frames(vit, x))  # same weights, same per-frame encoder
        assert not torch.allclose(fresh.encode_frames(x), _frames(vit, x))
    # Head and temporal encoder are not the ViT's: they keep the model's own initialisation.
    torch.testing.assert_close(rpe.head.weight, fresh.head.weight)
    torch.testing.assert_close(rpe.temporal_blocks[0].attn.qkv.weight, fresh.temporal_blocks[0].attn.qkv.weight)


def test_actrec_checkpoints_load_both_ways_and_relative_tables_stay_fresh(tmp_path):
    rpe = _rpe()  # shared RPE: no absolute positions
    path = tmp_path / "best.pt"
    torch.save({"model": rpe.state_dict(), "epoch": 3, "val_top1": 50.0}, path)  # actrec's best.pt layout
    vit = _vit(spatial_init=str(path))
    torch.testing.assert_close(vit.blocks[1].mlp.net[3].weight, rpe.spatial_blocks[1].mlp.net[3].weight)
    torch.testing.assert_close(vit.cls.token, rpe.spatial_cls.token)
    torch.testing.assert_close(vit.norm.bias, rpe.spatial_norm.bias)
    assert not torch.allclose(vit.positions.positions, torch.zeros_like(vit.positions.positions))  # kept its own

    trial = tmp_path / "checkpoint_000003"  # a trial's checkpoint directory: best.pt is read
    trial.mkdir()
    torch.save({"model": rpe.state_dict()}, trial / "best.pt")
    torch.save({"model": _vit().state_dict()}, trial / "state.pt")  # other weights: must not be read
    from_dir = _vit(spatial_init=str(trial))
    torch.testing.assert_close(from_dir.blocks[0].attn.qkv.weight, rpe.spatial_blocks[0].attn.qkv.weight)

    back = tmp_path / "vit.pt"
    torch.save({"model": vit.state_dict()}, back)
    again = _rpe(spatial_init=str(back))
    fresh = _rpe()
    torch.testing.assert_close(again.spatial_blocks[0].attn.qkv.weight, rpe.spatial_blocks[0].attn.qkv.weight)
    torch.testing.assert_close(again.spatial_blocks[0].attn.relative_table, fresh.spatial_blocks[0].attn.relative_table)


def test_depths_differ_first_blocks_load_and_missing_blocks_keep_their_init(tmp_path):
    deep = _vit(depth=3)
    path = tmp_path / "deep.pth"
    torch.save(_as_timm(deep.state_dict()), path)
    shallow = _rpe(spatial_depth=2)
    stats = load_spatial_encoder(shallow, str(path), "rpe_stdt")
    assert stats["blocks"] == 2 and stats["blocks_kept"] == 0
    torch.testing.assert_close(shallow.spatial_blocks[1].norm2.weight, deep.blocks[1].norm2.weight)

    one = _vit(depth=1)
    torch.save(_as_timm(one.state_dict()), path)
    fresh, model = _rpe(spatial_depth=3), _rpe(spatial_depth=3)
    stats = load_spatial_encoder(model, str(path), "rpe_stdt")
    assert stats == {"tensors": stats["tensors"], "blocks": 1, "blocks_kept": 2}
    torch.testing.assert_close(model.spatial_blocks[0].attn.proj.weight, one.blocks[0].attn.proj.weight)
    torch.testing.assert_close(model.spatial_blocks[2].attn.proj.weight, fresh.spatial_blocks[2].attn.proj.weight)


def test_positions_are_resampled_to_the_models_patch_grid(tmp_path):
    coarse = _vit()  # 32² frames, 8×8 patches: 4×4 grid
    path = tmp_path / "coarse.pth"
    torch.save(_as_timm(coarse.state_dict()), path)
    fine = _rpe(position_embedding="absolute", image_size=64, spatial_init=str(path))  # 8×8 grid
    expected = coarse.positions.table((8, 8))
    torch.testing.assert_close(fine.spatial_positions.positions, expected)
    torch.testing.assert_close(fine.spatial_positions.positions[:, 0], coarse.positions.positions[:, 0])


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"model.spatial_init: no checkpoint at .*missing.pth"):
        _rpe(spatial_init=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match=r"model.spatial_init: checkpoint directory .* holds none of best.pt"):
        _rpe(spatial_init=str(tmp_path))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read .*garbage.pth"):
        _rpe(spatial_init=str(garbage))
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, other)
    with pytest.raises(ValueError, match="neither a timm-style ViT"):
        _rpe(spatial_init=str(other))
    wide = tmp_path / "wide.pth"
    torch.save(_as_timm(_vit(dim=64).state_dict()), wide)
    with pytest.raises(ValueError, match=r"wide.pth: patch_embed.proj.weight has shape \(64, 3, 8, 8\)"):
        _rpe(spatial_init=str(wide))
    with pytest.raises(ValueError, match="model.spatial_init must be a file path"):
        _rpe(spatial_init=3)
