"""drape animate on a tiny real model (tube skirt): CLI smoke for both starts, exact initial frames,
the rollout equals model.step, the files open, and clear errors for mismatched inputs."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from drape.cli.main import main  # noqa: E402


def _glb_names(path):
    from drape.export import read_glb

    gltf, binary = read_glb(path)
    assert binary and gltf["animations"]
    return {m["name"] for m in gltf["meshes"]}


def test_animate_cli_rest_start_writes_the_avatar(tiny_tube_model, tmp_path, capsys):
    out = tmp_path / "rest"
    assert main(["animate", "--garment", "tube", "--motion", "swing", "--model", str(tiny_tube_model), "--frames", "8",
                 "--init", "rest", "--obj", "--no-progress", "--out", str(out)]) == 0
    assert "drape view" in capsys.readouterr().out
    names = _glb_names(out / "avatar.glb")
    assert "body" in names and any(n.startswith("garment") for n in names)
    report = json.loads((out / "report.json").read_text())
    assert report["format"] == "drape-animate-report" and report["version"] == 1
    assert (report["frames"], report["predicted_frames"], report["init_frames"]) == (8, 5, 3)
    assert report["garment"] == "tube" and report["motion"] == "swing" and report["init"] == "rest"
    assert report["model"] == str(tiny_tube_model) and report["model_ms_per_frame"] > 0
    assert report["physics_init_sec"] is None
    assert len(sorted((out / "frames").glob("*.obj"))) == 8
    from PIL import Image

    with Image.open(out / "preview.gif") as gif:
        assert gif.n_frames == 4 and gif.size == (256, 256)  # every 2nd of 8 frames


def test_animate_rest_start_is_the_skinned_drape_and_rollout_is_model_step(tiny_tube_model, tmp_path):
    from drape.animate import animate
    from drape.body import Body
    from drape.eval.metrics import lbs_baseline
    from drape.model.dynamics import GarmentDynamicsModel
    from drape.sim.inputs import resolve_motion
    from drape.types import GarmentState, SkeletonState

    res = animate(garment="tube", motion="swing", model=tiny_tube_model, frames=6, init="rest", preview=False,
                  out_dir=tmp_path / "a")
    seq = res.sequence
    model = GarmentDynamicsModel.load(tiny_tube_model)
    motion = resolve_motion("swing", frames=6)
    T = Body().pose_motion(motion).skeleton.bone_transforms
    np.testing.assert_allclose(seq.body_verts, Body().pose_motion(motion).verts, atol=1e-6)
    np.testing.assert_array_equal(seq.garment_verts[:3], lbs_baseline(model.reference, T[:3]))
    hist = tuple(GarmentState(seq.garment_verts[f], np.zeros_like(seq.garment_verts[f])) for f in range(3))
    nxt = model.step(hist, SkeletonState(np.zeros((4, 31, 3)), T[:4, :, :3, :3], T[:4]))
    np.testing.assert_allclose(seq.garment_verts[3], nxt.verts, atol=1e-6)
    assert res.report["files"] == {"glb": "avatar.glb", "preview": None, "frames": None}


def test_animate_cli_physics_start(tiny_tube_model, tmp_path):
    out = tmp_path / "phys"
    assert main(["animate", "--garment", "tube", "--motion", "swing", "--model", str(tiny_tube_model), "--frames", "5",
                 "--init", "physics", "--no-preview", "--no-progress", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["init"] == "physics" and report["frames"] == 5 and report["predicted_frames"] == 2
    assert report["physics_init_sec"] > 0 and report["physics_sec_per_frame"] > 0
    assert "body" in _glb_names(out / "avatar.glb")
    assert not (out / "preview.gif").exists()


def test_physics_start_is_the_datasets_first_frames_from_the_cached_drape(tiny_tube_model, monkeypatch):
    """The physics start settles nothing again: it reuses the rest drape the dataset build cached, so its
    frames are the training sequence's first frames."""
    import importlib

    from drape.animate import physics_init_states
    from drape.data.sequence import load_sequence
    from drape.model.dynamics import GarmentDynamicsModel
    from drape.sim.inputs import resolve_motion
    from drape.types import BodyShape

    def no_settle(*args, **kwargs):
        raise AssertionError("the rest drape was settled again")

    monkeypatch.setattr(importlib.import_module("drape.sim.simulate"), "drape_garment", no_settle)
    model = GarmentDynamicsModel.load(tiny_tube_model)
    (seq_dir,) = (tiny_tube_model.parent / "ds" / "seq").iterdir()
    seq = load_sequence(seq_dir / "sequence.npz")
    states, info = physics_init_states(model.reference, "tube", resolve_motion("swing", frames=4), BodyShape(), 3)
    for f, st in enumerate(states):
        np.testing.assert_array_equal(st.verts, seq.garment_verts[f])
    assert info["physics_init_sec"] > 0


def test_animate_onnx_backend_matches_torch(tiny_tube_model, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from drape.animate import animate

    kw = dict(garment="tube", motion="swing", model=tiny_tube_model, frames=6, init="rest", preview=False)
    a = animate(backend="torch", out_dir=tmp_path / "t", **kw).sequence.garment_verts
    b = animate(backend="onnx", out_dir=tmp_path / "o", **kw).sequence.garment_verts
    np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--garment", "skirt"], "is for garment 'tube'"),
        (["--garment", "tube", "--body-shape", "height=0.9"], "differs from the body the model was trained on"),
        (["--garment", "tube", "--frames", "3"], "needs at least 4"),
        (["--garment", "tube", "--model", "nosuchmodel"], "bundled models"),
        (["--garment", "tube", "--model", "missing.npz"], "not found"),
    ],
)
def test_animate_cli_errors_are_clear(tiny_tube_model, tmp_path, capsys, extra, message):
    args = ["animate", "--motion", "swing", "--init", "rest", "--no-progress", "--out", str(tmp_path / "x")]
    if "--model" not in extra:
        args += ["--model", str(tiny_tube_model)]
    assert main(args + extra) == 2
    err = capsys.readouterr().err
    assert "drape animate: error:" in err and message in err


def test_no_bundled_model_says_how_to_train(tmp_path, monkeypatch):
    import drape.animate as A

    monkeypatch.setattr(A, "bundled_models_dir", lambda: tmp_path / "none")
    with pytest.raises(A.AnimateError, match=r"no bundled model for garment 'tshirt' \(bundled models: none yet\).*drape train"):
        A.resolve_model_path(None, garment="tshirt")
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "tshirt.npz").write_bytes(b"x")
    assert A.resolve_model_path(None, garment="tshirt") == tmp_path / "none" / "tshirt.npz"
    assert A.resolve_model_path("tshirt") == tmp_path / "none" / "tshirt.npz"


def test_demo_fast_setting_runs_the_learned_pipeline(tiny_tube_model, tmp_path, capsys):
    """drape demo is drape animate on defaults: bundled-model lookup aside, the same files come out."""
    import json

    from drape.export import read_glb

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--garment", "tube", "--motion", "swing", "--model", str(tiny_tube_model),
                 "--frames", "6", "--init", "rest", "--no-progress"]) == 0
    for name in ("avatar.glb", "preview.gif", "report.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == 6 and report["init"] == "rest" and report["model"] == str(tiny_tube_model)
    gltf, _ = read_glb(out / "avatar.glb")
    assert gltf["animations"] and len(gltf["meshes"]) >= 2
    assert "drape view" in capsys.readouterr().out
