"""Hem ride-up of simulated skirts and dresses: how far the hem climbs over a sequence.

A pinned-waist skirt on a walking body should swing about a steady hem height; a hem that climbs
stride after stride (the cloth caught between the thighs and lifted) makes ground truth that no
skinning or learned model should follow. For every finished sequence of ``--garment`` in the given dataset
folders this prints, relative to the root, the mean height of the lowest 10% of the garment's
vertices (by the first frame) and of the top 5% (the waistband), sampled over the sequence, and
the share of hem vertices within 6 cm of the body's mid-plane (between the legs):

    python benchmarks/hem_rideup.py datasets/v1 --garment skirt --every 30

Prints one JSON line per sequence: frames, hem_z_cm and waist_z_cm (lists), hem_rise_cm (last
sample minus first) and hem_mid_fraction (list).
"""

from __future__ import annotations

import argparse
import json
import numpy as np


def hem_profile(garment_verts: np.ndarray, root: np.ndarray, every: int, *, hem_q: float = 0.1,
                waist_q: float = 0.95, mid_halfwidth: float = 0.06) -> dict:
    """Hem and waistband heights (cm above the root, z-up) every ``every`` frames.

    Args:
        garment_verts: (F, V, 3) metres, world frame.
        root: (F, 3) metres, the root translation of each frame.
        every: sample spacing in frames (the last frame is always sampled).
    """
    g = np.asarray(garment_verts, np.float64)
    r = np.asarray(root, np.float64)
    if g.ndim != 3 or g.shape[2] != 3 or r.shape != (g.shape[0], 3):
        raise ValueError(f"expected garment (F, V, 3) and root (F, 3), got {g.shape} and {r.shape}")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    rel = g - r[:, None, :]
    z0 = rel[0, :, 2]
    hem = z0 <= np.quantile(z0, hem_q)
    waist = z0 >= np.quantile(z0, waist_q)
    frames = sorted(set(range(0, g.shape[0], every)) | {g.shape[0] - 1})
    hem_z = [float(rel[f, hem, 2].mean() * 100) for f in frames]
    return {
        "frames": g.shape[0],
        "sampled": frames,
        "hem_z_cm": [round(v, 2) for v in hem_z],
        "waist_z_cm": [round(float(rel[f, waist, 2].mean() * 100), 2) for f in frames],
        "hem_rise_cm": round(hem_z[-1] - hem_z[0], 2),
        "hem_mid_fraction": [round(float((np.abs(rel[f, hem, 0]) < mid_halfwidth).mean()), 3) for f in frames],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+", help="dataset folders from drape dataset build")
    ap.add_argument("--garment", default="skirt",
                    help="garment spec as given to drape dataset build (library name or garment file)")
    ap.add_argument("--every", type=int, default=30, help="sample spacing in frames")
    args = ap.parse_args()

    from drape.data.sequence import load_sequence
    from drape.data.windows import dataset_sequences

    from drape.types import DrapeError

    for d in args.datasets:
        try:
            entries = dataset_sequences(d, args.garment)  # finished sequences only
        except DrapeError as exc:  # names the garments the folder does hold
            raise SystemExit(str(exc)) from None
        for entry in entries:
            s = load_sequence(entry["path"])
            row = {"sequence": entry["task_id"], **hem_profile(s.garment_verts, s.root_translation, args.every)}
            print(json.dumps(row))


if __name__ == "__main__":
    main()
