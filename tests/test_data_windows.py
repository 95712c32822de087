import numpy as np
import pytest

pytest.importorskip("torch")

from drape.data.windows import (  # noqa: E402
    Track, TrainingData, WindowDataError, WindowDataset, fit_normalizer, split_by_motion, synthetic_training_data,
)
from drape.model.features import FeatureConfig, NormalizerFit, sequence_samples  # noqa: E402


def _tracks():
    data = synthetic_training_data(motions=3, frames=12)
    t = list(data.tracks)
    # A second "body shape" of motion synth1: same motion name, other sequence.
    extra = Track(name="synth1-tall", motion="synth1", fps=30.0, verts=t[1].verts + 0.01, transforms=t[1].transforms)
    return data, t + [extra]


def test_split_by_motion_holds_out_every_sequence_of_a_motion():
    data, tracks = _tracks()
    train, val = split_by_motion(tracks, ["synth1"])
    assert {t.name for t in val} == {"synth1", "synth1-tall"}
    assert {t.motion for t in train}.isdisjoint({t.motion for t in val})
    assert len(train) + len(val) == len(tracks)
    with pytest.raises(WindowDataError, match="not in the data"):
        split_by_motion(tracks, ["walk"])
    with pytest.raises(WindowDataError, match="nothing left to train"):
        split_by_motion(tracks, ["synth0", "synth1", "synth2"])
    train_all, val_none = split_by_motion(tracks, [])
    assert len(train_all) == len(tracks) and val_none == ()


def test_split_by_motion_holds_out_a_single_segment_or_the_whole_clip():
    data, tracks = _tracks()
    base = tracks[0]
    seg = [Track(name=f"clip{s}", motion=f"../m/13_29.bvh{s}", fps=2.0, verts=base.verts, transforms=base.transforms)
           for s in ("", "@3", "@24", "@24.5")]
    everything = list(tracks) + seg
    # The clip's tracks are 12 frames at 2 fps: 5.5 s of clip from their start.
    train, val = split_by_motion(everything, ["13_29@24"])
    assert [t.name for t in val] == ["clip@24"]
    assert {"clip", "clip@3"} <= {t.name for t in train}
    assert "clip@24.5" not in {t.name for t in train}  # shares 24.5-29.5 s with the validation segment
    train, val = split_by_motion(everything, ["13_29@3"])
    assert {"clip@24", "clip@24.5"} <= {t.name for t in train}
    assert "clip" not in {t.name for t in train}  # 0-5.5 s overlaps 3-8.5 s
    train, val = split_by_motion(everything, ["13_29.bvh@24", "synth1"])
    assert {t.name for t in val} == {"clip@24", "synth1", "synth1-tall"}
    train, val = split_by_motion(everything, ["13_29"])
    assert {t.name for t in val} == {"clip", "clip@3", "clip@24", "clip@24.5"}
    with pytest.raises(WindowDataError, match=r"\['13_29@27'\] are not in the data .*13_29@24"):
        split_by_motion(everything, ["13_29@27"])


def test_windows_enumerate_and_batch_exact_frames():
    data, tracks = _tracks()
    train, _ = split_by_motion(tracks, ["synth1"])
    ds = WindowDataset(data.reference, train, window=2, max_unroll=3, fps=30.0)
    assert len(ds) == sum(t.frame_count - 6 + 1 for t in train)  # i+1+K = 6 frames per window
    assert set(ds.windows[:, 0]) == {0, 1}  # only training tracks
    ids = np.array([0, len(ds) - 1])
    b = ds.batch(ids, 2)
    assert b["history"].shape == (2, 3, data.reference.vert_count, 3)
    assert b["transforms"].shape == (2, 5, 2, 4, 4) and b["target"].shape == (2, 2, data.reference.vert_count, 3)
    k, s = ds.windows[-1]
    tr = train[k]
    np.testing.assert_array_equal(b["history"][1], tr.verts[s : s + 3])
    np.testing.assert_array_equal(b["target"][1], tr.verts[s + 3 : s + 5])
    np.testing.assert_array_equal(b["transforms"][1], tr.transforms[s : s + 5])
    # Global features of each target frame equal the teacher-forced ones.
    ref_g = sequence_samples(data.reference, tr.verts, tr.transforms, FeatureConfig(window=2), frames=[s + 3, s + 4])["global"]
    np.testing.assert_allclose(b["global"][1], ref_g, atol=1e-6)
    with pytest.raises(WindowDataError, match="unroll"):
        ds.batch(ids, 4)
    with pytest.raises(WindowDataError, match="shorter"):
        WindowDataset(data.reference, train, window=2, max_unroll=20, fps=30.0)


def test_normalizer_uses_the_training_split_only():
    data, tracks = _tracks()
    train, val = split_by_motion(tracks, ["synth1"])
    cfg = FeatureConfig(window=2)
    n_train = fit_normalizer(data.reference, train, cfg)
    fit = NormalizerFit()
    for t in train:
        s = sequence_samples(data.reference, t.verts, t.transforms, cfg)
        fit.add(s["vertex"], s["global"], s["target"])
    ref = fit.result()
    for k, v in ref.to_arrays().items():
        np.testing.assert_allclose(getattr(n_train, k), v, rtol=1e-5, atol=1e-7)
    n_all = fit_normalizer(data.reference, tracks, cfg)
    assert not np.allclose(n_all.target_std, n_train.target_std)


def test_training_data_checks_vertex_count():
    data = synthetic_training_data(motions=1, frames=6)
    t = data.tracks[0]
    bad = Track(name="bad", motion="m", fps=30.0, verts=t.verts[:, :10], transforms=t.transforms)
    with pytest.raises(WindowDataError, match="garment vertices"):
        TrainingData(data.reference, (bad,))
    with pytest.raises(WindowDataError, match="transforms"):
        Track(name="x", motion="m", fps=30.0, verts=t.verts, transforms=t.transforms[:-1])


def test_clip_weights_balance_segments_of_one_clip():
    data = synthetic_training_data(motions=2, frames=12)
    a, b = data.tracks
    # Three 12-frame tracks of one long clip (its segments) and one of another: 7 windows each (i+1+K = 6).
    segs = [Track(name=f"long@{s}", motion=f"long.bvh@{s}", fps=30.0, verts=a.verts, transforms=a.transforms) for s in (0, 3, 6)]
    short = Track(name="other", motion="other.bvh", fps=30.0, verts=b.verts, transforms=b.transforms)
    ds = WindowDataset(data.reference, segs + [short], window=2, max_unroll=3, fps=30.0)
    assert len(ds) == 28
    np.testing.assert_allclose(ds.clip_weights(0.0), np.full(28, 1 / 28))
    w1 = ds.clip_weights(1.0)  # each clip half of the draws
    np.testing.assert_allclose(w1[:21], 1 / 42)
    np.testing.assert_allclose(w1[21:], 1 / 14)
    w5 = ds.clip_weights(0.5)  # c^-1/2: 21^-1/2 per long-clip window, 7^-1/2 per other
    u, v = 21 ** -0.5, 7 ** -0.5
    np.testing.assert_allclose(w5[0], u / (21 * u + 7 * v))
    np.testing.assert_allclose(w5[-1], v / (21 * u + 7 * v))
    with pytest.raises(WindowDataError, match="clip balance"):
        ds.clip_weights(1.5)
