"""LOCAL STAND-INS used by ``drape simulate`` while the shared modules are not in the tree.

Each function here is used only when its real counterpart cannot be imported:

- :func:`save_sequence`     stands in for ``drape.data.sequence.save_sequence``
- :func:`penetration_pct`   stands in for ``drape.geometry.distance.penetration_pct``
- :func:`stretch_ratios`    stands in for ``drape.geometry.mesh_ops.stretch_ratios``
- :func:`render_preview`    stands in for ``drape.geometry.render``

They are deliberately minimal; remove them once the real modules exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

STANDIN_SEQUENCE_FORMAT = "drape-sequence-standin"
STANDIN_SEQUENCE_VERSION = 0


def save_sequence(path, seq) -> Path:
    """Write a Sequence as an .npz with a format name and version (stand-in format)."""
    path = Path(path)
    np.savez_compressed(
        path,
        format=np.array(STANDIN_SEQUENCE_FORMAT),
        version=np.array(STANDIN_SEQUENCE_VERSION),
        fps=np.array(seq.fps),
        body_verts=seq.body_verts,
        body_faces=seq.body_faces,
        garment_verts=seq.garment_verts,
        garment_velocities=seq.garment_velocities,
        garment_faces=seq.garment_faces,
        world_rotations=seq.world_rotations,
        root_translation=seq.root_translation,
        meta=np.array(json.dumps(seq.meta)),
    )
    return path


def penetration_pct(points: np.ndarray, body_verts: np.ndarray, body_faces: np.ndarray, *, depth: float = 0.001) -> float:
    """% of points more than ``depth`` m inside the mesh (sign from the nearest face's pseudo-normal, via Warp)."""
    from drape.cache import init_warp

    wp = init_warp()
    pts = np.asarray(points, dtype=np.float32)
    mesh = wp.Mesh(
        points=wp.array(np.asarray(body_verts, dtype=np.float32), dtype=wp.vec3, device="cpu"),
        indices=wp.array(np.asarray(body_faces, dtype=np.int32).reshape(-1), dtype=wp.int32, device="cpu"),
    )
    out = wp.zeros(len(pts), dtype=wp.float32, device="cpu")
    wp.launch(_signed_distance_kernel(), dim=len(pts), inputs=[mesh.id, wp.array(pts, dtype=wp.vec3, device="cpu")],
              outputs=[out], device="cpu")
    d = out.numpy()
    return float(100.0 * np.count_nonzero(d < -depth) / max(len(d), 1))


_KERNEL = None


def _signed_distance_kernel():
    global _KERNEL
    if _KERNEL is None:
        import warp as wp

        @wp.kernel
        def signed_distance(mesh: wp.uint64, pts: wp.array(dtype=wp.vec3), out: wp.array(dtype=wp.float32)):
            i = wp.tid()
            q = wp.mesh_query_point_sign_normal(mesh, pts[i], 10.0)
            if q.result:
                c = wp.mesh_eval_position(mesh, q.face, q.u, q.v)
                out[i] = wp.length(pts[i] - c) * q.sign
            else:
                out[i] = 10.0

        _KERNEL = signed_distance
    return _KERNEL


def stretch_ratios(verts: np.ndarray, faces: np.ndarray, panel_uv: np.ndarray) -> np.ndarray:
    """Edge length / pattern length per triangle edge: (..., T*3)."""
    f = np.asarray(faces, dtype=np.int64)
    uv = np.asarray(panel_uv, dtype=np.float64)
    rest = np.linalg.norm(np.roll(uv, -1, axis=1) - uv, axis=-1).reshape(-1)
    v = np.asarray(verts, dtype=np.float64)
    a = v[..., f, :]
    length = np.linalg.norm(np.roll(a, -1, axis=-2) - a, axis=-1)
    return length.reshape(*length.shape[:-2], -1) / rest


def render_preview(path, body_verts, body_faces, garment_verts, garment_faces, *, titles=None, views=("front", "side")) -> Path:
    """PNG grid: one column per frame, one row per view. Arrays are (K, V, 3) for K frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    K = len(garment_verts)
    az = {"front": -90.0, "side": 0.0, "back": 90.0}
    fig = plt.figure(figsize=(3.0 * K, 5.0 * len(views)), dpi=100)
    light = np.array([0.3, -0.8, 0.5])
    light /= np.linalg.norm(light)
    for r, view in enumerate(views):
        for k in range(K):
            ax = fig.add_subplot(len(views), K, r * K + k + 1, projection="3d")
            tris, cols = [], []
            for verts, faces, rgb in ((body_verts[k], body_faces, (0.8, 0.72, 0.65)), (garment_verts[k], garment_faces, (0.2, 0.45, 0.85))):
                tri = np.asarray(verts)[np.asarray(faces)]
                n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
                n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
                shade = 0.35 + 0.65 * np.abs(n @ light)
                tris.append(tri)
                cols.append(np.clip(np.outer(shade, rgb), 0, 1))
            # One collection, so body and garment triangles are depth-sorted together.
            ax.add_collection3d(Poly3DCollection(np.concatenate(tris), facecolors=np.concatenate(cols), edgecolors="none"))
            allv = np.concatenate([body_verts[k], garment_verts[k]])
            c = 0.5 * (allv.min(0) + allv.max(0))
            h = 0.36 * np.ptp(allv, axis=0).max()
            ax.set_xlim(c[0] - h, c[0] + h)
            ax.set_ylim(c[1] - h, c[1] + h)
            ax.set_zlim(c[2] - h, c[2] + h)
            ax.set_box_aspect((1, 1, 1))
            ax.view_init(elev=5, azim=az.get(view, -90.0))
            ax.set_axis_off()
            if titles is not None:
                ax.set_title(f"{titles[k]} ({view})", fontsize=9)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.95, wspace=0, hspace=0.05)
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
