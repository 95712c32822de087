"""UV atlas: pack the flat pattern panels into the unit square."""

from __future__ import annotations

import numpy as np


def pack_atlas(panel_uv: np.ndarray, panel: np.ndarray, *, gutter: float = 0.01) -> np.ndarray:
    """Pack panels into [0, 1]^2 without overlap, one uniform scale (aspect preserved).

    panel_uv: (T, 3, 2) metres, pattern coordinates per triangle corner.
    panel: (T,) int panel id of each triangle.
    gutter: empty space between panels and around the border, as a fraction of the atlas side.
    Returns (T, 3, 2) float64 in [0, 1].
    """
    uv = np.asarray(panel_uv, dtype=np.float64)
    panel = np.asarray(panel)
    ids = np.unique(panel)
    lo = {}
    size = {}
    for p in ids:
        q = uv[panel == p].reshape(-1, 2)
        lo[p] = q.min(0)
        size[p] = q.max(0) - q.min(0)
    total = sum(float(s[0] * s[1]) for s in size.values())
    best = None
    # try a few shelf widths and keep the one giving the smallest square
    for factor in np.linspace(1.0, 2.5, 16):
        width = max(max(s[0] for s in size.values()), np.sqrt(total) * factor)
        g = gutter * width
        order = sorted(ids, key=lambda p: -size[p][1])
        x = y = g
        shelf_h = 0.0
        place = {}
        used_w = 0.0
        for p in order:
            w, h = size[p]
            if x + w + g > width + 1e-12 and x > g:
                y += shelf_h + g
                x, shelf_h = g, 0.0
            place[p] = (x, y)
            x += w + g
            used_w = max(used_w, x)
            shelf_h = max(shelf_h, h)
        side = max(used_w, y + shelf_h + g)
        if best is None or side < best[0]:
            best = (side, place)
    side, place = best
    out = np.empty_like(uv)
    for p in ids:
        sel = panel == p
        out[sel] = (uv[sel] - lo[p] + np.asarray(place[p])) / side
    return np.clip(out, 0.0, 1.0)
