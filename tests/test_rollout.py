import numpy as np
import pytest

pytest.importorskip("torch")

from drape.model.dynamics import GarmentDynamicsModel, ModelConfig  # noqa: E402
from drape.model.features import NormalizerFit, pose, sequence_samples  # noqa: E402
from drape.model.synthetic import synthetic_motion, synthetic_reference, synthetic_sequence  # noqa: E402
from drape.rollout import rollout, teacher_forced  # noqa: E402
from drape.types import DrapeError, GarmentState, SkeletonState  # noqa: E402

CFG = ModelConfig(image_size=32, widths="16,32", film_hidden=32)


def _skel(T):
    return SkeletonState(np.zeros(T.shape[:2] + (3,), np.float32), T[:, :, :3, :3].copy(), T)


def _model(seed):
    ref = synthetic_reference(5, 5)
    T = synthetic_motion(20, seed=0)
    s = sequence_samples(ref, synthetic_sequence(ref.verts, T), T, CFG.features)
    fit = NormalizerFit()
    fit.add(s["vertex"], s["global"], s["target"])
    model = GarmentDynamicsModel(CFG, ref, fit.result(), seed=seed)
    # Perturb the zero-initialised head so the rollout exercises the network output.
    import torch

    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        for p in model.net.head_b.parameters():
            p.copy_(1e-2 * torch.randn(p.shape, generator=g))
    return model


def test_rollout_shapes_and_determinism():
    T = synthetic_motion(12, seed=5)
    m1, m2 = _model(0), _model(0)
    X = synthetic_sequence(m1.reference.verts, T)
    init = [GarmentState(X[f], np.zeros_like(X[f])) for f in range(3)]
    a = rollout(m1, init, _skel(T))
    b = rollout(m2, init, _skel(T))
    assert a.shape == (12, m1.reference.vert_count, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a[:3], X[:3])
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all()
    c = rollout(_model(1), init, _skel(T))
    assert not np.array_equal(a[3:], c[3:])


def test_rollout_fresh_model_is_rigid_carry():
    """A fresh model (zero head, identity normaliser) carries a fixed canonical shape with the skeleton:
    the last initial frame's ("delta") or the reference drape ("offset")."""
    import dataclasses

    ref = synthetic_reference(4, 4)
    T = synthetic_motion(8, seed=2)
    X = synthetic_sequence(ref.verts, T) + 0.01
    init = [GarmentState(X[f], np.zeros_like(X[f])) for f in range(3)]
    R, t = T[2, 0, :3, :3], T[2, 0, :3, 3]
    for prediction, canon in (("delta", (X[2] - t) @ R), ("offset", ref.verts)):
        model = GarmentDynamicsModel(dataclasses.replace(CFG, prediction=prediction), ref)
        out = rollout(model, init, _skel(T))
        np.testing.assert_allclose(out[3:], pose(ref, np.broadcast_to(canon, (5,) + canon.shape), T[3:]), atol=1e-4)
    with pytest.raises(DrapeError, match="initial garment states"):
        rollout(model, init[:2], _skel(T))


def test_teacher_forced_reads_the_given_history():
    """Frame 3 of a rollout and of teacher forcing come from the same true frames 0-2; later
    teacher-forced frames equal a 1-step rollout started at frame f-3 of the truth."""
    T = synthetic_motion(9, seed=2)
    model = _model(1)
    X = synthetic_sequence(model.reference.verts, T)
    skel = _skel(T)
    tf = teacher_forced(model, X, skel)
    assert tf.shape == (6,) + X.shape[1:]
    init = [GarmentState(X[f], np.zeros_like(X[f])) for f in range(3)]
    np.testing.assert_array_equal(tf[0], rollout(model, init, skel)[3])
    f = 7
    init = [GarmentState(X[g], np.zeros_like(X[g])) for g in range(f - 3, f)]
    part = SkeletonState(skel.joint_positions[f - 3 : f + 1], skel.joint_rotations[f - 3 : f + 1], T[f - 3 : f + 1])
    np.testing.assert_array_equal(tf[f - 3], rollout(model, init, part)[3])
    with pytest.raises(DrapeError, match="teacher_forced"):
        teacher_forced(model, X[:5], skel)
