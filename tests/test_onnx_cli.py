"""``drape export onnx`` smoke test and its input errors."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from drape.cli.main import main  # noqa: E402
from drape.model.dynamics import GarmentDynamicsModel, ModelConfig  # noqa: E402
from drape.model.onnx_backend import OnnxGarmentDynamics  # noqa: E402
from drape.model.synthetic import synthetic_motion, synthetic_reference, synthetic_sequence  # noqa: E402
from drape.types import GarmentState, SkeletonState  # noqa: E402


def test_export_onnx_cli(tmp_path, capsys):
    model = GarmentDynamicsModel(ModelConfig(image_size=32, widths="16,32", film_hidden=32), synthetic_reference(4, 4))
    npz = model.save(tmp_path / "m.npz")
    out = tmp_path / "sub" / "m.onnx"
    assert main(["export", "onnx", "--model", str(npz), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "wrote" in text and "verified" in text
    ox = OnnxGarmentDynamics.load(out)
    T = synthetic_motion(4, seed=0)
    X = synthetic_sequence(model.reference.verts, T)
    hist = tuple(GarmentState(X[f], np.zeros_like(X[f])) for f in range(3))
    skel = SkeletonState(np.zeros((4, 2, 3), np.float32), T[:, :, :3, :3].copy(), T)
    np.testing.assert_allclose(ox.step(hist, skel).verts, model.step(hist, skel).verts, atol=1e-6)

    assert main(["export", "onnx", "--model", str(npz), "--out", str(tmp_path / "p.onnx"), "--graph", "predict", "--no-verify"]) == 0
    assert OnnxGarmentDynamics.load(tmp_path / "p.onnx").graph == "predict"

    capsys.readouterr()
    assert main(["export", "onnx", "--model", str(npz), "--out", str(tmp_path / "m.txt")]) == 2
    assert "expected an .onnx file name" in capsys.readouterr().err
    assert main(["export", "onnx", "--model", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["export", "onnx", "--model", str(out), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "already an ONNX file" in capsys.readouterr().err
    assert main(["export"]) == 2
