"""Sequence file format: round trip, header, format/version errors."""


import numpy as np
import pytest

from drape.data.sequence import (
    SequenceFormatError,
    load_sequence,
    read_sequence_header,
    save_sequence,
)
from drape.types import Sequence


def make_sequence(F=4, Vb=50, Vg=30, J=31, seed=0):
    rng = np.random.default_rng(seed)
    root = rng.normal(size=(F, 3)).astype(np.float32)
    body = (root[:, None, :] + rng.uniform(-0.9, 0.9, size=(F, Vb, 3))).astype(np.float32)
    return Sequence(
        fps=30.0,
        body_verts=body,
        body_faces=rng.integers(0, Vb, size=(60, 3)).astype(np.int32),
        garment_verts=rng.normal(size=(F, Vg, 3)).astype(np.float32),
        garment_velocities=rng.normal(size=(F, Vg, 3)).astype(np.float32),
        garment_faces=rng.integers(0, Vg, size=(40, 3)).astype(np.int32),
        world_rotations=np.tile(np.eye(3, dtype=np.float32), (F, J, 1, 1)),
        root_translation=root,
        meta={"garment": "tshirt", "motion": "walk", "sec_per_frame": 0.5, "shape": {"height": 0.7}},
    )


def assert_same(a: Sequence, b: Sequence, *, body_atol=0.0):
    assert a.fps == b.fps
    assert a.meta == b.meta
    for name in ("body_faces", "garment_verts", "garment_velocities", "garment_faces", "world_rotations",
                 "root_translation"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert b.body_verts.dtype == np.float32
    np.testing.assert_allclose(b.body_verts, a.body_verts, atol=body_atol, rtol=0)


def test_round_trip_exact_body(tmp_path):
    seq = make_sequence()
    path = save_sequence(tmp_path / "a.npz", seq, body_encoding="float32")
    assert_same(seq, load_sequence(path))


def test_round_trip_quantized_body(tmp_path):
    seq = make_sequence()
    path = save_sequence(tmp_path / "a", seq)  # .npz appended
    assert path.name == "a.npz"
    back = load_sequence(path)
    span = np.abs(seq.body_verts - seq.root_translation[:, None]).max()
    assert_same(seq, back, body_atol=span / 32767 * 0.5 + 1e-6)
    assert np.abs(back.body_verts - seq.body_verts).max() < 2e-5  # metres: 0.02 mm
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_header(tmp_path):
    path = save_sequence(tmp_path / "a.npz", make_sequence(F=5, Vb=50, Vg=30))
    h = read_sequence_header(path)
    assert (h["format"], h["version"], h["frames"], h["garment_vert_count"], h["body_vert_count"]) == (
        "drape.sequence", 1, 5, 30, 50)
    assert h["meta"]["garment"] == "tshirt"


def _rewrite(src, dst, **changes):
    with np.load(src) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(changes)
    for k, v in list(arrays.items()):
        if v is None:
            del arrays[k]
    np.savez(dst, **arrays)


def test_version_and_format_errors(tmp_path):
    path = save_sequence(tmp_path / "a.npz", make_sequence())
    newer = tmp_path / "newer.npz"
    _rewrite(path, newer, version=np.array(2))
    with pytest.raises(SequenceFormatError, match=r"newer\.npz: drape\.sequence version 2 is not supported"):
        load_sequence(newer)
    with pytest.raises(SequenceFormatError, match="version 2"):
        read_sequence_header(newer)
    other = tmp_path / "other.npz"
    _rewrite(path, other, format=np.array("something.else"))
    with pytest.raises(SequenceFormatError, match=r"other\.npz: expected format 'drape\.sequence'"):
        load_sequence(other)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.zeros(3))
    with pytest.raises(SequenceFormatError, match="not a drape.sequence file"):
        load_sequence(plain)
    missing = tmp_path / "missing.npz"
    _rewrite(path, missing, garment_velocities=None)
    with pytest.raises(SequenceFormatError, match="lacks the array 'garment_velocities'"):
        load_sequence(missing)


def test_truncated_and_absent_files(tmp_path):
    path = save_sequence(tmp_path / "a.npz", make_sequence())
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(SequenceFormatError, match="cut.npz: unreadable"):
        read_sequence_header(cut)
    with pytest.raises(SequenceFormatError, match="cut.npz: unreadable"):
        load_sequence(cut)
    with pytest.raises(SequenceFormatError, match="nope.npz: sequence file not found"):
        load_sequence(tmp_path / "nope.npz")


def test_bad_sequence_rejected(tmp_path):
    seq = make_sequence()
    bad = Sequence(**{**seq.__dict__, "garment_velocities": seq.garment_velocities[:, :5]})
    with pytest.raises(SequenceFormatError, match="garment_velocities: expected shape"):
        save_sequence(tmp_path / "b.npz", bad)
    assert not (tmp_path / "b.npz").exists()
    meta_bad = Sequence(**{**seq.__dict__, "meta": {"x": object()}})
    with pytest.raises(SequenceFormatError, match="JSON"):
        save_sequence(tmp_path / "c.npz", meta_bad)
