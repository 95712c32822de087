"""Resampling (slerp/lerp), loop repetition and seam closing; no anny needed."""

import numpy as np
import pytest

from drape.motion.deepmimic import JOINT_NAMES, JOINT_OFFSETS, clip_files, load_deepmimic
from drape.motion.resample import LoopTransform, repeat_loop, resample, resample_arrays
from drape.motion.rotations import axis_angle_matrix, rotation_angle
from drape.motion.source import close_loop_source
from drape.types import DrapeError, Motion

Z = np.array([0.0, 0.0, 1.0])
X = np.array([1.0, 0.0, 0.0])


def _motion(F=10, fps=30.0, loop=False):
    t = np.arange(F) / fps
    rot = np.stack([axis_angle_matrix(Z, 2.0 * t), axis_angle_matrix(X, 0.5 * np.sin(3 * t))], axis=1)
    root = np.stack([0.3 * t, -1.2 * t, 0.9 + 0.02 * np.sin(5 * t)], axis=1)
    return Motion("m", fps, ("a", "b"), rot.astype(np.float32), root.astype(np.float32), loop=loop)


def test_slerp_midpoint_exact():
    rot = np.stack([np.eye(3), axis_angle_matrix(Z, np.float64(1.0))])[:, None]
    root = np.array([[0.0, 0, 0], [1.0, 2.0, 3.0]])
    r, t, fps = resample_arrays(rot, root, np.array([0.0, 1.0]), 2.0)
    assert r.shape == (3, 1, 3, 3) and fps == 2.0
    np.testing.assert_allclose(r[1, 0], axis_angle_matrix(Z, np.float64(0.5)), atol=1e-12)
    np.testing.assert_allclose(t[1], [0.5, 1.0, 1.5])


def test_resample_round_trip():
    m = _motion(F=31)
    up = resample(m, 60.0)
    assert up.frame_count == 61 and up.fps == 60.0
    back = resample(up, 30.0)
    assert back.frame_count == 31
    np.testing.assert_allclose(back.world_rotations, m.world_rotations, atol=1e-6)
    np.testing.assert_allclose(back.root_translation, m.root_translation, atol=1e-6)
    # Rotations about a fixed axis at constant speed are interpolated exactly.
    np.testing.assert_allclose(up.world_rotations[1, 0], axis_angle_matrix(Z, np.float64(2.0 / 60)), atol=1e-6)


def test_resample_nonuniform_times_keeps_last_frame():
    rot = np.tile(np.eye(3), (3, 1, 1, 1))
    root = np.array([[0.0, 0, 0], [1, 0, 0], [3, 0, 0]])
    r, t, _ = resample_arrays(rot, root, np.array([0.0, 0.1, 0.3]), 10.0)
    np.testing.assert_allclose(t[:, 0], [0, 1, 2, 3])


def test_resample_bad_fps():
    with pytest.raises(DrapeError, match="fps"):
        resample(_motion(), 0.0)


def test_repeat_loop_accumulates_and_is_continuous():
    # A loop whose cycle turns 30 degrees and moves 1 m: frame N = T(frame 0).
    F = 12
    lt = LoopTransform(yaw=np.radians(30.0), shift=(0.0, -1.0, 0.0))
    s = np.arange(F) / F
    rot = axis_angle_matrix(Z, np.radians(30.0) * s)[:, None]
    root = np.stack([np.zeros(F), -s, np.full(F, 0.9)], axis=1)
    m = Motion("loop", 30.0, ("a",), rot.astype(np.float32), root.astype(np.float32), loop=True)
    r = repeat_loop(m, 3, loop_transform=lt)
    assert r.frame_count == 3 * F
    step = np.linalg.norm(np.diff(r.root_translation, axis=0), axis=1)
    np.testing.assert_allclose(step, step[0], rtol=1e-4)  # no jump at the seams
    ang = rotation_angle(np.einsum("fab,fcb->fac", r.world_rotations[1:, 0], r.world_rotations[:-1, 0]))
    np.testing.assert_allclose(ang, np.radians(30.0) / F, atol=1e-5)
    with pytest.raises(DrapeError, match="does not loop"):
        repeat_loop(_motion(), 2)


def test_repeat_loop_estimated_transform_straight_line():
    F = 10
    root = np.stack([np.zeros(F), -0.1 * np.arange(F), np.full(F, 0.9)], axis=1)
    rot = np.tile(np.eye(3), (F, 1, 1, 1))
    m = Motion("l", 30.0, ("a",), rot.astype(np.float32), root.astype(np.float32), loop=True)
    r = repeat_loop(m, 2)
    np.testing.assert_allclose(r.root_translation[:, 1], -0.1 * np.arange(2 * F), atol=1e-5)


def test_resample_loop_is_periodic():
    F = 12
    lt = LoopTransform(shift=(0.0, -1.2, 0.0))
    s = np.arange(F) / F
    rot = axis_angle_matrix(X, 0.4 * np.sin(2 * np.pi * s))[:, None]
    root = np.stack([np.zeros(F), -1.2 * s, np.full(F, 0.9)], axis=1)
    r, t, fps = resample_arrays(rot, root, s * 0.4, 45.0, loop_transform=lt, period=0.4)
    assert len(r) == 18 and abs(fps - 45.0) < 1e-9
    np.testing.assert_allclose(t[:, 1], -1.2 * np.arange(18) / 18, atol=1e-9)


def test_deepmimic_walk_seam_closed():
    src = load_deepmimic(clip_files()["walk"])
    assert src.loop and src.frame_count == 39
    closed = close_loop_source(src, np.array([0.0, 1.0, 0.0]))
    L = closed.local_rotations
    # Every joint's local rotation at the end equals the start (the walk does not turn).
    np.testing.assert_allclose(L[-1, 1:], L[0, 1:], atol=1e-9)
    np.testing.assert_allclose(L[-1, 0], L[0, 0], atol=1e-9)
    # The seam step is no bigger than the clip's own steps.
    steps = rotation_angle(np.einsum("fjab,fjcb->fjac", L[1:], L[:-1])).max(1)
    seam = rotation_angle(np.einsum("jab,jcb->jac", L[1], L[-1])).max()  # frame N -> frame 1
    assert seam <= steps.max() + 1e-9
    before = rotation_angle(np.einsum("jab,jcb->jac", src.local_rotations[1], src.local_rotations[-1])).max()
    assert np.degrees(before) > 20.0  # the raw clip jumps at the seam


def test_deepmimic_skeleton_matches_urdf():
    import re

    import pybullet_data
    from pathlib import Path

    text = (Path(pybullet_data.getDataPath()) / "humanoid" / "humanoid.urdf").read_text(errors="replace")
    origins = {}
    for m in re.finditer(r'<joint name="(\w+)"[^>]*>(.*?)</joint>', text, re.S):
        xyz = re.search(r'<origin[^>]*xyz\s*=\s*"([^"]+)"', m.group(2))
        origins[m.group(1)] = np.array([float(v) for v in xyz.group(1).split()])
    for name, off in zip(JOINT_NAMES[1:], JOINT_OFFSETS[1:]):
        np.testing.assert_allclose(off, 0.25 * origins[name], atol=1e-9, err_msg=name)
    assert len(clip_files()) == 20
