"""Configuration of the data side: which dataset, which modality, how clips are sampled and transformed.

Clip sampling follows Temporal Segment Networks (Wang et al., ECCV 2016, Sec. 3.2: one snippet per equal segment);
the evaluation protocols are the NTU RGB+D ones (Shahroudy et al., CVPR 2016, Sec. 4: cross-subject and
cross-view), applied here to the synthetic RGB-D set until the real-dataset adapters exist.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

# Dataset name -> number of classes. Real datasets are read from ``data.root`` (index.json + tar shards in the
# synthetic set's format); their adapters (`actrec data prepare`) are a later issue.
DATASETS = {
    "synthetic": None,  # class count is data.synth_num_classes
    "ntu_rgbd_60": 60,
    "ntu_rgbd_120": 120,
    "isogd": 249,
    "nvgesture": 25,
    "thu_read": 40,
    "ucf101": 101,
    "hmdb51": 51,
    "diving48": 48,
    "epic_kitchens_100": 97,  # verb classes
}
MODALITIES = ("rgb", "depth")
PROTOCOLS = ("cross_subject", "cross_view")
SPLITS = ("train", "val")
# Bump when the synthetic renderer or shard layout changes so cached datasets are regenerated, not reused.
SYNTHETIC_GENERATOR_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Data pipeline configuration (dotted keys ``data.<field>``).

    Sampling is TSN segment sampling (Wang et al. 2016, Sec. 3.2); ``protocol`` selects the NTU RGB+D
    cross-subject / cross-view split (Shahroudy et al. 2016, Sec. 4) defined in the shard index.
    """

    dataset: str = "synthetic"  # dataset name (DATASETS); "synthetic" is generated on first use
    root: str = ""  # directory holding index.json + shards; "" -> synthetic cache dir (see default_synthetic_root)
    modality: str = "rgb"  # which stream a clip is read from: "rgb" or "depth" (depth replicated to 3 channels)
    num_frames: int = 8  # T, frames sampled per clip (one per temporal segment)
    resize: int = 40  # short side of decoded frames (decord resizes while decoding)
    crop_size: int = 32  # S, side of the square crop fed to the model (random when training, centre at eval)
    protocol: str = "cross_subject"  # split definition from the index: "cross_subject" or "cross_view"
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)  # per-channel mean on [0, 1] pixels (Kinetics stats)
    std: tuple[float, float, float] = (0.225, 0.225, 0.225)  # per-channel std on [0, 1] pixels
    decode_cpus: float = 0.25  # CPUs each Ray Data read/decode task requests (fractional: decoding is light)
    decode_batch_size: int = 16  # clips per Ray Data decode batch (map_batches batch_size)
    synth_num_classes: int = 8  # synthetic: number of action classes (first n of the 8 defined)
    synth_subjects: int = 8  # synthetic: actors (appearance); split unit of cross_subject
    synth_views: int = 3  # synthetic: camera views (background, offset, scale); split unit of cross_view
    synth_repeats: int = 2  # synthetic: samples per (class, subject, view)
    synth_frames: int = 16  # synthetic: frames written per clip
    synth_size: int = 64  # synthetic: written frame height = width in pixels (even, for yuv420p)
    synth_seed: int = 0  # synthetic: generator seed; same seed -> same dataset
    samples_per_shard: int = 64  # samples per tar shard when generating

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"data.dataset must be one of {sorted(DATASETS)}, got {self.dataset!r}")
        if self.dataset != "synthetic" and not self.root:
            raise ValueError(
                f"data.root must name a prepared {self.dataset} dataset (index.json + tar shards), got ''; "
                "pass --data-root DIR"
            )
        if self.modality not in MODALITIES:
            raise ValueError(f"data.modality must be one of {MODALITIES}, got {self.modality!r}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"data.protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        _check_int_at_least("num_frames", self.num_frames, 1)
        _check_int_at_least("resize", self.resize, 1)
        _check_int_at_least("crop_size", self.crop_size, 1)
        if self.crop_size > self.resize:
            raise ValueError(f"data.crop_size must be <= data.resize ({self.resize}), got {self.crop_size}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if len(value) != 3:
                raise ValueError(f"data.{name} must be 3 floats (one per channel), got {value!r}")
        if any(not 0.0 <= m <= 1.0 for m in self.mean):
            raise ValueError(f"data.mean must be in [0, 1] per channel, got {self.mean!r}")
        if any(s <= 0.0 for s in self.std):
            raise ValueError(f"data.std must be > 0 per channel, got {self.std!r}")
        if not self.decode_cpus > 0:
            raise ValueError(f"data.decode_cpus must be > 0, got {self.decode_cpus}")
        _check_int_at_least("decode_batch_size", self.decode_batch_size, 1)
        if not (isinstance(self.synth_num_classes, int) and 2 <= self.synth_num_classes <= 8):
            raise ValueError(f"data.synth_num_classes must be in [2, 8], got {self.synth_num_classes}")
        _check_int_at_least("synth_subjects", self.synth_subjects, 2)
        _check_int_at_least("synth_views", self.synth_views, 2)
        _check_int_at_least("synth_repeats", self.synth_repeats, 1)
        _check_int_at_least("synth_frames", self.synth_frames, 2)
        if self.dataset == "synthetic" and self.num_frames > self.synth_frames:
            raise ValueError(
                f"data.num_frames must be <= data.synth_frames ({self.synth_frames}), got {self.num_frames}"
            )
        _check_int_at_least("synth_size", self.synth_size, 16)
        if self.synth_size % 2:
            raise ValueError(f"data.synth_size must be even (yuv420p chroma subsampling), got {self.synth_size}")
        _check_int_at_least("synth_seed", self.synth_seed, 0)
        _check_int_at_least("samples_per_shard", self.samples_per_shard, 1)

    @property
    def num_classes(self) -> int:
        """Class count of the configured dataset (what ``model.num_classes`` is derived from)."""
        known = DATASETS[self.dataset]
        return self.synth_num_classes if known is None else known

    def synth_params(self) -> dict[str, int]:
        """Keyword arguments of ``generate_synthetic`` implied by this config."""
        return {
            "num_classes": self.synth_num_classes,
            "subjects": self.synth_subjects,
            "views": self.synth_views,
            "repeats": self.synth_repeats,
            "frames": self.synth_frames,
            "size": self.synth_size,
            "seed": self.synth_seed,
            "samples_per_shard": self.samples_per_shard,
        }


def _check_int_at_least(name: str, value: int, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"data.{name} must be an integer >= {low}, got {value!r}")


def cache_dir() -> Path:
    """Base cache directory: ``$ACTREC_CACHE`` if set, else ``~/.cache/actrec``."""
    env = os.environ.get("ACTREC_CACHE", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "actrec"


def default_synthetic_root(cfg: DataConfig) -> Path:
    """``<cache_dir>/synthetic/<hash>``; the hash covers every ``synth_*`` parameter and the generator version."""
    params = {"version": SYNTHETIC_GENERATOR_VERSION, **cfg.synth_params()}
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir() / "synthetic" / digest


def dataset_root(cfg: DataConfig) -> Path:
    """Root directory of the configured dataset (``cfg.root`` or the default cache location)."""
    return Path(cfg.root).expanduser() if cfg.root else default_synthetic_root(cfg)
