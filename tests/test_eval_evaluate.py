import json

import numpy as np
import pytest

pytest.importorskip("torch")

from drape.cli.main import main  # noqa: E402
from drape.data.windows import synthetic_training_data  # noqa: E402
from drape.eval.evaluate import SUMMARY_KEYS, evaluate  # noqa: E402
from drape.eval.metrics import lbs_baseline  # noqa: E402
from drape.model.dynamics import GarmentDynamicsModel, ModelConfig  # noqa: E402

SMALL = ModelConfig(image_size=32, widths="16,32", film_hidden=32)


def test_evaluate_keys_and_fresh_model_equals_rigid_carry(tmp_path):
    data = synthetic_training_data(motions=2, frames=10)
    model = GarmentDynamicsModel(SMALL, data.reference)
    res = evaluate(model, data.tracks, plot=tmp_path / "err.png", physics_sec_per_frame={"synth0": 0.5},
                   render=tmp_path / "render.png")
    for k in SUMMARY_KEYS:
        assert k in res, k
    assert res["frames"] == 2 * 7 and len(res["per_frame"]["vertex_error_mm"]) == 14
    assert res["per_frame"]["frame"][:2] == [3, 4] and res["per_frame"]["jitter"][6] is None  # no centre accel at the end
    assert res["model_ms_per_frame"] > 0 and (tmp_path / "err.png").is_file()
    from PIL import Image

    sheet = Image.open(tmp_path / "render.png")  # 2 sequences x (physics, model, LBS) rows, 4 frames each
    assert res["render"] == str(tmp_path / "render.png") and sheet.size == (4 * 200, 6 * 200)
    assert len({tuple(p) for p in np.asarray(sheet).reshape(-1, 3)[::97].tolist()}) > 3  # not a blank sheet
    s0, s1 = res["sequences"]
    assert s0["speedup"] == pytest.approx(500.0 / s0["model_ms_per_frame"]) and s1["speedup"] is None
    json.dumps(res)  # JSON-ready
    # Root offset space + rest init: the fresh model carries the reference drape rigidly = the LBS baseline.
    r = evaluate(model, data.tracks[:1], init="rest", frames=8)
    assert r["vertex_error_mm"] == pytest.approx(r["lbs_vertex_error_mm"], abs=1e-3)
    assert r["jitter"] == pytest.approx(r["lbs_jitter"], abs=1e-2)
    # Teacher-forced, the fresh model still ignores its history: its one-step error is the LBS error, frame by frame.
    pf = res["per_frame"]
    np.testing.assert_allclose(pf["one_step_error_mm"], pf["lbs_vertex_error_mm"], atol=1e-3)
    assert 0 < res["persistence_one_step_mm"] < res["lbs_vertex_error_mm"]  # the tube's offset changes little per frame
    # The LBS baseline of the synthetic tube: reference drape moved by the root.
    T = data.tracks[0].transforms
    np.testing.assert_allclose(lbs_baseline(data.reference, T)[0], data.reference.verts @ T[0, 0, :3, :3].T + T[0, 0, :3, 3], atol=1e-5)


def test_long_rollout_drift_figures():
    """Tracks of 300+ frames get the error of frames 100-200, of the last 100 frames, and their ratio."""
    data = synthetic_training_data(motions=1, frames=300)
    model = GarmentDynamicsModel(SMALL, data.reference)
    row = evaluate(model, data.tracks, init="rest")["sequences"][0]
    err = np.array([e for e in evaluate(model, data.tracks, init="rest")["per_frame"]["vertex_error_mm"]])
    # per_frame starts at frame n = 3: frame f is err[f - 3].
    assert row["vertex_error_mm_100_200"] == pytest.approx(err[97:197].mean(), rel=1e-6)
    assert row["vertex_error_mm_last100"] == pytest.approx(err[-100:].mean(), rel=1e-6)
    assert row["drift_ratio"] == pytest.approx(row["vertex_error_mm_last100"] / row["vertex_error_mm_100_200"])
    assert row["nan"] is False
    short = evaluate(model, data.tracks, init="rest", frames=50)["sequences"][0]
    assert "drift_ratio" not in short


def test_train_and_eval_cli_on_synthetic(tmp_path, capsys):
    out = tmp_path / "m.npz"
    args = ["train", "--data", "synthetic", "--garment", "prism", "--steps", "6", "--batch-size", "2", "--unroll", "2",
            "--image-size", "32", "--widths", "16,32", "--film-hidden", "32", "--val-motions", "synth3",
            "--val-frames", "8", "--val-every", "3", "--checkpoint-every", "3", "--out", str(out), "--no-progress"]
    assert main(args) == 0 and out.is_file()
    assert main(args[:-3] + ["--out", str(tmp_path / "k.npz"), "--max-steps", "4", "--no-progress"]) == 0
    assert "stopped at step 4" in capsys.readouterr().out
    js = tmp_path / "eval.json"
    assert main(["eval", "--model", str(out), "--data", "synthetic", "--motion", "synth3", "--frames", "10",
                 "--json", str(js), "--no-progress"]) == 0
    res = json.loads(js.read_text())
    for k in ("vertex_error_mm", "lbs_vertex_error_mm", "penetration_pct", "gt_penetration_pct", "stretch_p99", "jitter",
              "model_ms_per_frame", "physics_sec_per_frame", "speedup", "frames", "per_frame"):
        assert k in res, k
    assert res["frames"] == 7 and len(res["per_frame"]["vertex_error_mm"]) == 7 and js.with_suffix(".png").is_file()
    # The ONNX backend evaluates the same rollout (to float32 rounding).
    pytest.importorskip("onnxruntime")
    js2 = tmp_path / "eval_onnx.json"
    assert main(["eval", "--model", str(out), "--data", "synthetic", "--motion", "synth3", "--frames", "10",
                 "--backend", "onnx", "--json", str(js2), "--no-progress"]) == 0
    res2 = json.loads(js2.read_text())
    assert abs(res2["vertex_error_mm"] - res["vertex_error_mm"]) < 0.01
    # Bad input: a clear error and exit code 2.
    assert main(["train", "--data", str(tmp_path / "nope"), "--garment", "x", "--out", str(tmp_path / "z.npz")]) == 2
    assert main(["eval", "--model", str(out), "--data", "synthetic", "--motion", "walk", "--json", str(js)]) == 2
    assert "unknown motions" in capsys.readouterr().err
