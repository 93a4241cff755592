"""Configuration of the data side: which dataset, which modality, how clips are sampled and transformed.

Clip sampling follows Temporal Segment Networks by default (Wang et al., ECCV 2016, Sec. 3.2: one snippet per
equal segment), with uniform and dense (I3D/SlowFast-style, frame interval) alternatives; evaluation protocols
are each dataset's official ones (e.g. NTU RGB+D cross-subject / cross-view, Shahroudy et al., CVPR 2016, Sec. 4),
written into the dataset index by ``actrec data prepare`` (or the synthetic generator).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetInfo:
    """What the config layer knows about a dataset before reading its index."""

    num_classes: int | None  # None: synthetic, whose class count is data.synth_num_classes
    protocols: tuple[str, ...]  # evaluation protocols its index defines; the first is the default
    pose_joints: int | None = None  # joints per person of its pose member (None: no pose)
    depth: bool = True  # whether its samples carry a depth member (needed by data.modality "depth" and "rgbd")


# Real datasets are read from ``data.root`` (index.json + tar shards written by ``actrec data prepare``).
DATASETS = {
    "synthetic": DatasetInfo(None, ("cross_subject", "cross_view"), pose_joints=17),  # COCO joints
    # Shahroudy et al., CVPR 2016, Sec. 4: cross-subject (20 training actors) and cross-view (cameras 2, 3 train).
    "ntu_rgbd_60": DatasetInfo(60, ("cross_subject", "cross_view"), pose_joints=25),  # Kinect v2 joints
    # Liu et al., TPAMI 2020, Sec. 4: cross-subject (53 training actors) and cross-setup (even setup ids train).
    "ntu_rgbd_120": DatasetInfo(120, ("cross_subject", "cross_setup", "cross_view"), pose_joints=25),
    # Wan et al., CVPRW 2016: train list -> validation list (official), train -> test list (official_test).
    "isogd": DatasetInfo(249, ("official", "official_test")),
    # Molchanov et al., CVPR 2016: nvgesture_train/test_correct_cvpr2016_v2.lst.
    "nvgesture": DatasetInfo(25, ("official",)),
    # Tang et al., 2017/2019: leave-one-split-out over the four subject groups CS1-CS4 (csN validates on group N).
    "thu_read": DatasetInfo(40, ("cs1", "cs2", "cs3", "cs4")),
    "ucf101": DatasetInfo(101, ("split1", "split2", "split3"), depth=False),
    "hmdb51": DatasetInfo(51, ("split1", "split2", "split3"), depth=False),
    "diving48": DatasetInfo(48, ("official",), depth=False),  # Diving48 V2 train / test JSON
    "epic_kitchens_100": DatasetInfo(97, ("official",), depth=False),  # verb classes; train / validation CSV
    "epic_kitchens_100_nouns": DatasetInfo(300, ("official",), depth=False),  # noun classes of the same segments
    # Actions = (verb, noun) pairs, label verb · 300 + noun: the challenge's action accuracy (verb + noun heads).
    "epic_kitchens_100_actions": DatasetInfo(97 * 300, ("official",), depth=False),
}

# Single-modality streams each data.modality is read from, in channel order. "rgbd": the rgb and the depth member
# of each sample, rendered as for "rgb" and "depth" and stacked on channels (3 + 3) for two-stream RGB-D models
# (MFST Tables I/II, RGB+DEP rows). "rgb_pose": the rgb and the pose member, cut from the same frames and skeleton
# box into two model inputs, the RGB clip (``video``) and a pose heatmap volume (``pose``) (EPAM-Net, §3).
MODALITY_STREAMS = {
    "rgb": ("rgb",),
    "depth": ("depth",),
    "pose": ("pose",),
    "rgbd": ("rgb", "depth"),
    "rgb_pose": ("rgb", "pose"),
}
MODALITIES = tuple(MODALITY_STREAMS)
SAMPLING_METHODS = ("segment", "uniform", "dense")
TRAIN_CROPS = ("random", "random_resized")
DEPTH_MODES = ("replicate", "jet", "normals")
SPLITS = ("train", "val")
# rgb_pose: pose heatmap frames per RGB frame (N / M) and RGB crop side per heatmap side when left at 0, EPAM-Net's
# 48 / 16 and 224 / 56 (Tables 1, 2).
POSE_VOLUME_FRAME_RATIO = 3
POSE_VOLUME_SIZE_RATIO = 4
# Bump when the synthetic renderer or shard layout changes so cached datasets are regenerated, not reused.
SYNTHETIC_GENERATOR_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Data pipeline configuration (dotted keys ``data.<field>``).

    Sampling is TSN segment sampling (Wang et al. 2016, Sec. 3.2); ``protocol`` selects the NTU RGB+D
    cross-subject / cross-view split (Shahroudy et al. 2016, Sec. 4) defined in the shard index. ``modality="rgb_pose"``
    gives EPAM-Net's two inputs (Abdelkawy, Ali & Farag 2024, §3; ``actrec.data.rgb_pose``): the skeleton-box RGB
    clip (``num_frames`` at ``crop_size``) and a pose heatmap volume (``pose_volume_*``) of the same frames.
    """

    dataset: str = "synthetic"  # dataset name (DATASETS); "synthetic" is generated on first use
    root: str = ""  # directory holding index.json + shards; "" -> synthetic cache dir (see default_synthetic_root)
    modality: str = "rgb"  # "rgb", "depth" (-> 3 channels, depth_mode), "pose" (heatmaps), "rgbd" (rgb + depth: 6)
    # or "rgb_pose" (two inputs: the skeleton-box RGB clip and pose heatmaps, EPAM-Net; see pose_volume_*)
    num_frames: int = 8  # T, frames sampled per clip (rgb_pose: M, the RGB frames)
    sampling: str = "segment"  # "segment" (TSN: random frame per segment, centre at eval), "uniform", "dense"
    frame_interval: int = 1  # dense sampling: frames between consecutive sampled frames
    resize: int = 40  # short side of decoded frames (decord resizes while decoding)
    crop_size: int = 32  # S, side of the square crop fed to the model (random when training, centre at eval)
    train_crop: str = "random"  # "random" (S x S window) or "random_resized" (area/aspect jitter, then resize to S)
    crop_scale_min: float = 0.25  # random_resized: smallest crop area as a fraction of the frame
    flip_prob: float = 0.0  # horizontal flip probability (0: left/right-sensitive classes such as NTU's)
    rotation_deg: float = 0.0  # random rotation in [-rotation_deg, rotation_deg] degrees
    colour_jitter: float = 0.0  # RGB brightness/contrast/saturation jitter strength (hue: a quarter); never on depth
    test_clips: int = 1  # evaluation: clips per video (temporal views); scores are averaged over views
    test_crops: int = 1  # evaluation: 1 (centre) or 3 (start / centre / end along the long side) crops per clip
    depth_mode: str = "replicate"  # depth -> 3 channels: "replicate", "jet" colour map or "normals" (surface)
    depth_near_mm: int = 500  # 16-bit depth: distance mapped to 1.0 (nearer = brighter)
    depth_far_mm: int = 4500  # 16-bit depth: distance mapped to 0.0; 0 (no reading) stays 0
    pose_sigma: float = 2.0  # pose heatmaps: Gaussian sigma in pixels of the crop
    pose_limbs: bool = False  # pose heatmaps: one channel per limb (segment) instead of per joint
    pose_volume_frames: int = (
        0  # rgb_pose: N heatmap frames, k x num_frames; 0 -> 3 x num_frames (EPAM-Net: 48 = 3 x 16)
    )
    pose_volume_size: int = 0  # rgb_pose: heatmap side P; 0 -> crop_size // 4 (EPAM-Net: 56 = 224 / 4)
    pose_volume_sigma: float = 0.6  # rgb_pose: Gaussian sigma in heatmap pixels (PoseC3D's, used by EPAM-Net)
    protocol: str = ""  # evaluation protocol defined in the index (DATASETS[dataset].protocols); "" -> the first
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
                f"pass --data-root DIR (--data-root {self.dataset}=DIR when a table spans several datasets)"
            )
        if self.modality not in MODALITIES:
            raise ValueError(f"data.modality must be one of {MODALITIES}, got {self.modality!r}")
        protocols = DATASETS[self.dataset].protocols
        if not self.protocol:
            object.__setattr__(self, "protocol", protocols[0])
        if self.protocol not in protocols:
            raise ValueError(f"data.protocol must be one of {protocols} for {self.dataset}, got {self.protocol!r}")
        _check_int_at_least("num_frames", self.num_frames, 1)
        if self.sampling not in SAMPLING_METHODS:
            raise ValueError(f"data.sampling must be one of {SAMPLING_METHODS}, got {self.sampling!r}")
        _check_int_at_least("frame_interval", self.frame_interval, 1)
        if self.train_crop not in TRAIN_CROPS:
            raise ValueError(f"data.train_crop must be one of {TRAIN_CROPS}, got {self.train_crop!r}")
        if not 0.0 < self.crop_scale_min <= 1.0:
            raise ValueError(f"data.crop_scale_min must be in (0, 1], got {self.crop_scale_min}")
        if not 0.0 <= self.flip_prob <= 1.0:
            raise ValueError(f"data.flip_prob must be in [0, 1], got {self.flip_prob}")
        if not 0.0 <= self.rotation_deg <= 180.0:
            raise ValueError(f"data.rotation_deg must be in [0, 180], got {self.rotation_deg}")
        if not 0.0 <= self.colour_jitter <= 1.0:
            raise ValueError(f"data.colour_jitter must be in [0, 1], got {self.colour_jitter}")
        _check_int_at_least("test_clips", self.test_clips, 1)
        if self.test_crops not in (1, 3):
            raise ValueError(f"data.test_crops must be 1 or 3, got {self.test_crops!r}")
        if self.depth_mode not in DEPTH_MODES:
            raise ValueError(f"data.depth_mode must be one of {DEPTH_MODES}, got {self.depth_mode!r}")
        _check_int_at_least("depth_near_mm", self.depth_near_mm, 0)
        if not isinstance(self.depth_far_mm, int) or self.depth_far_mm <= self.depth_near_mm:
            raise ValueError(f"data.depth_far_mm must be an integer > depth_near_mm ({self.depth_near_mm})")
        if not self.pose_sigma > 0:
            raise ValueError(f"data.pose_sigma must be > 0, got {self.pose_sigma}")
        if "pose" in self.streams and DATASETS[self.dataset].pose_joints is None:
            raise ValueError(f"data.modality={self.modality!r} needs a dataset with skeletons; {self.dataset} has none")
        if "depth" in self.streams and not DATASETS[self.dataset].depth:
            raise ValueError(
                f"data.modality={self.modality!r} needs a dataset with depth; {self.dataset} has RGB only "
                "(choose data.modality='rgb')"
            )
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
        self._check_pose_volume()
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

    def _check_pose_volume(self) -> None:
        """rgb_pose (EPAM-Net §3): resolve the 0 defaults of ``pose_volume_frames`` / ``pose_volume_size`` and reject
        options its skeleton-box crop and TSN sampling do not apply. Other modalities leave the fields as given."""
        for name in ("pose_volume_frames", "pose_volume_size"):
            _check_int_at_least(name, getattr(self, name), 0)
        if not self.pose_volume_sigma > 0:
            raise ValueError(f"data.pose_volume_sigma must be > 0, got {self.pose_volume_sigma}")
        if self.modality != "rgb_pose":
            return
        if not self.pose_volume_frames:
            object.__setattr__(self, "pose_volume_frames", POSE_VOLUME_FRAME_RATIO * self.num_frames)
        if not self.pose_volume_size:
            object.__setattr__(self, "pose_volume_size", max(1, self.crop_size // POSE_VOLUME_SIZE_RATIO))
        if self.pose_volume_frames % self.num_frames:
            raise ValueError(
                f"data.pose_volume_frames ({self.pose_volume_frames}) must be a multiple of data.num_frames "
                f"({self.num_frames}): the RGB frames are every (N / M)-th pose frame (EPAM-Net Fig. 2)"
            )
        # The crop is the skeleton box, the frames TSN segments (actrec.data.rgb_pose): no other crop or sampler.
        if self.sampling != "segment":
            raise ValueError(f"data.sampling must be 'segment' for data.modality='rgb_pose', got {self.sampling!r}")
        if self.train_crop != "random" or self.rotation_deg > 0:
            raise ValueError(
                "data.modality='rgb_pose' crops every clip to its skeleton box: data.train_crop='random_resized' and "
                f"data.rotation_deg > 0 do not apply, got {self.train_crop!r} and {self.rotation_deg}"
            )
        if self.test_crops != 1:
            raise ValueError(
                f"data.test_crops must be 1 for data.modality='rgb_pose' (one skeleton box per clip), got "
                f"{self.test_crops}; data.test_clips sets the evaluation views"
            )

    @property
    def streams(self) -> tuple[str, ...]:
        """Single modalities the input is made of, in channel order: ("rgb", "depth") for "rgbd", ("rgb", "pose") for
        "rgb_pose", else one."""
        return MODALITY_STREAMS[self.modality]

    @property
    def input_channels(self) -> int:
        """Channels of the model input ``video``: 3 for RGB, depth and rgb_pose (whose heatmaps are the second input,
        ``pose_channels``), 6 for rgbd (RGB then depth), joints (or limbs) of the pose heatmaps."""
        if self.modality == "rgbd":
            return 6
        if self.modality != "pose":
            return 3
        return int(self.pose_channels)  # type: ignore[arg-type]  # validated in __post_init__

    @property
    def pose_channels(self) -> int | None:
        """Heatmap channels of the dataset's skeletons: its joints, or its limbs with ``pose_limbs`` (COCO 17 / 17,
        NTU 25 / 24); None for a dataset without skeletons."""
        joints = DATASETS[self.dataset].pose_joints
        if joints is None or not self.pose_limbs:
            return joints
        from actrec.data.pose import limbs_for

        return len(limbs_for(joints))

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of one view of each model input column, in the order the model takes them: ``video`` (C, T, S, S);
        for rgb_pose also ``pose`` (J, N, P, P) (``pose_channels``, ``pose_volume_frames``, ``pose_volume_size``)."""
        shapes = {"video": (self.input_channels, self.num_frames, self.crop_size, self.crop_size)}
        if self.modality == "rgb_pose":
            size = self.pose_volume_size
            shapes["pose"] = (int(self.pose_channels), self.pose_volume_frames, size, size)  # type: ignore[arg-type]
        return shapes

    @property
    def num_views(self) -> int:
        """Evaluation views per video: test_clips x test_crops (scores are averaged over them)."""
        return self.test_clips * self.test_crops

    @property
    def num_classes(self) -> int:
        """Class count of the configured dataset (what ``model.num_classes`` is derived from)."""
        known = DATASETS[self.dataset].num_classes
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
