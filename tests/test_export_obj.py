"""OBJ sequence export: round trips through drape's reader and trimesh, axes, manifest."""

import json

import numpy as np
import pytest

from drape.export._common import Z_UP_TO_Y_UP
from drape.types import DrapeError, Sequence


def _tiny(frames=5, fps=25.0):
    """Two tetrahedra moving along x: exact numbers for exact checks."""
    tet = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], dtype=np.int32)
    shift = np.arange(frames, dtype=np.float32)[:, None, None] * np.array([0.5, 0, 0], np.float32)
    body = tet[None] + shift
    garment = tet[None] * 0.5 + np.float32(2.0) + shift
    return Sequence(
        fps=fps, body_verts=body, body_faces=faces, garment_verts=garment,
        garment_velocities=np.zeros_like(garment), garment_faces=faces,
        world_rotations=np.tile(np.eye(3, dtype=np.float32), (frames, 1, 1, 1)),
        root_translation=np.zeros((frames, 3), np.float32), meta={"motion": "tiny"},
    )


def test_round_trip_exact_tiny(tmp_path):
    from drape.export.obj import read_obj_frame, read_obj_manifest, export_obj_sequence

    seq = _tiny()
    paths = export_obj_sequence(tmp_path / "seq", seq, every=2)
    assert [p.name for p in paths] == ["frame_00000.obj", "frame_00002.obj", "frame_00004.obj"]
    man = read_obj_manifest(tmp_path / "seq")
    assert man["fps"] == 25.0 and man["units"] == "metres" and man["up_axis"] == "Z"
    assert [fr["time"] for fr in man["frames"]] == [0.0, 0.08, 0.16] and man["meta"] == {"motion": "tiny"}
    text = paths[1].read_text()
    assert "units: metres" in text and "+Z up" in text and "time 0.080000 s at 25 fps" in text
    assert "mtllib drape.mtl" in text and (tmp_path / "seq" / "drape.mtl").is_file()
    for p, f in zip(paths, (0, 2, 4)):
        objs = read_obj_frame(p)
        np.testing.assert_array_equal(objs["body"][0], seq.body_verts[f])
        np.testing.assert_array_equal(objs["garment"][0], seq.garment_verts[f])
        np.testing.assert_array_equal(objs["garment"][1], seq.garment_faces)
        np.testing.assert_array_equal(objs["body"][1], seq.body_faces)


def test_y_up_option(tmp_path):
    from drape.export.obj import read_obj_frame, export_obj_sequence

    seq = _tiny(2)
    p = export_obj_sequence(tmp_path, seq, up_axis="y", materials=False)[1]
    got = read_obj_frame(p)["garment"][0]
    np.testing.assert_allclose(got, seq.garment_verts[1] @ Z_UP_TO_Y_UP.T, atol=1e-6)
    assert "mtllib" not in p.read_text() and "+Y up" in p.read_text()


def test_trimesh_reads_body_and_garment(body, tmp_path):
    import trimesh

    from drape.export.obj import export_obj_sequence
    from drape.export.sample import synthetic_sequence

    seq = synthetic_sequence(body, frame_count=3, garment_rings=5, garment_segments=16)
    paths = export_obj_sequence(tmp_path, seq, garment_uv=seq.meta["garment_uv"])
    scene = trimesh.load(str(paths[2]), force="scene", process=False)
    geoms = {name: g for name, g in scene.geometry.items()}
    body_mesh = next(g for n, g in geoms.items() if "body" in n)
    garment_mesh = next(g for n, g in geoms.items() if "garment" in n)
    np.testing.assert_allclose(body_mesh.vertices, seq.body_verts[2], atol=1e-6)
    np.testing.assert_allclose(garment_mesh.vertices, seq.garment_verts[2], atol=1e-6)
    np.testing.assert_array_equal(garment_mesh.faces, seq.garment_faces)
    np.testing.assert_allclose(garment_mesh.visual.uv, seq.meta["garment_uv"], atol=1e-6)


def test_per_corner_uv_and_errors(tmp_path):
    from drape.export.obj import read_obj_frame, read_obj_manifest, export_obj_sequence

    seq = _tiny(1)
    corner = np.random.default_rng(0).random((4, 3, 2))
    p = export_obj_sequence(tmp_path / "a", seq, garment_uv=corner)[0]
    lines = p.read_text().splitlines()
    assert sum(ln.startswith("vt ") for ln in lines) == 12
    assert [ln for ln in lines if ln.startswith("f ")][-1] == "f 6/10 7/11 8/12"
    np.testing.assert_array_equal(read_obj_frame(p)["garment"][1], seq.garment_faces)
    with pytest.raises(DrapeError, match="every must be an integer >= 1"):
        export_obj_sequence(tmp_path / "b", seq, every=0)
    with pytest.raises(DrapeError, match="up_axis must be 'z' or 'y'"):
        export_obj_sequence(tmp_path / "b", seq, up_axis="x")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "sequence.json").write_text(json.dumps({"format": "drape.obj_sequence", "version": 99}))
    with pytest.raises(DrapeError, match="version 1, got 99"):
        read_obj_manifest(tmp_path / "c")
