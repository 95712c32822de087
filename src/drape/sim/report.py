"""Quality report of a simulated sequence: penetration into the body and fabric stretch."""

from __future__ import annotations

import numpy as np


def quality_report(seq, panel_uv: np.ndarray, *, depth: float = 0.001) -> dict:
    """Penetration and stretch figures of a simulated sequence.

    Args:
        seq: ``drape.types.Sequence``.
        panel_uv: (Tg, 3, 2) the garment's sewing-pattern coordinates (rest lengths).
        depth: metres below the body surface that count as penetration.

    Returns:
        ``{"nan", "penetration_pct", "penetration_pct_max", "penetration_pct_per_frame",
        "stretch_p99", "stretch_max"}``: penetration is the % of garment vertices more
        than ``depth`` inside the full body, averaged over frames (and its worst frame);
        stretch is edge length over pattern length, p99 and max over edges and frames.
    """
    from drape.geometry.distance import MeshTopology, penetration_pct
    from drape.geometry.mesh_ops import stretch_ratios

    g = np.asarray(seq.garment_verts)
    nan = bool(not np.isfinite(g).all())
    topo = MeshTopology(seq.body_faces)
    pen = np.array(
        [
            penetration_pct(g[f], seq.body_verts[f], seq.body_faces, depth=depth, topology=topo)
            for f in range(seq.frame_count)
            if np.isfinite(g[f]).all()
        ]
    )
    ratios = np.asarray(stretch_ratios(g, seq.garment_faces, panel_uv))
    ratios = ratios[np.isfinite(ratios)]
    return {
        "nan": nan,
        "penetration_pct": float(pen.mean()) if len(pen) else None,
        "penetration_pct_max": float(pen.max()) if len(pen) else None,
        "penetration_pct_per_frame": [round(float(x), 4) for x in pen],
        "stretch_p99": float(np.percentile(ratios, 99)) if ratios.size else None,
        "stretch_max": float(ratios.max()) if ratios.size else None,
    }
