"""End to end: `drape dataset build` on two tiny real simulations, then a resume that runs nothing."""

import json

import pytest

from drape.cli.main import main
from drape.data.build import dataset_status, read_index
from drape.data.sequence import load_sequence

ARGS = [
    "dataset", "build", "--garments", "tube", "--motions", "swing", "--body-shapes", "default;height=0.7",
    "--frames", "3", "--settle-frames", "2", "--blend-frames", "1", "--vert-count", "400",
    "--workers", "0", "--preview-frames", "2", "--no-progress",
]


@pytest.mark.slow
def test_dataset_build_smoke(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main([*ARGS, "--out", str(out)]) == 0
    st = dataset_status(out)
    assert (st["done"], st["failed"], st["pending"], st["frames"]) == (2, 0, 0, 6)
    for tid, s in st["tasks"].items():
        folder = out / "seq" / tid
        seq = load_sequence(folder / "sequence.npz")
        assert seq.frame_count == 3 and seq.garment_verts.shape[1] == s["report"]["garment_vert_count"]
        assert seq.meta["task_id"] == tid
        report = json.loads((folder / "report.json").read_text())
        for key in ("frames", "sec_per_frame", "nan", "penetration_pct", "penetration_pct_max", "stretch_p99"):
            assert key in report, key
        assert report["nan"] is False and report["penetration_pct_max"] < 5.0 and report["stretch_p99"] < 1.2
        assert (folder / "rest_drape.npy").is_file() and (folder / "preview.png").is_file()
    capsys.readouterr()
    # Same command again: everything is skipped.
    assert main([*ARGS, "--out", str(out)]) == 0
    assert "2 already done, 0 to run" in capsys.readouterr().out
    assert len(read_index(out)) == 2
