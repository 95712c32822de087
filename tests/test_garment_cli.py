"""``drape garments``."""

from drape.cli.main import main


def test_garments_lists_library(capsys):
    assert main(["garments"]) == 0
    out = capsys.readouterr().out
    for name in ("tshirt", "skirt", "dress", "trousers", "shorts"):
        assert name in out


def test_garments_make_writes_obj_and_npz(tmp_path, capsys):
    from drape.garment.io import load_garment, read_obj

    assert main(["garments", "--make", "skirt", "--vert-count", "400", "--out", str(tmp_path / "s.obj")]) == 0
    raw = read_obj(tmp_path / "s.obj")
    assert 300 < len(raw.verts) < 500 and raw.corner_uv is not None
    assert main(["garments", "--make", "shorts", "--vert-count", "400", "--out", str(tmp_path / "s.npz")]) == 0
    g = load_garment(tmp_path / "s.npz")
    assert g.kind == "shorts" and len(g.pinned) > 0
    assert main(["garments", "--make", "skirt", "--vert-count", "400", "--param", "yoke=0.1", "--out", str(tmp_path / "y.npz")]) == 0
    assert load_garment(tmp_path / "y.npz").meta["params"]["yoke"] == 0.1


def test_garments_bad_input_exits_2(tmp_path, capsys):
    assert main(["garments", "--make", "cape", "--out", str(tmp_path / "c.obj")]) == 2
    assert "unknown" in capsys.readouterr().err
    assert main(["garments", "--make", "skirt"]) == 2
    assert main(["garments", "--make", "skirt", "--param", "yoke", "--out", str(tmp_path / "y.npz")]) == 2
    assert "KEY=NUMBER" in capsys.readouterr().err
    assert main(["garments", "--import", str(tmp_path / "missing.obj"), "--out", str(tmp_path / "m.obj")]) == 2
