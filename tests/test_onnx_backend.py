"""ONNX export and the torch-free backend: round trip, parity with torch, torch-free rollout, bad files."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from drape.export.onnx import export_onnx, verify_onnx  # noqa: E402
from drape.geometry.uv_raster import build_raster_map, padded_sample_taps, rasterize, sample  # noqa: E402
from drape.model.dynamics import GarmentDynamicsModel, ModelConfig  # noqa: E402
from drape.model.features import NormalizerFit, global_features, sequence_samples, vertex_features  # noqa: E402
from drape.model.onnx_backend import (  # noqa: E402
    ONNX_FORMAT,
    OnnxGarmentDynamics,
    _NumpyUV,
    pack_arrays,
)
from drape.model.synthetic import synthetic_motion, synthetic_reference, synthetic_sequence  # noqa: E402
from drape.rollout import rollout  # noqa: E402
from drape.types import DrapeError, GarmentState, SkeletonState  # noqa: E402

CFG = ModelConfig(image_size=32, widths="16,32", film_hidden=32, feature_clip=0.0)  # clip: test_clip_parity
ROLLOUT_TOL_M = 1e-4  # 0.1 mm over 300 frames


def _skel(T):
    return SkeletonState(np.zeros(T.shape[:2] + (3,), np.float32), T[:, :, :3, :3].copy(), T)


def _perturbed_model(seed=0, scale=0.1):
    """Random weights, data normaliser, and the zero-initialised head and FiLM output perturbed.

    Its 300-frame rollouts on synthetic motions stay bounded (tens of mm from the synthetic truth)
    while the network visibly moves the garment (by about 1 mm: a random network fed back its own
    offsets is unstable from a scale of about 0.2), so torch/ONNX differences are not amplified.
    """
    ref = synthetic_reference(6, 6)
    T = synthetic_motion(40, seed=0)
    s = sequence_samples(ref, synthetic_sequence(ref.verts, T), T, CFG.features)
    fit = NormalizerFit()
    fit.add(s["vertex"], s["global"], s["target"])
    model = GarmentDynamicsModel(CFG, ref, fit.result(), seed=seed)
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        for mod in (model.net.head_b, model.net.film[-1]):
            for p in mod.parameters():
                p.copy_(scale * torch.randn(p.shape, generator=g))
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    model = _perturbed_model()
    npz = model.save(d / "model.npz")
    files = {g: export_onnx(model, d / f"model_{g}.onnx", graph=g) for g in ("network", "predict")}
    return model, npz, files


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_numpy_uv_matches_raster_reference():
    ref = synthetic_reference(5, 5)
    m = build_raster_map(ref.atlas_uv, ref.faces, 32, vert_count=ref.vert_count)
    uv = _NumpyUV(m)
    x = np.random.default_rng(0).normal(size=(2, ref.vert_count, 4)).astype(np.float32)
    img = uv.feature_map(x)
    assert img.shape == (2, 5, 32, 32) and img.dtype == np.float32
    np.testing.assert_allclose(img[:, :4], rasterize(x, m), atol=1e-6)
    np.testing.assert_array_equal(img[:, 4], np.broadcast_to(m.mask, (2, 32, 32)))
    im3 = img[:, :3]
    np.testing.assert_allclose(uv.sample(im3), sample(im3, m), atol=1e-6)
    # The padded per-vertex taps (used inside the 'predict' graph) give the same sampling.
    pix, w = padded_sample_taps(m)
    flat = im3.reshape(2, 3, -1)
    np.testing.assert_allclose((flat[:, :, pix] * w).sum(-1).transpose(0, 2, 1), sample(im3, m), atol=1e-6)
    # Each vertex's taps are a partition of unity.
    assert w.shape[0] == ref.vert_count and np.allclose(w.sum(1), 1.0, atol=1e-6)


def test_export_load_round_trip(exported):
    model, _, files = exported
    for graph, path in files.items():
        ox = OnnxGarmentDynamics.load(path)
        assert ox.graph == graph and ox.config == model.config
        assert ox.reference.name == model.reference.name and ox.reference.bone_names == model.reference.bone_names
        assert ox.reference.offset_space == model.reference.offset_space
        for k, v in model.reference.to_arrays().items():
            np.testing.assert_array_equal(ox.reference.to_arrays()[k], v)
        for k, v in model.normalizer.to_arrays().items():
            np.testing.assert_array_equal(ox.normalizer.to_arrays()[k], v)
        np.testing.assert_array_equal(ox.raster_map.tri, model.raster_map.tri)
        meta = dict(ox.session.get_modelmeta().custom_metadata_map)
        assert meta["drape.format"] == ONNX_FORMAT and meta["drape.graph"] == graph
        assert json.loads(meta["drape.header"])["vertex_channels"][0] == "offset_x"
        # The batch dimension is dynamic; the prediction matches torch on random raw features.
        assert verify_onnx(model, path, samples=3) < 1e-7


def test_step_parity_strict(exported, one_thread):
    model, _, files = exported
    T = synthetic_motion(8, seed=3)
    X = synthetic_sequence(model.reference.verts, T)
    for path in files.values():
        ox = OnnxGarmentDynamics.load(path)
        for f in range(3, 8):
            hist = tuple(GarmentState(X[k], np.zeros_like(X[k])) for k in range(f - 3, f))
            a = model.step(hist, _skel(T[f - 3 : f + 1]))
            b = ox.step(hist, _skel(T[f - 3 : f + 1]))
            assert b.verts.dtype == np.float32 and b.verts.shape == a.verts.shape
            np.testing.assert_allclose(b.verts, a.verts, atol=1e-6, rtol=0)
            np.testing.assert_allclose(b.velocities, a.velocities, atol=1e-4, rtol=0)
        # Same validation as the torch model.
        hist = tuple(GarmentState(X[k], np.zeros_like(X[k])) for k in range(3))
        with pytest.raises(DrapeError, match="bone_transforms"):
            ox.step(hist, _skel(T[:3]))
        with pytest.raises(DrapeError, match="history"):
            ox.step(hist[:2], _skel(T[:3]))


def test_clip_parity(tmp_path, one_thread):
    """With the feature clip active (1 standard deviation), both ONNX graphs still match torch."""
    import dataclasses

    base = _perturbed_model()
    model = GarmentDynamicsModel(dataclasses.replace(CFG, feature_clip=1.0), base.reference, base.normalizer)
    model.net.load_state_dict(base.net.state_dict())
    T = synthetic_motion(8, seed=3)
    X = synthetic_sequence(model.reference.verts, T) + 0.05  # far from the data: many channels clipped
    hist = tuple(GarmentState(X[k], np.zeros_like(X[k])) for k in range(3))
    a = model.step(hist, _skel(T[:4]))
    unclipped = base.step(hist, _skel(T[:4]))
    assert np.abs(a.verts - unclipped.verts).max() > 1e-4
    for g in ("network", "predict"):
        ox = OnnxGarmentDynamics.load(export_onnx(model, tmp_path / f"clip_{g}.onnx", graph=g))
        np.testing.assert_allclose(ox.step(hist, _skel(T[:4])).verts, a.verts, atol=1e-6, rtol=0)


def test_rollout_parity_300_frames(exported, one_thread):
    model, _, files = exported
    T = synthetic_motion(300, seed=7)
    X = synthetic_sequence(model.reference.verts, T)
    init = [GarmentState(X[f], np.zeros_like(X[f])) for f in range(3)]
    a = rollout(model, init, _skel(T))
    # The network moves the garment (the prediction is not the plain skeleton carry) and stays bounded.
    carry = rollout(GarmentDynamicsModel(CFG, model.reference, model.normalizer), init, _skel(T))
    assert np.abs(a - carry).max() > 0.001
    assert np.abs(a - X).max() < 0.5
    for graph, path in files.items():
        b = rollout(OnnxGarmentDynamics.load(path), init, _skel(T))
        dev = float(np.linalg.norm(a - b, axis=-1).max())
        assert dev <= ROLLOUT_TOL_M, f"{graph}: max vertex deviation {dev * 1e3:.4f} mm over 300 frames"


def test_rollout_without_torch(exported, tmp_path):
    model, _, files = exported
    out = tmp_path / "rollout.npy"
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from drape.model.onnx_backend import OnnxGarmentDynamics
        from drape.model.synthetic import synthetic_motion, synthetic_sequence
        from drape.rollout import rollout
        from drape.types import GarmentState, SkeletonState
        m = OnnxGarmentDynamics.load({str(files["network"])!r}, threads=1)
        T = synthetic_motion(20, seed=4)
        X = synthetic_sequence(m.reference.verts, T)
        skel = SkeletonState(np.zeros(T.shape[:2] + (3,), np.float32), T[:, :, :3, :3].copy(), T)
        out = rollout(m, [GarmentState(X[f], np.zeros_like(X[f])) for f in range(3)], skel)
        np.save({str(out)!r}, out)
        heavy = [k for k in ("torch", "onnx", "warp", "newton", "anny") if k in sys.modules]
        assert not heavy, heavy
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]
    T = synthetic_motion(20, seed=4)
    X = synthetic_sequence(model.reference.verts, T)
    want = rollout(model, [GarmentState(X[f], np.zeros_like(X[f])) for f in range(3)], _skel(T))
    np.testing.assert_allclose(np.load(out), want, atol=1e-5, rtol=0)


def test_threads_option_and_batch(exported):
    model, _, files = exported
    one = OnnxGarmentDynamics.load(files["network"])
    two = OnnxGarmentDynamics.load(files["network"], threads=2)
    T = synthetic_motion(6, seed=1)
    X = synthetic_sequence(model.reference.verts, T)
    hist = np.stack([X[0:3], X[1:4]])
    win = np.stack([T[0:4], T[1:5]])
    vf, _ = vertex_features(model.reference, hist, win, model.feature_config)
    gf = global_features(model.reference, win, model.feature_config)
    a = one.predict_delta(vf, gf)
    assert a.shape == (2, model.reference.vert_count, 3)
    np.testing.assert_allclose(two.predict_delta(vf, gf), a, atol=1e-7)
    np.testing.assert_allclose(a[1:], one.predict_delta(vf[1:], gf[1:]), atol=1e-7)
    with pytest.raises(DrapeError, match="threads"):
        OnnxGarmentDynamics.load(files["network"], threads=0)


def _rewrite_meta(src, dst, **changes):
    import onnx

    proto = onnx.load(str(src))
    for entry in proto.metadata_props:
        if entry.key in changes:
            entry.value = changes[entry.key]
    onnx.save(proto, str(dst))
    return dst


def test_load_rejects_bad_files(exported, tmp_path):
    model, npz, files = exported
    good = files["network"]
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(DrapeError, match=r"garbage\.onnx: not a readable ONNX model"):
        OnnxGarmentDynamics.load(garbage)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(DrapeError, match=r"truncated\.onnx: not a readable ONNX model"):
        OnnxGarmentDynamics.load(truncated)
    with pytest.raises(DrapeError, match="not found"):
        OnnxGarmentDynamics.load(tmp_path / "missing.onnx")
    with pytest.raises(DrapeError, match="npz file"):
        OnnxGarmentDynamics.load(npz)
    # A valid ONNX model that drape did not write.
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "plain",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    plain = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(plain))
    with pytest.raises(DrapeError, match="without drape metadata"):
        OnnxGarmentDynamics.load(plain)
    with pytest.raises(DrapeError, match="version 99"):
        OnnxGarmentDynamics.load(_rewrite_meta(good, tmp_path / "v99.onnx", **{"drape.format_version": "99"}))
    with pytest.raises(DrapeError, match="format is 'other'"):
        OnnxGarmentDynamics.load(_rewrite_meta(good, tmp_path / "other.onnx", **{"drape.format": "other"}))
    with pytest.raises(DrapeError, match="corrupt embedded arrays"):
        OnnxGarmentDynamics.load(_rewrite_meta(good, tmp_path / "bad_arrays.onnx", **{"drape.arrays": "bm90IGFuIG5weg=="}))
    with pytest.raises(DrapeError, match="lack"):
        OnnxGarmentDynamics.load(_rewrite_meta(good, tmp_path / "few.onnx", **{"drape.arrays": pack_arrays({"x": np.zeros(1)})}))
    # Metadata of the other graph kind does not fit this graph's inputs.
    with pytest.raises(DrapeError, match="should have inputs"):
        OnnxGarmentDynamics.load(_rewrite_meta(good, tmp_path / "kind.onnx", **{"drape.graph": "predict"}))


def test_export_rejects_bad_arguments(exported, tmp_path):
    model, npz, _ = exported
    with pytest.raises(DrapeError, match="graph must be one of"):
        export_onnx(model, tmp_path / "x.onnx", graph="everything")
    with pytest.raises(DrapeError, match="exporter must be one of"):
        export_onnx(model, tmp_path / "x.onnx", exporter="tf")
    with pytest.raises(DrapeError, match="opset must be >= 13"):
        export_onnx(model, tmp_path / "x.onnx", opset=9)
    with pytest.raises(DrapeError, match="expected a GarmentDynamicsModel"):
        export_onnx(42, tmp_path / "x.onnx")
    # From a path; the exporter leaves the model's train/eval mode alone.
    model.net.train()
    path = export_onnx(npz, tmp_path / "from_path.onnx", opset=13)
    assert model.net.training
    assert OnnxGarmentDynamics.load(path).reference.vert_count == model.reference.vert_count


def test_dynamo_exporter(exported, tmp_path):
    pytest.importorskip("onnxscript")
    model, _, _ = exported
    path = export_onnx(model, tmp_path / "dynamo.onnx", exporter="dynamo", opset=18)
    assert verify_onnx(model, path, samples=2) < 1e-7


def test_hands_model_parity(tmp_path, one_thread):
    """A model with the hand channels and a skeleton joint subset: both ONNX graphs carry the rest bone heads
    and the joint list, and match torch."""
    import dataclasses

    from test_model_features import hand_reference, hand_transforms

    cfg = dataclasses.replace(CFG, hands=True, skeleton_joints="RightForeArm,LeftHand")
    model = GarmentDynamicsModel(cfg, hand_reference(), seed=1)
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for mod in (model.net.head_b, model.net.film[-1]):
            for p in mod.parameters():
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    T = hand_transforms()
    rng = np.random.default_rng(0)
    hist = tuple(GarmentState(model.reference.verts + rng.normal(0, 0.02, (3, 3)).astype(np.float32),
                              np.zeros((3, 3), np.float32)) for _ in range(3))
    a = model.step(hist, _skel(T))
    for graph in ("network", "predict"):
        ox = OnnxGarmentDynamics.load(export_onnx(model, tmp_path / f"hands_{graph}.onnx", graph=graph))
        assert ox.config == cfg and ox.vertex_channels == model.vertex_channels
        assert len(ox._norm["global_mean"]) == model.global_channels == 2 * 6 + 15
        np.testing.assert_allclose(ox.step(hist, _skel(T)).verts, a.verts, atol=1e-6, rtol=0)
