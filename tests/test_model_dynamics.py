import numpy as np
import pytest

torch = pytest.importorskip("torch")

from drape.model.dynamics import GarmentDynamicsModel, ModelConfig  # noqa: E402
from drape.model.features import NormalizerFit, pose, sequence_samples  # noqa: E402
from drape.model.net import FiLMUNet, NetConfig, param_count  # noqa: E402
from drape.model.synthetic import synthetic_motion, synthetic_reference, synthetic_sequence  # noqa: E402
from drape.model.uv import UVMapper  # noqa: E402
from drape.geometry.uv_raster import build_raster_map, rasterize, sample  # noqa: E402
from drape.types import DrapeError, GarmentState, SkeletonState  # noqa: E402

SMALL = ModelConfig(image_size=32, widths="16,32", film_hidden=32, feature_clip=0.0)  # clip: its own test


def _skeleton(T):
    F, J = T.shape[:2]
    return SkeletonState(np.zeros((F, J, 3), np.float32), T[:, :, :3, :3].copy(), T)


def _dataset(ref, cfg, seeds=(0, 1), frames=40):
    parts = []
    for s in seeds:
        T = synthetic_motion(frames, seed=s)
        X = synthetic_sequence(ref.verts, T)
        parts.append(sequence_samples(ref, X, T, cfg.features))
    return {k: np.concatenate([p[k] for p in parts]) for k in ("vertex", "global", "target")}


def test_torch_uv_matches_numpy_and_is_differentiable():
    ref = synthetic_reference(5, 5)
    m = build_raster_map(ref.atlas_uv, ref.faces, 32, vert_count=ref.vert_count)
    mapper = UVMapper(m)
    x = np.random.default_rng(0).normal(size=(2, ref.vert_count, 4)).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_(True)
    img = mapper.rasterize(xt)
    np.testing.assert_allclose(img.detach().numpy(), rasterize(x, m), atol=1e-5)
    back = mapper.sample(img)
    np.testing.assert_allclose(back.detach().numpy(), sample(rasterize(x, m), m), atol=1e-5)
    back.sum().backward()
    assert xt.grad.abs().sum() > 0


def test_single_frame_inference_path_matches_the_batched_gathers():
    """Rasterize -> network -> sample of one frame in inference mode (sparse products, channels-last map)
    against the autograd path's gathers, on a trained-looking (non-zero) network."""
    ref = synthetic_reference(6, 6)
    model = GarmentDynamicsModel(SMALL, ref)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    rng = np.random.default_rng(1)
    C = model.vertex_channels
    vf = torch.from_numpy(rng.normal(size=(1, ref.vert_count, C)).astype(np.float32))
    gf = torch.from_numpy(rng.normal(size=(1, model.global_channels)).astype(np.float32))
    slow = model.forward_normalized(vf, gf).detach()  # grad enabled: the batched gathers
    with torch.inference_mode():
        fast = model.forward_normalized(vf, gf)
        img = model.mapper.feature_map_frame(vf[0])
    assert fast.shape == slow.shape == (1, ref.vert_count, 3) and float(slow.abs().max()) > 1e-3
    np.testing.assert_allclose(fast.numpy(), slow.numpy(), rtol=1e-5, atol=1e-5)
    ref_img = torch.cat([model.mapper.rasterize(vf), model.mapper.mask.expand(1, 1, 32, 32)], 1)
    assert img.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(img.numpy(), ref_img.numpy(), atol=1e-5)
    with pytest.raises(DrapeError, match="feature_map_frame"):
        model.mapper.feature_map_frame(vf)


def test_net_shapes_and_size():
    net = FiLMUNet(24, 195, NetConfig())
    with torch.no_grad():
        out = net(torch.zeros(2, 24, 64, 64), torch.zeros(2, 195))
    assert out.shape == (2, 3, 64, 64)
    assert float(out.abs().max()) == 0.0  # zero-initialised head
    assert param_count(net) < 1_000_000


def test_fresh_model_carries_garment_with_skeleton():
    import dataclasses

    ref = synthetic_reference(6, 6)
    model = GarmentDynamicsModel(dataclasses.replace(SMALL, prediction="delta"), ref)
    T = synthetic_motion(4, seed=2)
    X = synthetic_sequence(ref.verts, T)
    hist = tuple(GarmentState(X[f], np.zeros_like(X[f])) for f in range(3))
    out = model.step(hist, _skeleton(T))
    assert isinstance(out, GarmentState) and out.verts.shape == (ref.vert_count, 3)
    # prediction="delta", identity normaliser + zero head: no offset change, so next = pose(canonical(t), skeleton(t+1)).
    R, t = T[2, 0, :3, :3], T[2, 0, :3, 3]
    canon = (X[2] - t) @ R
    np.testing.assert_allclose(out.verts, pose(ref, canon, T[3]), atol=1e-5)
    np.testing.assert_allclose(out.velocities, (out.verts - X[2]) * 30.0, atol=1e-3)
    with pytest.raises(DrapeError, match="bone_transforms"):
        model.step(hist, _skeleton(T[:3]))
    with pytest.raises(DrapeError, match="history"):
        model.step(hist[:2], _skeleton(T[:3]))


def test_offset_prediction_is_relative_to_the_reference():
    """prediction="offset": a fresh model (zero head, identity normaliser) puts the garment back on the
    reference drape posed by the target skeleton, whatever the history; targets are canonical - reference."""
    import dataclasses

    cfg = SMALL
    assert cfg.prediction == "offset"  # the default
    ref = synthetic_reference(6, 6)
    model = GarmentDynamicsModel(cfg, ref)
    T = synthetic_motion(4, seed=3)
    X = synthetic_sequence(ref.verts, T) + 0.01  # history off the reference
    hist = tuple(GarmentState(X[f], np.zeros_like(X[f])) for f in range(3))
    out = model.step(hist, _skeleton(T))
    np.testing.assert_allclose(out.verts, pose(ref, ref.verts, T[3]), atol=1e-5)
    s = sequence_samples(ref, X, T, cfg.features)
    R, t = T[3, 0, :3, :3], T[3, 0, :3, 3]
    np.testing.assert_allclose(s["target"][-1], (X[3] - t) @ R - ref.verts, atol=1e-5)
    with pytest.raises(DrapeError, match="prediction"):
        ModelConfig(prediction="accel").features


def test_feature_clip_bounds_the_network_input():
    """Vertex features beyond feature_clip standard deviations act as if they were at the clip."""
    import dataclasses

    ref = synthetic_reference(5, 5)
    data = _dataset(ref, SMALL, seeds=(0,), frames=12)
    fit = NormalizerFit()
    fit.add(data["vertex"], data["global"], data["target"])
    norm = fit.result()
    cfg = dataclasses.replace(SMALL, feature_clip=2.0)
    model = GarmentDynamicsModel(cfg, ref, norm, seed=1)
    with torch.no_grad():
        for p in model.net.head_b.parameters():
            p.normal_(0, 0.1)
    vf = torch.from_numpy(data["vertex"][:1]).clone()
    gf = torch.from_numpy(data["global"][:1])
    vf[0, :, 0] = torch.from_numpy(norm.vertex_mean[0] + 50 * norm.vertex_std[0] * np.ones(ref.vert_count, np.float32))
    at_clip = vf.clone()
    at_clip[0, :, 0] = float(norm.vertex_mean[0] + 2.0 * norm.vertex_std[0])
    with torch.no_grad():
        a, b = model.predict_delta(vf, gf), model.predict_delta(at_clip, gf)
        unclipped = GarmentDynamicsModel(dataclasses.replace(cfg, feature_clip=0.0), ref, norm, seed=1)
        unclipped.net.load_state_dict(model.net.state_dict())
        c = unclipped.predict_delta(vf, gf)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert not np.allclose(a.numpy(), c.numpy(), atol=1e-4)


def _train(seed, steps, data, ref):
    fit = NormalizerFit()
    fit.add(data["vertex"], data["global"], data["target"])
    model = GarmentDynamicsModel(SMALL, ref, fit.result(), seed=seed)
    opt = torch.optim.Adam(model.net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    V, G, Y = (torch.from_numpy(data[k]) for k in ("vertex", "global", "target"))
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(V), (8,), generator=gen)
        pred = model.forward_normalized(V[idx], G[idx])
        loss = torch.nn.functional.mse_loss(pred, model.normalize_target(Y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach().item())
    return model, losses


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_training_smoke_loss_decreases_and_is_deterministic(tmp_path, one_thread):
    ref = synthetic_reference(10, 10)
    assert ref.vert_count == 330
    data = _dataset(ref, SMALL)
    model, losses = _train(0, 80, data, ref)
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.6 * first, (first, last)
    model2, losses2 = _train(0, 80, data, ref)
    assert losses == losses2
    for a, b in zip(model.net.parameters(), model2.net.parameters()):
        assert torch.equal(a, b)
    # Save / load reproduces the step bit for bit.
    T = synthetic_motion(4, seed=7)
    X = synthetic_sequence(ref.verts, T)
    hist = tuple(GarmentState(X[f], np.zeros_like(X[f])) for f in range(3))
    out = model.step(hist, _skeleton(T))
    path = model.save(tmp_path / "m.npz")
    loaded = GarmentDynamicsModel.load(path)
    out2 = loaded.step(hist, _skeleton(T))
    np.testing.assert_array_equal(out.verts, out2.verts)
    assert loaded.reference.offset_space == ref.offset_space and loaded.config == SMALL
    # The trained step beats "no dynamics" against the synthetic ground truth.
    X_true = synthetic_sequence(ref.verts, synthetic_motion(4, seed=7))
    err_model = np.linalg.norm(out.verts - X_true[3], axis=1).mean()
    fresh = GarmentDynamicsModel(SMALL, ref).step(hist, _skeleton(T))
    err_fresh = np.linalg.norm(fresh.verts - X_true[3], axis=1).mean()
    assert err_model < err_fresh


def test_load_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, header=np.array('{"format": "other", "version": 1}'))
    with pytest.raises(DrapeError, match="format is 'other'"):
        GarmentDynamicsModel.load(bad)
    with pytest.raises(DrapeError, match="not found"):
        GarmentDynamicsModel.load(tmp_path / "missing.npz")


def test_model_file_without_contact_flag_key_loads_with_the_step_flag(tmp_path):
    import json

    ref = synthetic_reference()
    path = GarmentDynamicsModel(SMALL, ref).save(tmp_path / "m.npz")
    assert GarmentDynamicsModel.load(path).config.contact_flag == "ramp"
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"]))
    del header["config"]["contact_flag"]  # a file written before the key existed
    arrays["header"] = np.array(json.dumps(header))
    np.savez_compressed(tmp_path / "old.npz", **arrays)
    assert GarmentDynamicsModel.load(tmp_path / "old.npz").config.contact_flag == "step"
    header["config"]["contact_flag"] = "soft"
    arrays["header"] = np.array(json.dumps(header))
    np.savez_compressed(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DrapeError, match="contact_flag must be one of"):
        GarmentDynamicsModel.load(tmp_path / "bad.npz")


def test_hands_model_steps_saves_and_loads(tmp_path):
    import dataclasses

    from test_model_features import hand_reference, hand_transforms

    cfg = dataclasses.replace(SMALL, hands=True)
    ref = hand_reference()
    model = GarmentDynamicsModel(cfg, ref)
    assert model.vertex_channels == SMALL_CHANNELS + 8
    T = hand_transforms()
    hist = tuple(GarmentState(ref.verts, np.zeros_like(ref.verts)) for _ in range(3))
    out = model.step(hist, _skeleton(T))
    back = GarmentDynamicsModel.load(model.save(tmp_path / "hands.npz"))
    assert back.config.hands and back.vertex_channels == model.vertex_channels
    np.testing.assert_array_equal(back.reference.rest_heads, ref.rest_heads)
    np.testing.assert_array_equal(back.step(hist, _skeleton(T)).verts, out.verts)
    with pytest.raises(DrapeError, match="LeftForeArm"):
        GarmentDynamicsModel(cfg, synthetic_reference(4, 4))


def test_skeleton_joint_subset_model_steps_saves_and_loads(tmp_path):
    import dataclasses

    from test_model_features import hand_reference, hand_transforms

    cfg = dataclasses.replace(SMALL, skeleton_joints="LeftHand, RightHand")
    ref = hand_reference()
    model = GarmentDynamicsModel(cfg, ref)
    assert model.feature_config.skeleton_joints == ("LeftHand", "RightHand")
    assert model.global_channels == 2 * 6 + 15 < GarmentDynamicsModel(SMALL, ref).global_channels
    T = hand_transforms()
    hist = tuple(GarmentState(ref.verts, np.zeros_like(ref.verts)) for _ in range(3))
    out = model.step(hist, _skeleton(T))
    back = GarmentDynamicsModel.load(model.save(tmp_path / "joints.npz"))
    assert back.config == cfg and back.global_channels == model.global_channels
    np.testing.assert_array_equal(back.step(hist, _skeleton(T)).verts, out.verts)
    with pytest.raises(DrapeError, match="'LeftFoot'"):
        GarmentDynamicsModel(dataclasses.replace(SMALL, skeleton_joints="LeftFoot"), ref)


SMALL_CHANNELS = GarmentDynamicsModel(SMALL, synthetic_reference(3, 3)).vertex_channels
