"""Signed distance to triangle meshes: exact answers, fast path vs brute force."""

import math

import numpy as np
import pytest

from drape.geometry.distance import (
    MeshTopology,
    closest_point_on_triangles,
    nearest_on_mesh,
    penetration_pct,
    signed_distance,
    signed_distance_brute,
)
from drape.geometry.mesh_ops import face_normals


def unit_cube(lo=0.0, hi=1.0):
    v = np.array([[x, y, z] for z in (lo, hi) for y in (lo, hi) for x in (lo, hi)], float)
    # vertex index = x + 2 y + 4 z (x, y, z in {0, 1}); quads CCW seen from outside.
    quads = [
        (0, 2, 3, 1),  # z = lo, normal -z
        (4, 5, 7, 6),  # z = hi, normal +z
        (0, 1, 5, 4),  # y = lo, normal -y
        (2, 6, 7, 3),  # y = hi, normal +y
        (0, 4, 6, 2),  # x = lo, normal -x
        (1, 3, 7, 5),  # x = hi, normal +x
    ]
    f = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], np.int32)
    return v, f


def tetra():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.int32)
    return v, f


def uv_sphere(n_lat=12, n_lon=20, r=1.0):
    verts = [[0, 0, r]]
    for i in range(1, n_lat):
        th = math.pi * i / n_lat
        for j in range(n_lon):
            ph = 2 * math.pi * j / n_lon
            verts.append([r * math.sin(th) * math.cos(ph), r * math.sin(th) * math.sin(ph), r * math.cos(th)])
    verts.append([0, 0, -r])
    faces = []
    ring = lambda i, j: 1 + (i - 1) * n_lon + (j % n_lon)  # noqa: E731
    for j in range(n_lon):
        faces.append((0, ring(1, j), ring(1, j + 1)))
    for i in range(1, n_lat - 1):
        for j in range(n_lon):
            a, b, c, d = ring(i, j), ring(i + 1, j), ring(i + 1, j + 1), ring(i, j + 1)
            faces += [(a, b, c), (a, c, d)]
    last = len(verts) - 1
    for j in range(n_lon):
        faces.append((ring(n_lat - 1, j), last, ring(n_lat - 1, j + 1)))
    return np.array(verts), np.array(faces, np.int32)


def signed_volume(v, f):
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


def test_fixtures_are_outward():
    for v, f in (unit_cube(), tetra(), uv_sphere()):
        assert signed_volume(v, f) > 0


def test_cube_exact():
    v, f = unit_cube()
    pts = np.array(
        [
            [0.5, 0.5, 0.5],  # centre
            [0.5, 0.5, 2.0],  # above the top face
            [0.5, 0.5, 0.9],  # inside, near the top
            [0.5, 0.5, 1.2],  # above the top face's diagonal edge
            [0.3, 0.3, 0.95],  # inside, under that diagonal
            [2.0, 2.0, 0.5],  # off an edge
            [2.0, 2.0, 2.0],  # off a corner
            [-1.0, 0.5, 0.5],  # off the -x face
            [1.0, 1.0, 1.0],  # on a corner
        ]
    )
    expect = [-0.5, 1.0, -0.1, 0.2, -0.05, math.sqrt(2), math.sqrt(3), 1.0, 0.0]
    np.testing.assert_allclose(signed_distance(pts, v, f), expect, atol=1e-12)
    np.testing.assert_allclose(signed_distance_brute(pts, v, f), expect, atol=1e-12)


def test_tetra_exact():
    v, f = tetra()
    pts = np.array([[1, 1, 1], [-1, -1, -1], [0.1, 0.1, 0.1], [0.5, -1, 0.0], [0.2, 0.2, 0.3]])
    expect = [2 / math.sqrt(3), math.sqrt(3), -0.1, 1.0, -0.3 / math.sqrt(3)]
    got = nearest_on_mesh(pts, v, f)
    np.testing.assert_allclose(got.distance, expect, atol=1e-12)
    np.testing.assert_allclose(got.closest[0], [1 / 3, 1 / 3, 1 / 3], atol=1e-12)
    assert got.face[0] == 3
    np.testing.assert_allclose(got.normal[0], np.ones(3) / math.sqrt(3), atol=1e-12)


def test_closest_point_regions():
    a, b, c = np.array([[0.0, 0, 0]]), np.array([[1.0, 0, 0]]), np.array([[0.0, 1, 0]])
    cases = {
        (0.2, 0.2, 1.0): ((0.2, 0.2, 0.0), 0),  # interior
        (-1.0, -1.0, 0.0): ((0, 0, 0), 1),  # corner a
        (2.0, -0.5, 0.0): ((1, 0, 0), 2),  # corner b
        (-0.5, 2.0, 0.0): ((0, 1, 0), 3),  # corner c
        (0.5, -1.0, 0.0): ((0.5, 0, 0), 4),  # edge ab
        (1.0, 1.0, 0.0): ((0.5, 0.5, 0), 5),  # edge bc
        (-1.0, 0.5, 0.0): ((0, 0.5, 0), 6),  # edge ca
    }
    for p, (q, feat) in cases.items():
        got, code = closest_point_on_triangles(np.array([p]), a, b, c)
        np.testing.assert_allclose(got[0], q, atol=1e-12)
        assert code[0] == feat, p


def test_fast_matches_brute_on_sphere():
    v, f = uv_sphere()
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(400, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    pts = dirs * rng.uniform(0.5, 1.5, size=(400, 1))
    pts = np.concatenate([pts, dirs[:100] * rng.uniform(0.99, 1.01, size=(100, 1)), v[:20] * 1.001])
    fast = signed_distance(pts, v, f)
    ref = signed_distance_brute(pts, v, f)
    np.testing.assert_allclose(fast, ref, atol=1e-12)
    assert np.array_equal(fast < 0, ref < 0)


def test_fast_matches_brute_with_mixed_face_sizes():
    # One huge face plus many tiny ones: exercises the per-size bins.
    v, f = uv_sphere(n_lat=24, n_lon=6)
    rng = np.random.default_rng(1)
    pts = rng.uniform(-1.5, 1.5, size=(300, 3))
    np.testing.assert_allclose(signed_distance(pts, v, f), signed_distance_brute(pts, v, f), atol=1e-12)


def test_enclosed_component_is_ignored():
    outer_v, outer_f = unit_cube(0.0, 1.0)
    inner_v, inner_f = unit_cube(0.4, 0.6)
    v = np.concatenate([outer_v, inner_v])
    f = np.concatenate([outer_f, inner_f + len(outer_v)])
    p = np.array([[0.5, 0.5, 0.65], [0.5, 0.5, 0.5]])  # between the shells; inside the inner one
    np.testing.assert_allclose(signed_distance(p, v, f), [-0.35, -0.5], atol=1e-12)
    # Without the enclosure analysis the nearest (inner) surface decides.
    raw = signed_distance(p, v, f, topology=MeshTopology(f, drop_enclosed=False))
    np.testing.assert_allclose(raw, [0.05, -0.1], atol=1e-12)


def test_open_mesh_side():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    f = np.array([[0, 1, 2]])
    d = signed_distance(np.array([[0.2, 0.2, 0.5], [0.2, 0.2, -0.5], [-1, -1, -1]]), v, f)
    np.testing.assert_allclose(d, [0.5, -0.5, -math.sqrt(3)], atol=1e-12)
    assert face_normals(v, f)[0, 2] == 1.0


def test_penetration_pct_exact():
    v, f = unit_cube()
    pts = np.array(
        [
            [0.5, 0.5, 0.5],  # deep inside
            [0.5, 0.5, 0.9995],  # 0.5 mm inside: not counted
            [0.5, 0.5, 0.998],  # 2 mm inside: counted
            [0.5, 0.5, 1.5],  # outside
        ]
    )
    assert penetration_pct(pts, v, f) == 50.0
    assert penetration_pct(pts, v, f, depth=0.0) == 75.0
    assert penetration_pct(np.zeros((0, 3)), v, f) == 0.0


def test_bad_shapes_raise():
    v, f = unit_cube()
    with pytest.raises(ValueError, match=r"points: expected shape \(P, 3\)"):
        signed_distance(np.zeros((3, 2)), v, f)
    with pytest.raises(ValueError, match="indices must lie"):
        signed_distance(np.zeros((1, 3)), v, f + 100)
