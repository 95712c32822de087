"""Edges, normals, areas and pattern stretch on tiny meshes."""

import math

import numpy as np
import pytest

from drape.geometry.mesh_ops import (
    edge_lengths,
    face_areas,
    face_edge_ids,
    face_normals,
    pattern_rest_lengths,
    stretch_ratios,
    unique_edges,
    vertex_normals,
)

# Unit square in the z = 0 plane split along the diagonal 0-2.
SQ_V = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
SQ_F = np.array([[0, 1, 2], [0, 2, 3]], np.int32)


def test_unique_edges_and_ids():
    edges, ids = face_edge_ids(SQ_F)
    assert edges.tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [2, 3]]
    # corner k -> k+1 of each face
    assert ids.tolist() == [[0, 3, 1], [1, 4, 2]]
    assert unique_edges(SQ_F).tolist() == edges.tolist()


def test_edge_lengths_batch():
    edges = unique_edges(SQ_F)
    np.testing.assert_allclose(edge_lengths(SQ_V, edges), [1, math.sqrt(2), 1, 1, 1])
    frames = np.stack([SQ_V, 2 * SQ_V])
    np.testing.assert_allclose(edge_lengths(frames, edges)[1], [2, 2 * math.sqrt(2), 2, 2, 2])


def test_normals_and_areas():
    np.testing.assert_allclose(face_normals(SQ_V, SQ_F), [[0, 0, 1], [0, 0, 1]])
    np.testing.assert_allclose(face_areas(SQ_V, SQ_F), [0.5, 0.5])
    np.testing.assert_allclose(vertex_normals(SQ_V, SQ_F), np.tile([0, 0, 1.0], (4, 1)))
    # A 90-degree fold: vertex normals on the crease average both sides by area.
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    f = np.array([[0, 1, 2], [0, 1, 3]])  # normals +z and -y
    n = vertex_normals(np.stack([v, v]), f)
    assert n.shape == (2, 4, 3)
    np.testing.assert_allclose(n[1, 0], np.array([0, -1, 1]) / math.sqrt(2))
    np.testing.assert_allclose(n[0, 2], [0, 0, 1])
    np.testing.assert_allclose(n[0, 3], [0, -1, 0])


def test_stretch_exact():
    # Pattern: the same unit square, flat. Welded edge 0-2 appears in both triangles.
    uv = SQ_V[SQ_F][..., :2]
    edges, rest = pattern_rest_lengths(SQ_F, uv)
    np.testing.assert_allclose(rest, [1, math.sqrt(2), 1, 1, 1])
    np.testing.assert_allclose(stretch_ratios(SQ_V, SQ_F, uv), np.ones(5))
    # Stretch x by 1.5: edges 0-1 and 2-3 grow 1.5x, diagonal sqrt(1.5^2 + 1)/sqrt(2).
    v = SQ_V * [1.5, 1, 1]
    got = stretch_ratios(np.stack([SQ_V, v]), SQ_F, uv)
    assert got.shape == (2, 5)
    np.testing.assert_allclose(got[1], [1.5, math.sqrt(3.25) / math.sqrt(2), 1, 1, 1.5])


def test_stretch_seam_averages_rest_lengths():
    # Two panels sewn along edge 0-2 whose pattern lengths disagree (1.0 and 1.2): rest = 1.1.
    uv = np.array([[[0, 0], [1, 0], [0, 1.0]], [[0, 0], [0, 1.2], [-1, 0]]], float)
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1.1, 0], [-1, 0, 0]], float)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    edges, rest = pattern_rest_lengths(f, uv)
    i = edges.tolist().index([0, 2])
    assert rest[i] == pytest.approx(1.1)
    assert stretch_ratios(v, f, uv)[i] == pytest.approx(1.0)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"panel_uv: expected shape \(2, 3, 2\)"):
        stretch_ratios(SQ_V, SQ_F, np.zeros((3, 3, 2)))
    with pytest.raises(ValueError, match=r"faces: expected shape \(T, 3\)"):
        unique_edges(np.zeros((2, 4), int))
