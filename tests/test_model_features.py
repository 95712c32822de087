import numpy as np
import pytest

from drape.model.features import (
    BODY_PARTS,
    FeatureConfig,
    NormalizerFit,
    body_part_matrix,
    build_reference,
    closest_points_on_mesh,
    global_channel_count,
    global_features,
    offset_space_weights,
    pose,
    pose_with,
    sequence_samples,
    skeleton_joint_index,
    skin,
    target_skinning,
    unskin,
    vertex_channel_names,
    vertex_features,
)
from drape.model.synthetic import axis_angle_matrix, synthetic_motion, synthetic_reference, synthetic_sequence, two_bone_rig
from drape.types import DrapeError

CMU = ('Hips', 'LHipJoint', 'LeftUpLeg', 'LeftLeg', 'LeftFoot', 'LeftToeBase', 'LowerBack', 'Spine', 'Spine1',
       'LeftShoulder', 'LeftArm', 'LeftForeArm', 'LeftHand', 'LThumb', 'LeftFingerBase', 'LeftHandFinger1', 'Neck',
       'Neck1', 'Head', 'RightShoulder', 'RightArm', 'RightForeArm', 'RightHand', 'RThumb', 'RightFingerBase',
       'RightHandFinger1', 'RHipJoint', 'RightUpLeg', 'RightLeg', 'RightFoot', 'RightToeBase')

FPS = 30.0
G = np.array([[0.0, 0.0, 0.1], [0.1, 0.0, 0.3], [0.0, 0.1, -0.05]], dtype=np.float32)  # garment rest verts
SKIN = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], dtype=np.float32)  # root / spine / half-half


def tiny_reference(offset_space="lbs"):
    rig = two_bone_rig()
    body_v = np.array([[-10, -10, 0], [10, -10, 0], [0, 10, 0]], dtype=np.float32)  # plane z = 0, normal +z
    body_w = np.array([[1.0, 0.0]] * 3, dtype=np.float32)
    uv = np.array([[[0.1, 0.1], [0.9, 0.1], [0.1, 0.9]]], dtype=np.float32)
    return build_reference(
        name="tiny", faces=np.array([[0, 1, 2]]), atlas_uv=uv, rest_drape=G, bone_names=rig.bone_names,
        body_rest_verts=body_v, body_faces=np.array([[0, 1, 2]]), body_skin_weights=body_w,
        rest_root=rig.rest_heads[0], skin_weights=SKIN, offset_space=offset_space,
    )


def test_hand_computed_translation():
    ref = tiny_reference()
    cfg = FeatureConfig(window=2, fps=FPS, contact_threshold=0.1, contact_flag="step")
    rig = two_bone_rig()
    I = np.tile(np.eye(3), (4, 1, 1))
    root_t = np.array([[0.1 * f, 0.0, 0.0] for f in range(4)])
    T = rig.transforms(I, root_t, I)
    k = np.array([1.0, 2.0, 3.0])[:, None]
    d = [np.zeros(3), np.array([0, 0, 0.01]), np.array([0, 0, 0.03])]
    hist = np.stack([G + k * d[f] + root_t[f] for f in range(3)]).astype(np.float32)
    vf, c_t = vertex_features(ref, hist, T, cfg)
    names = vertex_channel_names(2)
    assert vf.shape == (3, len(names))
    col = {n: i for i, n in enumerate(names)}
    get = lambda *ns: vf[:, [col[n] for n in ns]]  # noqa: E731
    np.testing.assert_allclose(c_t, G + k * d[2], atol=1e-6)
    np.testing.assert_allclose(get("offset_x", "offset_y", "offset_z"), k * [0, 0, 0.03], atol=1e-6)
    np.testing.assert_allclose(get("vel_x", "vel_y", "vel_z"), k * [0, 0, 0.6], atol=1e-4)
    np.testing.assert_allclose(get("acc_x", "acc_y", "acc_z"), k * [0, 0, 9.0], atol=2e-3)
    np.testing.assert_allclose(get("drive_x", "drive_y", "drive_z"), [[3.0, 0, 0]] * 3, atol=1e-4)
    dist = G[:, 2] + 0.03 * k[:, 0]
    np.testing.assert_allclose(get("contact_dist")[:, 0], dist, atol=1e-6)
    np.testing.assert_array_equal(get("contact_flag")[:, 0], [0, 0, 1])
    # The ramp flag: clip(1.5 - d / 0.1, 0, 1) for d = 0.13, 0.36, 0.04; every other channel unchanged.
    vf_ramp, _ = vertex_features(ref, hist, T, FeatureConfig(window=2, fps=FPS, contact_threshold=0.1, contact_flag="ramp"))
    np.testing.assert_allclose(vf_ramp[:, col["contact_flag"]], [0.2, 0.0, 1.0], atol=1e-5)
    others = [i for i in range(len(names)) if i != col["contact_flag"]]
    np.testing.assert_array_equal(vf_ramp[:, others], vf[:, others])
    np.testing.assert_allclose(get("contact_x", "contact_y", "contact_z"), np.c_[0 * dist, 0 * dist, dist], atol=1e-6)
    np.testing.assert_allclose(get("ref_x", "ref_y", "ref_z"), G, atol=1e-7)
    np.testing.assert_array_equal(get(*[f"part_{p}" for p in BODY_PARTS]), [[1, 0, 0, 0, 0, 0]] * 3)
    g = global_features(ref, T, cfg)
    np.testing.assert_allclose(g, [1, 0, 0, 0, 1, 0] + [0, 0, 1] + [3, 0, 0] + [3, 0, 0] + [0] * 6, atol=1e-4)


def test_hand_computed_rotation():
    ref = tiny_reference()
    cfg = FeatureConfig(window=1, fps=FPS)
    rig = two_bone_rig()
    yaw = 0.1 * np.arange(3)
    Rroot = axis_angle_matrix(np.array([0.0, 0.0, 1.0]), yaw)
    Rchild = np.tile(np.eye(3), (3, 1, 1))
    Rchild[2] = axis_angle_matrix(np.array([1.0, 0.0, 0.0]), np.array(0.3))
    T = rig.transforms(Rroot, np.zeros((3, 3)), Rchild)
    hist = np.stack([G @ Rroot[f].T for f in range(2)]).astype(np.float32)  # rigid with the root
    vf, c_t = vertex_features(ref, hist, T, cfg)
    col = {n: i for i, n in enumerate(vertex_channel_names(1))}
    np.testing.assert_allclose(c_t, G, atol=1e-6)
    np.testing.assert_allclose(vf[:, col["vel_x"]:col["vel_z"] + 1], 0, atol=1e-4)
    # Vertex 0 (root only): drive = (R2 g - R1 g) * fps in the target root frame = (g - Rz(-0.1) g) * fps.
    Rz = axis_angle_matrix(np.array([0.0, 0.0, 1.0]), np.array(-0.1))
    np.testing.assert_allclose(vf[0, col["drive_x"]:col["drive_z"] + 1], (G[0] - Rz @ G[0]) * FPS, atol=1e-4)
    # Vertex 1 (spine only): its target position is the spine's transform of g.
    T1 = T[2, 1]
    target1 = T1[:3, :3] @ G[1] + T1[:3, 3]
    expect = Rroot[2].T @ (target1 - hist[1, 1]) * FPS
    np.testing.assert_allclose(vf[1, col["drive_x"]:col["drive_z"] + 1], expect, atol=1e-4)
    g = global_features(ref, T, cfg)
    Rx = axis_angle_matrix(np.array([1.0, 0.0, 0.0]), np.array(0.3))
    np.testing.assert_allclose(g[:6], np.r_[Rx[:, 0], Rx[:, 1]], atol=1e-6)
    np.testing.assert_allclose(g[6:9], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(g[9:15], 0, atol=1e-5)  # the root head stays at the origin
    np.testing.assert_allclose(g[15:18], [0, 0, 0.1 * FPS], atol=1e-4)
    np.testing.assert_allclose(g[18:21], [0, 0, 0.1 * FPS], atol=1e-4)


def test_one_target_blend_drives_the_features_and_poses_like_pose():
    ref = synthetic_reference()
    T = synthetic_motion(4, seed=5).astype(np.float32)
    rng = np.random.default_rng(1)
    hist = (ref.verts[None] + rng.normal(0, 0.01, (3,) + ref.verts.shape)).astype(np.float32)
    cfg = FeatureConfig(window=2)
    blend = target_skinning(ref, T[-1])
    np.testing.assert_array_equal(pose_with(blend, hist[-1]), pose(ref, hist[-1], T[-1]))
    np.testing.assert_array_equal(vertex_features(ref, hist, T, cfg, target_blend=blend)[0], vertex_features(ref, hist, T, cfg)[0])


def test_unskin_inverts_skin_and_root_space_is_rigid():
    rng = np.random.default_rng(0)
    T = synthetic_motion(5, seed=3)
    pts = rng.normal(size=(5, 3, 3))
    world = skin(SKIN, T, pts)
    np.testing.assert_allclose(unskin(SKIN, T, world), pts, atol=1e-5)
    ref = tiny_reference("root")
    assert ref.offset_space == "root"
    np.testing.assert_array_equal(ref.frame_weights, [[1, 0]] * 3)
    R, t = T[:, 0, :3, :3], T[:, 0, :3, 3]
    np.testing.assert_allclose(unskin(ref.frame_weights, T, world), np.einsum("fba,fvb->fva", R, world - t[:, None]), atol=1e-5)


def test_torch_features_match_numpy_and_have_gradients():
    torch = pytest.importorskip("torch")
    ref = synthetic_reference(4, 4, offset_space="root")
    cfg = FeatureConfig(window=2)
    T = synthetic_motion(6, seed=1)
    X = synthetic_sequence(ref.verts, T)
    hist, win = X[1:4], T[1:5]
    vf, c_t = vertex_features(ref, hist, win, cfg)
    h = torch.tensor(hist[None].astype(np.float64), requires_grad=True)
    vt, ct = vertex_features(ref, h, torch.from_numpy(win[None]), cfg)
    np.testing.assert_allclose(vt[0].detach().numpy(), vf, atol=2e-4)
    vt[..., :3].sum().backward()
    assert torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0


def test_closest_points_exact():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float64)
    f = np.array([[0, 1, 2]])
    p = np.array([[0.2, 0.2, 0.5], [0.5, -1, 0], [2, -1, 0], [1, 1, 0]])
    face, bary, dist = closest_points_on_mesh(p, v, f)
    np.testing.assert_array_equal(face, 0)
    np.testing.assert_allclose(bary, [[0.6, 0.2, 0.2], [0.5, 0.5, 0], [0, 1, 0], [0, 0.5, 0.5]], atol=1e-12)
    np.testing.assert_allclose(dist, [0.5, 1, np.sqrt(2), np.sqrt(0.5)], atol=1e-12)


def test_closest_points_match_brute_force():
    from drape.model.synthetic import prism_garment

    v, f, _ = prism_garment(4, 4)
    rng = np.random.default_rng(0)
    p = rng.uniform(-0.3, 0.5, size=(50, 3))
    _, _, dist = closest_points_on_mesh(p, v, f, candidates=len(f))
    # Brute force: dense samples of every triangle (upper bound converging to the true distance).
    s = rng.dirichlet([1, 1, 1], size=2000)
    dense = np.einsum("sk,tkd->tsd", s, v[f]).reshape(-1, 3)
    brute = np.sqrt(((p[:, None] - dense[None]) ** 2).sum(-1)).min(1)
    assert (dist <= brute + 1e-9).all()
    np.testing.assert_allclose(dist, brute, atol=0.015)


def test_body_parts_and_offset_spaces():
    M = body_part_matrix(CMU)
    part = {n: BODY_PARTS[int(np.argmax(M[j]))] for j, n in enumerate(CMU)}
    assert part["LHipJoint"] == "left_leg" and part["RightToeBase"] == "right_leg"
    assert part["LThumb"] == "left_arm" and part["RightHandFinger1"] == "right_arm"
    assert part["LowerBack"] == "torso" and part["Hips"] == "torso" and part["Neck1"] == "head"
    W = np.zeros((2, len(CMU)), dtype=np.float32)
    W[0, CMU.index("LeftUpLeg")] = 0.7
    W[0, CMU.index("Spine")] = 0.3
    W[1, CMU.index("RightArm")] = 1.0
    torso, name = offset_space_weights(W, CMU, "auto", kind="skirt")
    assert name == "torso"
    assert torso[0, 0] == pytest.approx(0.7) and torso[0, CMU.index("Spine")] == pytest.approx(0.3)
    assert torso[0, CMU.index("LeftUpLeg")] == 0 and torso[1, CMU.index("RightArm")] == 1
    lbs, name = offset_space_weights(W, CMU, "auto", kind="tshirt")
    assert name == "lbs" and np.array_equal(lbs, W)
    with pytest.raises(DrapeError, match="offset space"):
        offset_space_weights(W, CMU, "bogus")


def test_sequence_samples_and_normalizer():
    ref = synthetic_reference(4, 4)
    cfg = FeatureConfig(window=2, prediction="delta")
    T = synthetic_motion(12, seed=0)
    X = synthetic_sequence(ref.verts, T)
    s = sequence_samples(ref, X, T, cfg)
    off = sequence_samples(ref, X, T, FeatureConfig(window=2, prediction="offset"))
    np.testing.assert_array_equal(off["vertex"], s["vertex"])
    N = 12 - 3
    assert s["vertex"].shape == (N, ref.vert_count, len(vertex_channel_names(2)))
    assert s["global"].shape == (N, 6 * 1 + 15)
    # Target = canonical(t+1) - canonical(t), which for root space equals the synthetic offset change.
    R, t = T[:, 0, :3, :3].astype(np.float64), T[:, 0, :3, 3].astype(np.float64)
    canon = np.einsum("fba,fvb->fva", R, X - t[:, None])
    np.testing.assert_allclose(s["target"], canon[3:] - canon[2:-1], atol=1e-5)
    np.testing.assert_allclose(off["target"], canon[3:] - ref.verts, atol=1e-5)  # "offset": from the reference
    fit = NormalizerFit()
    fit.add(s["vertex"], s["global"], s["target"])
    n = fit.result()
    flat = s["vertex"].reshape(-1, s["vertex"].shape[-1])
    np.testing.assert_allclose(n.vertex_mean, flat.mean(0), atol=1e-5)
    std = flat.std(0)
    np.testing.assert_allclose(n.vertex_std, np.where(std < 1e-6, 1, std), rtol=1e-3, atol=1e-6)


HAND_RIG = ("Hips", "LeftForeArm", "LeftHand", "LeftHandFinger1", "RightForeArm", "RightHand", "RightHandFinger1")
HAND_HEADS = np.array([[0, 0, 0], [0.3, 0, 0], [0.5, 0, 0], [0.6, 0, 0], [-0.3, 0, 0], [-0.5, 0, 0], [-0.6, 0, 0]],
                      dtype=np.float32)


def hand_reference(rest_heads=HAND_HEADS):
    body_v = np.array([[-10, -10, -1], [10, -10, -1], [0, 10, -1]], dtype=np.float32)
    w = np.zeros((3, len(HAND_RIG)), dtype=np.float32)
    w[:, 0] = 1.0
    g = np.array([[0.4, 0.05, 0.0], [0.7, 0.0, 0.1], [-0.4, 0.0, 0.1]], dtype=np.float32)
    uv = np.array([[[0.1, 0.1], [0.9, 0.1], [0.1, 0.9]]], dtype=np.float32)
    return build_reference(
        name="hands", faces=np.array([[0, 1, 2]]), atlas_uv=uv, rest_drape=g, bone_names=HAND_RIG,
        body_rest_verts=body_v, body_faces=np.array([[0, 1, 2]]), body_skin_weights=w, rest_root=HAND_HEADS[0],
        skin_weights=w, rest_heads=rest_heads,
    )


def hand_transforms():
    T = np.tile(np.eye(4, dtype=np.float32), (4, len(HAND_RIG), 1, 1))
    T[3, 4:, 2, 3] = 0.1  # target frame: the right forearm and hand 10 cm up
    return T


def test_hand_channels_hand_computed():
    ref = hand_reference()
    cfg = FeatureConfig(window=2, hands=True)
    hist = np.repeat(ref.verts[None], 3, 0)
    vf, _ = vertex_features(ref, hist, hand_transforms(), cfg)
    names = vertex_channel_names(2, hands=True)
    assert vf.shape == (3, len(names)) and names[: len(vertex_channel_names(2))] == vertex_channel_names(2)
    col = {n: i for i, n in enumerate(names)}
    get = lambda *ns: vf[:, [col[n] for n in ns]]  # noqa: E731
    # v0 over the left forearm (5 cm), v1 past the left fingers, v2 on the raised right forearm.
    np.testing.assert_allclose(get("handl_x", "handl_y", "handl_z"), [[0, -0.05, 0], [-0.1, 0, -0.1], [0.7, 0, -0.1]], atol=1e-6)
    np.testing.assert_allclose(get("handl_near")[:, 0], [1 - 0.05 / 0.15, 1 - np.sqrt(0.02) / 0.15, 0.0], atol=1e-5)
    np.testing.assert_allclose(get("handr_x", "handr_y", "handr_z")[2], [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(get("handr_near")[:, 0], [0, 0, 1], atol=1e-5)
    # The channels before the hand ones are those of a model without them.
    np.testing.assert_array_equal(vf[:, : len(vertex_channel_names(2))], vertex_features(ref, hist, hand_transforms(), FeatureConfig(window=2))[0])


def test_hand_channels_torch_matches_numpy_and_reference_round_trip():
    torch = pytest.importorskip("torch")
    from drape.model.features import GarmentReference

    ref = hand_reference()
    back = GarmentReference.from_arrays(ref.header(), ref.to_arrays())
    np.testing.assert_array_equal(back.rest_heads, HAND_HEADS)
    cfg = FeatureConfig(window=2, hands=True)
    rng = np.random.default_rng(3)
    hist = (ref.verts[None] + rng.normal(0, 0.02, (3, 3, 3))).astype(np.float32)
    T = hand_transforms()
    vf, _ = vertex_features(back, hist, T, cfg)
    vt, _ = vertex_features(ref, torch.from_numpy(hist[None]), torch.from_numpy(T[None]), cfg)
    np.testing.assert_allclose(vt[0].numpy(), vf, atol=1e-5)


def test_hand_channels_match_a_point_by_point_reference():
    """The batched hand channels against nearest points on each polyline found one point at a time."""
    from drape.model.features import HAND_REACH, hand_channels

    ref = hand_reference()
    rng = np.random.default_rng(7)
    T = np.tile(np.eye(4, dtype=np.float32), (len(HAND_RIG), 1, 1))
    T[:, :3, :3] = axis_angle_matrix(rng.normal(size=(len(HAND_RIG), 3)), rng.uniform(0, 1.0, len(HAND_RIG)))
    T[:, :3, 3] = rng.normal(scale=0.2, size=(len(HAND_RIG), 3))
    R1 = T[0, :3, :3]
    points = rng.normal(scale=0.5, size=(200, 3)).astype(np.float32)
    got = hand_channels(ref, ref.arrays(), points, T, R1)
    heads = np.einsum("bij,bj->bi", T[:, :3, :3], HAND_HEADS.astype(np.float64)) + T[:, :3, 3]  # world heads
    for side, chain in enumerate(((1, 2, 3), (4, 5, 6))):
        for v, p in enumerate(points.astype(np.float64)):
            best = None
            for a, b in zip(chain[:-1], chain[1:]):
                seg = heads[b] - heads[a]
                t = np.clip(np.dot(p - heads[a], seg) / np.dot(seg, seg), 0, 1)
                vec = heads[a] + t * seg - p
                if best is None or np.dot(vec, vec) < np.dot(best, best):
                    best = vec
            np.testing.assert_allclose(got[2 * side][v], R1.T @ best, atol=2e-6)
            np.testing.assert_allclose(got[2 * side + 1][v, 0], max(0.0, 1 - np.linalg.norm(best) / HAND_REACH), atol=2e-6)


def test_hand_channels_need_the_bones_and_heads():
    arrays = hand_reference().to_arrays()
    arrays.pop("rest_heads")
    from drape.model.features import GarmentReference

    old = GarmentReference.from_arrays(hand_reference().header(), arrays)  # a reference saved before rest heads
    assert old.rest_heads is None
    hist = np.repeat(old.verts[None], 3, 0)
    with pytest.raises(DrapeError, match="no rest bone heads"):
        vertex_features(old, hist, hand_transforms(), FeatureConfig(window=2, hands=True))
    rig = tiny_reference()
    with pytest.raises(DrapeError, match="no bone 'LeftForeArm'"):
        vertex_features(rig, np.repeat(G[None], 3, 0), two_bone_rig().transforms(*[np.tile(np.eye(3), (4, 1, 1))] * 1,
                        np.zeros((4, 3)), np.tile(np.eye(3), (4, 1, 1))), FeatureConfig(window=2, hands=True))
    with pytest.raises(DrapeError, match="rest_heads"):
        hand_reference(rest_heads=HAND_HEADS[:3])


def test_skeleton_joint_subset_reads_only_the_listed_bones():
    """Listed bones keep their columns of the full skeleton features (in rig order, whatever the list's order);
    the root terms (up vector, velocities) stay; unknown bones and the root are refused by name."""
    ref = hand_reference()
    rng = np.random.default_rng(3)
    T = np.tile(np.eye(4, dtype=np.float32), (3, len(HAND_RIG), 1, 1))
    axes = rng.normal(size=(3, len(HAND_RIG), 3))
    T[..., :3, :3] = axis_angle_matrix(axes / np.linalg.norm(axes, axis=-1, keepdims=True), rng.uniform(0.1, 1.0, (3, len(HAND_RIG))))
    T[..., :3, 3] = rng.normal(scale=0.1, size=(3, len(HAND_RIG), 3))
    full = global_features(ref, T, FeatureConfig(window=2, fps=FPS))
    joints = ("RightHand", "LeftForeArm")
    sub = global_features(ref, T, FeatureConfig(window=2, fps=FPS, skeleton_joints=joints))
    idx = skeleton_joint_index(ref.bone_names, joints)
    np.testing.assert_array_equal(idx, [1, 5])
    cols = np.r_[0:6, 24:30, full.shape[-1] - 15 : full.shape[-1]]  # bones 1 and 5 (6 columns each from bone 1), root terms
    np.testing.assert_array_equal(sub, full[cols])
    assert sub.shape == (global_channel_count(len(HAND_RIG), 2),) and full.shape == (global_channel_count(len(HAND_RIG)),)
    np.testing.assert_array_equal(skeleton_joint_index(ref.bone_names), np.arange(1, len(HAND_RIG)))
    with pytest.raises(DrapeError, match="'Tail'"):
        skeleton_joint_index(ref.bone_names, ("RightHand", "Tail"))
    with pytest.raises(DrapeError, match="root"):
        skeleton_joint_index(ref.bone_names, ("Hips",))
