"""Left-right mirror augmentation (drape.data.mirror): exact answers on tiny meshes and rigs."""

from dataclasses import replace

import numpy as np
import pytest

from drape.data.mirror import (
    MIRROR_SUFFIX,
    MirrorError,
    bone_mirror_index,
    garment_mirror_map,
    mirror_map_for,
    mirror_track,
    mirror_tracks,
)
from drape.data.windows import Track, synthetic_training_data
from drape.geometry.mesh_ops import face_normals

BONES = ("Hips", "LHipJoint", "LeftUpLeg", "Spine", "LeftArm", "RightArm", "RHipJoint", "RightUpLeg", "arm.L", "arm.R")


def strip(xs=(-1.0, -0.2, 0.6, 1.0), ys=(0.0, 1.0)):
    """A flat rectangle [-1, 1] x [0, 1] (symmetric in shape) whose vertex columns are not symmetric."""
    verts = np.array([[x, y, 0.0] for y in ys for x in xs])
    n = len(xs)
    faces = []
    for j in range(len(ys) - 1):
        for i in range(n - 1):
            a, b, c, d = j * n + i, j * n + i + 1, (j + 1) * n + i, (j + 1) * n + i + 1
            faces += [(a, b, d), (a, d, c)]
    return verts, np.array(faces, dtype=np.int64)


def test_bone_partners():
    idx = bone_mirror_index(BONES)
    names = [BONES[i] for i in idx]
    assert names == ["Hips", "RHipJoint", "RightUpLeg", "Spine", "RightArm", "LeftArm", "LHipJoint", "LeftUpLeg", "arm.R", "arm.L"]
    assert np.array_equal(idx[idx], np.arange(len(BONES)))
    with pytest.raises(MirrorError, match="LeftHand.*no mirror partner.*RightHand"):
        bone_mirror_index(("Hips", "LeftHand"))


def test_mirror_points_of_an_asymmetric_triangulation():
    verts, faces = strip()
    m = garment_mirror_map(verts, faces, ("Hips",))
    got = np.einsum("vkc,vk->vc", verts[m.corners], m.bary)
    # The mirror point of (x, y) is (-x, y); (-0.2, 0) -> (0.2, 0), halfway between the columns at -0.2 and 0.6.
    np.testing.assert_allclose(got, verts * [-1, 1, 1], atol=1e-12)
    np.testing.assert_allclose(m.bary.sum(1), 1.0)
    w = dict(zip(m.corners[1].tolist(), m.bary[1].tolist()))
    assert w.get(1, 0) == pytest.approx(0.5) and w.get(2, 0) == pytest.approx(0.5)
    assert m.surface_error.max() < 1e-12


def test_mirror_track_of_a_translated_strip():
    verts, faces = strip()
    bones = ("LeftArm", "Spine", "RightArm")
    m = garment_mirror_map(verts, faces, bones)
    F = 3
    T = np.tile(np.eye(4), (F, 3, 1, 1))
    shift = np.array([[0.1, 0.2, 0.3], [0.4, -0.5, 0.6], [-0.7, 0.8, 0.9]])
    T[:, 0, :3, 3] = shift  # only the left arm moves
    X = verts[None] + shift[:, None]
    body = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    bfaces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], dtype=np.int32)
    tr = Track(name="t", motion="walk", fps=30.0, verts=X.astype(np.float32), transforms=T.astype(np.float32),
               body_verts=np.tile(body, (F, 1, 1)).astype(np.float32), body_faces=bfaces, meta={"a": 1})
    mt = mirror_track(tr, m)
    assert mt.name == "t" + MIRROR_SUFFIX and mt.motion == "walk" and mt.meta == {"a": 1, "mirrored": True}
    # S (v* + t) = v + S t: every vertex moves by the reflected shift.
    np.testing.assert_allclose(mt.verts, verts[None] + (shift * [-1, 1, 1])[:, None], atol=1e-6)
    # The left arm's motion is now the right arm's, reflected; the others stay identity.
    np.testing.assert_allclose(mt.transforms[:, 2, :3, 3], shift * [-1, 1, 1], atol=1e-6)
    np.testing.assert_allclose(mt.transforms[:, 0], np.tile(np.eye(4), (F, 1, 1)), atol=1e-7)
    np.testing.assert_allclose(mt.transforms[:, 1], np.tile(np.eye(4), (F, 1, 1)), atol=1e-7)
    # Body reflected with its winding reversed: outward normals are the reflected outward normals.
    np.testing.assert_allclose(mt.body_verts, tr.body_verts * [-1, 1, 1])
    np.testing.assert_allclose(face_normals(mt.body_verts[0], mt.body_faces), face_normals(body, bfaces) * [-1, 1, 1], atol=1e-6)
    # Mirroring twice gives the track back (exactly here: the strip's rows map onto themselves).
    back = mirror_track(mt, m)
    np.testing.assert_allclose(back.verts, tr.verts, atol=1e-6)
    np.testing.assert_allclose(back.transforms, tr.transforms, atol=1e-6)
    both = mirror_tracks([tr], m)
    assert [t.name for t in both] == ["t", "t" + MIRROR_SUFFIX]


def test_rigid_rotation_is_mirrored_into_a_proper_rotation():
    verts, faces = strip()
    m = garment_mirror_map(verts, faces, ("Hips",))
    c, s = np.cos(0.7), np.sin(0.7)
    T = np.eye(4)[None, None].repeat(2, 0)
    T[1, 0, :3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]  # a turn about the vertical y axis
    X = np.einsum("fab,vb->fva", T[:, 0, :3, :3], verts)
    tr = Track(name="t", motion="turn", fps=30.0, verts=X.astype(np.float32), transforms=T.astype(np.float32))
    mt = mirror_track(tr, m)
    R = mt.transforms[1, 0, :3, :3].astype(np.float64)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(R, [[c, 0, -s], [0, 1, 0], [s, 0, c]], atol=1e-6)  # the opposite turn
    np.testing.assert_allclose(mt.verts[1], verts @ R.T, atol=1e-6)  # the garment follows the mirrored bone


def test_errors_for_asymmetric_garments_and_rigs():
    verts, faces = strip()
    bent = verts.copy()
    bent[bent[:, 0] > 0.5, 2] = 0.05  # the right edge lifted 5 cm
    with pytest.raises(MirrorError, match="garment is not left-right symmetric"):
        garment_mirror_map(bent, faces, ("Hips",))
    heads = np.array([[0.2, 1.0, 0.0], [-0.25, 1.0, 0.0]])
    with pytest.raises(MirrorError, match="rig is not left-right symmetric.*LeftArm"):
        garment_mirror_map(verts, faces, ("LeftArm", "RightArm"), rest_heads=heads)
    m = garment_mirror_map(verts, faces, ("LeftArm", "RightArm"), rest_heads=np.array([[0.2, 1.0, 0.0], [-0.2, 1.0, 0.0]]))
    tr = Track(name="t", motion="m", fps=30.0, verts=np.zeros((2, 5, 3), np.float32), transforms=np.tile(np.eye(4, dtype=np.float32), (2, 2, 1, 1)))
    with pytest.raises(MirrorError, match="5 garment vertices, the mirror map has 8"):
        mirror_track(tr, m)
    data = synthetic_training_data(motions=1, frames=8)
    with pytest.raises(MirrorError, match="no garment template"):
        mirror_map_for(data)


def test_synthetic_prism_mirror_is_an_involution():
    data = synthetic_training_data(motions=1, frames=8)
    data = replace(data, template_verts=data.reference.verts)
    m = mirror_map_for(data)
    tr = data.tracks[0]
    back = mirror_track(mirror_track(tr, m), m)
    np.testing.assert_allclose(back.verts, tr.verts, atol=1e-5)
    np.testing.assert_allclose(back.transforms, tr.transforms, atol=1e-6)
