"""export package surface: light import, dispatch by file name."""

import subprocess
import sys

import numpy as np
import pytest

from drape.types import DrapeError


def test_import_export_is_light():
    code = "import sys, drape.export; print(','.join(m for m in ('pxr', 'pygltflib', 'torch', 'anny') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_export_sequence_dispatch(body, tmp_path):
    from drape.export import export_sequence, read_glb, read_obj_manifest
    from drape.export.sample import synthetic_sequence

    seq = synthetic_sequence(body, frame_count=2, garment_rings=3, garment_segments=8)
    assert read_glb(export_sequence(tmp_path / "a.glb", seq, body=body))[0]["asset"]["version"] == "2.0"
    assert export_sequence(tmp_path / "a.usda", seq).is_file()
    assert len(read_obj_manifest(export_sequence(tmp_path / "objs", seq, every=2))["frames"]) == 1
    with pytest.raises(DrapeError, match="needs the Body"):
        export_sequence(tmp_path / "b.glb", seq)
    with pytest.raises(DrapeError, match="unknown format '.fbx'"):
        export_sequence(tmp_path / "b.fbx", seq)
    with pytest.raises(DrapeError, match="zero frames"):
        from dataclasses import replace

        export_sequence(tmp_path / "c.usda", replace(seq, body_verts=seq.body_verts[:0], garment_verts=seq.garment_verts[:0]))


def test_vertex_normals_exact_on_a_square():
    from drape.export._common import vertex_normals

    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [5, 5, 5]], float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    n = vertex_normals(np.stack([v, v @ np.diag([1, -1, -1])]), f)  # second frame: rotated 180 deg about x
    np.testing.assert_allclose(n[0, :4], [[0, 0, 1]] * 4, atol=1e-7)
    np.testing.assert_allclose(n[1, :4], [[0, 0, -1]] * 4, atol=1e-7)
    np.testing.assert_allclose(n[:, 4], [[0, 0, 1]] * 2)  # unused vertex
