"""End to end on tiny real simulations: drape dataset build -> drape train --data DIR -> drape eval --data DIR."""

import json

import pytest

pytest.importorskip("torch")

from drape.cli.main import main  # noqa: E402


@pytest.mark.slow
def test_train_and_eval_on_a_tiny_simulated_dataset(tmp_path):
    ds = tmp_path / "ds"
    assert main(["dataset", "build", "--garments", "tube", "--motions", "swing", "--frames", "8", "--settle-frames", "2",
                 "--blend-frames", "1", "--vert-count", "400", "--workers", "0", "--preview-frames", "0",
                 "--no-progress", "--out", str(ds)]) == 0
    out = tmp_path / "tube.npz"
    assert main(["train", "--data", str(ds), "--garment", "tube", "--steps", "3", "--batch-size", "2", "--unroll", "2",
                 "--image-size", "32", "--widths", "16,32", "--film-hidden", "32", "--checkpoint-every", "2",
                 "--out", str(out), "--no-progress"]) == 0
    assert (ds / "train_cache").is_dir() and any((ds / "train_cache").glob("*.transforms.npz"))
    js = tmp_path / "eval.json"
    assert main(["eval", "--model", str(out), "--data", str(ds), "--motion", "swing", "--json", str(js), "--no-progress"]) == 0
    res = json.loads(js.read_text())
    assert res["frames"] == 5 and res["physics_sec_per_frame"] > 0 and res["speedup"] > 0
    assert res["stretch_reference"] == "sewing pattern" and res["gt_penetration_pct"] is not None
