"""actrec.data.sampling: TSN segment views, uniform spread, dense (I3D / SlowFast) clips and the dispatcher."""

from __future__ import annotations

import numpy as np
import pytest

from actrec.data.sampling import dense_indices, sample_indices, segment_indices, uniform_indices

SHAPES = [(1, 1), (1, 4), (5, 8), (8, 8), (16, 8), (17, 8), (100, 7), (301, 16)]


@pytest.mark.parametrize("n, T", SHAPES)
def test_every_method_returns_T_int64_indices_in_range(n: int, T: int) -> None:
    rng = np.random.default_rng(0)
    for method, interval in (("segment", 1), ("uniform", 1), ("dense", 1), ("dense", 2), ("dense", 5)):
        for training in (True, False):
            for num_clips in (1, 3):
                for clip in range(num_clips):
                    idx = sample_indices(
                        method, n, T, interval=interval, training=training, rng=rng, clip=clip, num_clips=num_clips
                    )
                    assert idx.shape == (T,) and idx.dtype == np.int64
                    assert idx.min() >= 0 and idx.max() <= n - 1


def test_segment_views_take_offset_clip_plus_half_over_num_clips_in_every_segment() -> None:
    # 16 frames, 4 segments of 4 frames: offsets 0.25 and 0.75 of a segment are frames 1 and 3 of each segment.
    assert segment_indices(16, 4, training=False, clip=0, num_clips=2).tolist() == [1, 5, 9, 13]
    assert segment_indices(16, 4, training=False, clip=1, num_clips=2).tolist() == [3, 7, 11, 15]
    # One view is the segment centre, exactly as before views existed.
    assert segment_indices(16, 4, training=False).tolist() == [2, 6, 10, 14]
    assert segment_indices(16, 4, training=False, clip=0, num_clips=1).tolist() == [2, 6, 10, 14]
    views = [segment_indices(30, 3, training=False, clip=c, num_clips=5) for c in range(5)]
    assert [v.tolist() for v in views] == [[1, 11, 21], [3, 13, 23], [5, 15, 25], [7, 17, 27], [9, 19, 29]]


def test_evaluation_views_are_deterministic() -> None:
    for clip in range(4):
        a = segment_indices(97, 8, training=False, clip=clip, num_clips=4)
        assert np.array_equal(a, segment_indices(97, 8, training=False, clip=clip, num_clips=4))
        b = dense_indices(97, 8, 3, training=False, clip=clip, num_clips=4)
        assert np.array_equal(b, dense_indices(97, 8, 3, training=False, clip=clip, num_clips=4))


def test_view_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="clip"):
        segment_indices(16, 4, training=False, clip=2, num_clips=2)
    with pytest.raises(ValueError, match="num_clips"):
        dense_indices(16, 4, 1, training=False, clip=0, num_clips=0)
    with pytest.raises(ValueError, match="interval"):
        dense_indices(16, 4, 0, training=False)
    with pytest.raises(ValueError, match="rng"):
        dense_indices(16, 4, 2, training=True)


def test_uniform_spans_first_to_last_frame_evenly() -> None:
    assert uniform_indices(10, 4).tolist() == [0, 3, 6, 9]
    assert uniform_indices(100, 5).tolist() == [0, 25, 50, 74, 99]  # 24.75 -> 25, 74.25 -> 74
    assert uniform_indices(3, 5).tolist() == [0, 1, 1, 2, 2]  # 0, 0.5, 1, 1.5, 2 rounded half up
    assert uniform_indices(9, 1).tolist() == [4]  # one frame: the middle
    idx = uniform_indices(1000, 16)
    assert idx[0] == 0 and idx[-1] == 999 and np.all(np.diff(idx) >= 66) and np.all(np.diff(idx) <= 67)


def test_dense_training_clips_are_contiguous_with_random_starts() -> None:
    rng = np.random.default_rng(0)
    n, T, interval = 50, 8, 4  # span 29, starts 0..21
    starts = set()
    for _ in range(200):
        idx = dense_indices(n, T, interval, training=True, rng=rng)
        assert np.all(np.diff(idx) == interval)
        starts.add(int(idx[0]))
    assert min(starts) >= 0 and max(starts) <= n - 29 and len(starts) > 15


def test_dense_evaluation_views_spread_evenly_over_valid_starts() -> None:
    n, T, interval = 50, 8, 4  # last valid start 21
    assert dense_indices(n, T, interval, training=False)[0] == 10  # centre (21 // 2)
    starts = [int(dense_indices(n, T, interval, training=False, clip=c, num_clips=3)[0]) for c in range(3)]
    assert starts == [0, 11, 21]  # 0, 10.5 (rounded half up), 21
    for c in range(3):
        assert np.all(np.diff(dense_indices(n, T, interval, training=False, clip=c, num_clips=3)) == interval)


def test_dense_span_longer_than_video_wraps_around() -> None:
    assert dense_indices(5, 4, 2, training=False).tolist() == [0, 2, 4, 1]  # 6 wraps to 1
    assert dense_indices(3, 7, 1, training=False).tolist() == [0, 1, 2, 0, 1, 2, 0]
    rng = np.random.default_rng(0)
    for _ in range(10):
        assert dense_indices(5, 4, 2, training=True, rng=rng).tolist() == [0, 2, 4, 1]
    # Exactly fitting span: no wrap, starts at 0.
    assert dense_indices(7, 4, 2, training=False).tolist() == [0, 2, 4, 6]


def test_sample_indices_dispatches_and_names_unknown_methods() -> None:
    assert np.array_equal(
        sample_indices("segment", 40, 5, training=False, clip=1, num_clips=3),
        segment_indices(40, 5, training=False, clip=1, num_clips=3),
    )
    assert np.array_equal(sample_indices("uniform", 40, 5, training=True), uniform_indices(40, 5))
    assert np.array_equal(
        sample_indices("dense", 40, 5, interval=3, training=False, clip=2, num_clips=3),
        dense_indices(40, 5, 3, training=False, clip=2, num_clips=3),
    )
    a = sample_indices("dense", 40, 5, interval=3, training=True, rng=np.random.default_rng(7))
    assert np.array_equal(a, dense_indices(40, 5, 3, training=True, rng=np.random.default_rng(7)))
    with pytest.raises(ValueError, match="'tsm'"):
        sample_indices("tsm", 40, 5, training=False)
