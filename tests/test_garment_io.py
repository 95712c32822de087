"""Garment import/export: round trips and bad inputs."""

import numpy as np
import pytest

from drape.garment import pattern as pat
from drape.garment.errors import GarmentError
from drape.garment.io import (
    import_garment, load_garment, read_obj, save_garment, uv_islands, weld_by_position, write_obj,
)
from drape.types import Garment


def _tube(n_a=16, n_z=10, r=0.15, z0=0.9, h=0.3):
    """Open cylinder around the waist of the rest body: (verts, faces)."""
    a = np.linspace(0, 2 * np.pi, n_a, endpoint=False)
    z = np.linspace(z0, z0 + h, n_z)
    A, Z = np.meshgrid(a, z)
    v = np.stack([r * np.cos(A), r * np.sin(A), Z], -1).reshape(-1, 3)
    idx = np.arange(n_a * n_z).reshape(n_z, n_a)
    nx = np.roll(idx, -1, 1)
    q = np.stack([idx[:-1], nx[:-1], nx[1:], idx[1:]], -1).reshape(-1, 4)
    f = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    return v, f


def _garment_from(v, f, name="tube"):
    T = len(f)
    uv = np.zeros((T, 3, 2), np.float32)
    return Garment(name=name, verts=v.astype(np.float32), faces=f.astype(np.int32), panel_uv=uv, atlas_uv=uv,
                   kind="custom")


def _write_plain_obj(path, v, f, uv=None):
    lines = [f"v {x} {y} {z}\n" for x, y, z in v]
    if uv is None:
        lines += [f"f {a} {b} {c}\n" for a, b, c in f + 1]
    else:
        lines += [f"vt {s} {t}\n" for s, t in uv.reshape(-1, 2)]
        k = np.arange(len(f) * 3).reshape(-1, 3) + 1
        lines += [f"f {a}/{x} {b}/{y} {c}/{z}\n" for (a, b, c), (x, y, z) in zip(f + 1, k)]
    path.write_text("".join(lines))


def test_obj_round_trip_keeps_mesh_and_uvs(tmp_path):
    v, f = _tube()
    uv = np.random.default_rng(0).random((len(f), 3, 2)).astype(np.float32)
    g = Garment(name="t", verts=v.astype(np.float32), faces=f.astype(np.int32), panel_uv=uv, atlas_uv=uv)
    write_obj(g, tmp_path / "t.obj")
    raw = read_obj(tmp_path / "t.obj")
    assert np.allclose(raw.verts, v, atol=1e-6)
    assert (raw.faces == f).all()
    assert np.allclose(raw.corner_uv, uv, atol=1e-6)


def test_obj_quads_and_negative_indices(tmp_path):
    p = tmp_path / "q.obj"
    p.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf -4 -3 -2 -1\n")
    raw = read_obj(p)
    assert raw.faces.tolist() == [[0, 1, 2], [0, 2, 3]]


def test_import_obj_without_uvs_flattens_the_tube(tmp_path):
    v, f = _tube()
    _write_plain_obj(tmp_path / "tube.obj", v, f)
    g = import_garment(tmp_path / "tube.obj", check_body=False)
    assert g.meta["pattern_from"] == "flattened" and g.meta["panel_count"] >= 2
    assert np.allclose(g.verts, v, atol=1e-6)
    a2 = pat.corner_areas(g.panel_uv.astype(np.float64))
    a3 = pat.triangle_areas(g.verts, g.faces)
    assert (a2 > 0).all()
    assert abs(a2.sum() / a3.sum() - 1) < 0.03
    assert g.atlas_uv.min() >= 0 and g.atlas_uv.max() <= 1


def test_import_uses_file_uv_islands_scaled_to_metres(tmp_path):
    v, f = _tube()
    # an exact developed pattern of the tube in centimetres, cut at angle 0: two islands (halves)
    n_a = 16
    a_idx = np.arange(len(v)) % n_a
    z = v[:, 2]
    corner_a = a_idx[f].astype(np.float64)
    # fix the wrap-around column: corners on index 0 next to index 15 become 16
    wrap = (corner_a.max(1, keepdims=True) == n_a - 1) & (corner_a == 0)
    corner_a = np.where(wrap, n_a, corner_a)
    arc = 2 * np.pi * 0.15 / n_a * 2 * np.sin(np.pi / n_a) / (2 * np.pi / n_a)  # chord length per step
    uv = np.stack([corner_a * arc, z[f]], -1) * 100.0
    half = (corner_a.mean(1) >= n_a / 2)
    uv[half, :, 0] += 500.0  # a separate island
    _write_plain_obj(tmp_path / "uv.obj", v, f, uv)
    g = import_garment(tmp_path / "uv.obj", check_body=False)
    assert g.meta["pattern_from"] == "uv" and g.meta["panel_count"] == 2
    # scale recovered: pattern edge lengths equal 3D edge lengths (the faceted tube is developable)
    e3 = np.linalg.norm(g.verts[g.faces[:, 1]] - g.verts[g.faces[:, 0]], axis=1)
    e2 = np.linalg.norm(g.panel_uv[:, 1] - g.panel_uv[:, 0], axis=1)
    assert np.allclose(e2, e3, rtol=1e-4)


def test_glb_round_trip(tmp_path):
    trimesh = pytest.importorskip("trimesh")
    v, f = _tube()
    # glTF is y-up: write our z-up mesh rotated, with vertices split per corner
    corners = v[f].reshape(-1, 3)
    y_up = np.stack([corners[:, 0], corners[:, 2], -corners[:, 1]], 1)
    uv = np.random.default_rng(1).random((len(corners), 2))
    m = trimesh.Trimesh(y_up, np.arange(len(corners)).reshape(-1, 3), process=False,
                        visual=trimesh.visual.TextureVisuals(uv=uv))
    m.export(tmp_path / "t.glb")
    g = import_garment(tmp_path / "t.glb", check_body=False)
    assert g.meta["up"] == "y"
    assert g.vert_count == len(v)  # split corners welded back
    # same mesh: every vertex found, same triangles up to renumbering
    from scipy.spatial import cKDTree

    d, idx = cKDTree(v).query(g.verts)
    assert d.max() < 1e-5
    assert sorted(map(tuple, np.sort(idx[g.faces], 1))) == sorted(map(tuple, np.sort(f, 1)))


def test_usd_round_trip_with_units_and_up_axis(tmp_path):
    pytest.importorskip("pxr")
    from pxr import Gf, Usd, UsdGeom, Vt

    v, f = _tube()
    stage = Usd.Stage.CreateNew(str(tmp_path / "t.usda"))
    UsdGeom.SetStageMetersPerUnit(stage, 0.01)
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
    mesh = UsdGeom.Mesh.Define(stage, "/garment")
    pts = np.stack([v[:, 0], v[:, 2], -v[:, 1]], 1) * 100.0
    mesh.GetPointsAttr().Set(Vt.Vec3fArray([Gf.Vec3f(*map(float, p)) for p in pts]))
    mesh.GetFaceVertexCountsAttr().Set(Vt.IntArray([3] * len(f)))
    mesh.GetFaceVertexIndicesAttr().Set(Vt.IntArray([int(i) for i in f.reshape(-1)]))
    stage.GetRootLayer().Save()
    g = import_garment(tmp_path / "t.usda", check_body=False)
    assert g.meta["units_scale"] == pytest.approx(0.01) and g.meta["up"] == "y"
    assert np.allclose(g.verts, v, atol=1e-5)
    assert (g.faces == f).all()


def test_save_load_round_trip_and_version_check(tmp_path):
    v, f = _tube()
    g = _garment_from(v, f)
    g = Garment(name=g.name, verts=g.verts, faces=g.faces, panel_uv=g.panel_uv + 1, atlas_uv=g.atlas_uv,
                pinned=np.array([0, 3], np.int32), kind="skirt", meta={"a": 1, "b": [1.5, 2]})
    save_garment(g, tmp_path / "g.npz")
    h = load_garment(tmp_path / "g.npz")
    assert h.name == g.name and h.kind == "skirt" and h.meta == g.meta
    for k in ("verts", "faces", "panel_uv", "atlas_uv", "pinned"):
        assert np.array_equal(getattr(h, k), getattr(g, k))
    np.savez(tmp_path / "bad.npz", format=np.array("drape.garment"), version=np.array(99))
    with pytest.raises(GarmentError, match="version 99"):
        load_garment(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", format=np.array("something"), version=np.array(1))
    with pytest.raises(GarmentError, match="expected format"):
        load_garment(tmp_path / "other.npz")


def test_weld_by_position():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0]], float)
    f = np.array([[0, 1, 2], [3, 4, 2]])
    nv, nf = weld_by_position(v, f)
    assert len(nv) == 4 and nf.tolist() == [[0, 1, 2], [1, 3, 2]]


def test_uv_islands_split_at_uv_seams():
    f = np.array([[0, 1, 2], [2, 1, 3]])
    uv = np.array([[[0, 0], [1, 0], [0, 1]], [[0, 1], [1, 0], [1, 1]]], float)
    assert len(set(uv_islands(f, uv))) == 1
    uv2 = uv.copy()
    uv2[1] += 5
    assert len(set(uv_islands(f, uv2))) == 2


# ---------------------------------------------------------------------------- bad inputs
def test_bad_inputs_name_the_file(tmp_path):
    v, f = _tube()
    # empty
    (tmp_path / "empty.obj").write_text("# nothing\n")
    with pytest.raises(GarmentError, match=r"empty\.obj.*empty"):
        import_garment(tmp_path / "empty.obj", check_body=False)
    # NaN
    vn = v.copy()
    vn[3, 1] = np.nan
    _write_plain_obj(tmp_path / "nan.obj", vn, f)
    with pytest.raises(GarmentError, match=r"nan\.obj.*NaN"):
        import_garment(tmp_path / "nan.obj", check_body=False)
    # non-manifold: a third triangle on an existing edge
    extra = np.array([[len(v), f[0, 2], f[0, 0]]])  # on the quad diagonal, already shared by two
    _write_plain_obj(tmp_path / "nm.obj", np.vstack([v, [[0.0, 0.0, 2.0]]]), np.vstack([f, extra]))
    with pytest.raises(GarmentError, match=r"nm\.obj.*non-manifold"):
        import_garment(tmp_path / "nm.obj", check_body=False)
    # degenerate: a collinear triangle
    vd = np.vstack([v, [[0.3, 0.3, 1.0], [0.31, 0.31, 1.0], [0.32, 0.32, 1.0]]])
    fd = np.vstack([f, [[len(v), len(v) + 1, len(v) + 2]]])
    _write_plain_obj(tmp_path / "deg.obj", vd, fd)
    with pytest.raises(GarmentError, match=r"deg\.obj.*degenerate"):
        import_garment(tmp_path / "deg.obj", check_body=False)
    # unsupported extension
    (tmp_path / "x.ply").write_text("ply\n")
    with pytest.raises(GarmentError, match="unsupported"):
        import_garment(tmp_path / "x.ply", check_body=False)


def test_units_guessed_and_mismatch_reported(tmp_path):
    v, f = _tube()
    _write_plain_obj(tmp_path / "cm.obj", v * 100, f)
    g = import_garment(tmp_path / "cm.obj", check_body=False)  # auto: centimetres
    assert g.meta["units_scale"] == 0.01 and np.allclose(g.verts, v, atol=1e-5)
    with pytest.raises(GarmentError, match=r"cm\.obj: unit mismatch.*did you mean units='cm'"):
        import_garment(tmp_path / "cm.obj", units="m", check_body=False)
    _write_plain_obj(tmp_path / "huge.obj", v * 1e6, f)
    with pytest.raises(GarmentError, match="cannot guess units"):
        import_garment(tmp_path / "huge.obj", check_body=False)


def test_garment_inside_the_body_is_rejected(tmp_path):
    from drape.garment.templates import _body_context

    _body_context(None)
    v, f = _tube(r=0.05)  # a 5 cm radius tube at the waist lies inside the torso
    _write_plain_obj(tmp_path / "inside.obj", v, f)
    with pytest.raises(GarmentError, match=r"inside\.obj.*inside the body"):
        import_garment(tmp_path / "inside.obj")
    # a library garment written out and read back passes, unchanged
    from drape.garment.templates import make_garment

    g = make_garment("skirt", vert_count=500)
    write_obj(g, tmp_path / "skirt.obj")
    h = import_garment(tmp_path / "skirt.obj")
    assert np.allclose(h.verts, g.verts, atol=1e-5) and (h.faces == g.faces).all()
    assert h.meta["pattern_from"] == "uv"
