"""Wavefront OBJ sequence export: one OBJ file per frame holding the body and the garment.

Layout of the output folder::

    sequence.json         manifest: format drape.obj_sequence v1, fps, units, axes, frame list
    drape.mtl             two materials, ``body`` and ``garment`` (optional)
    frame_00000.obj       o body ... o garment ..., frame 0
    frame_00001.obj       ...

Each file is self-contained: vertex indices are 1-based and global within the file
(the garment's faces are offset by the body's vertex count). Units are metres. By
default coordinates are drape's world frame, **z-up** (body faces -y, left = +x,
floor z = 0); in Blender import with Up = Z, Forward = Y (no axis conversion).
``up_axis="y"`` writes ``(x, z, -y)`` instead (y-up, body facing +z), the default
most OBJ importers assume. Frame ``f`` is at time ``f / fps``; with ``every > 1``
file names keep the original frame numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from drape.export._common import Z_UP_TO_Y_UP, check_sequence, frame_indices, garment_uv_layout, json_safe
from drape.types import DrapeError, Sequence

OBJ_FORMAT = "drape.obj_sequence"
OBJ_FORMAT_VERSION = 1
MANIFEST_NAME = "sequence.json"
MTL_NAME = "drape.mtl"


def _block(fmt: str, rows: np.ndarray) -> str:
    """Format (N, k) rows with a per-row printf format (fast: one % over a flat tuple)."""
    if len(rows) == 0:
        return ""
    return (fmt * len(rows)) % tuple(rows.ravel().tolist())


def export_obj_sequence(
    directory,
    seq: Sequence,
    *,
    every: int = 1,
    garment_uv=None,
    up_axis: str = "z",
    materials: bool = True,
    precision: int = 6,
) -> list[Path]:
    """Write one OBJ per exported frame into ``directory`` (created if missing); returns the OBJ paths.

    seq: the avatar; ``body_verts``/``garment_verts`` (F, V, 3) metres, drape world frame.
    every: export frames 0, every, 2*every, ...
    garment_uv: None, (Vg, 2) per-vertex or (Tg, 3, 2) per-corner UVs (written as ``vt``,
        bottom-left origin as OBJ expects).
    up_axis: ``"z"`` (drape's frame, default) or ``"y"`` (``(x, y, z) -> (x, z, -y)``).
    materials: write ``drape.mtl`` and ``usemtl`` lines.
    precision: decimals per coordinate (6 = micrometres).
    """
    directory = Path(directory)
    F, Vb, Vg = check_sequence(seq, f"export_obj_sequence {directory}")
    frames = frame_indices(F, every, "export_obj_sequence")
    if up_axis not in ("z", "y"):
        raise DrapeError(f"export_obj_sequence: up_axis must be 'z' or 'y', got {up_axis!r}")
    if not (isinstance(precision, int) and 1 <= precision <= 9):
        raise DrapeError(f"export_obj_sequence: precision must be an integer in [1, 9], got {precision!r}")
    directory.mkdir(parents=True, exist_ok=True)
    _, uv, _ = garment_uv_layout(garment_uv, seq.garment_faces, Vg, "export_obj_sequence")
    per_corner = uv is not None and np.asarray(garment_uv).ndim == 3

    bf = np.asarray(seq.body_faces, dtype=np.int64) + 1
    gf = np.asarray(seq.garment_faces, dtype=np.int64) + 1 + Vb
    if uv is None:
        garment_faces = _block("f %d %d %d\n", gf)
        uv_lines = ""
    elif per_corner:
        corner = np.asarray(garment_uv, dtype=np.float64).reshape(-1, 2)
        uv_lines = _block("vt %.6f %.6f\n", corner)
        vt = np.arange(1, len(corner) + 1).reshape(-1, 3)
        garment_faces = _block("f %d/%d %d/%d %d/%d\n", np.stack([gf, vt], -1).reshape(-1, 6))
    else:
        uv_lines = _block("vt %.6f %.6f\n", uv.astype(np.float64))
        vt = gf - Vb
        garment_faces = _block("f %d/%d %d/%d %d/%d\n", np.stack([gf, vt], -1).reshape(-1, 6))
    body_faces = _block("f %d %d %d\n", bf)
    vfmt = f"v %.{precision}f %.{precision}f %.{precision}f\n"
    axes = (
        "+Z up (drape world: body faces -y, left = +x, floor z = 0)"
        if up_axis == "z"
        else "+Y up (drape's (x, y, z) written as (x, z, -y); body faces +z)"
    )

    if materials:
        (directory / MTL_NAME).write_text(
            "# drape materials\n"
            "newmtl body\nKd 0.80 0.62 0.52\nKa 0 0 0\nKs 0.05 0.05 0.05\nNs 10\nillum 2\n\n"
            "newmtl garment\nKd 0.20 0.36 0.72\nKa 0 0 0\nKs 0.02 0.02 0.02\nNs 5\nillum 2\n"
        )
    paths = []
    names = []
    for f in frames:
        body = np.asarray(seq.body_verts[f], dtype=np.float64)
        garment = np.asarray(seq.garment_verts[f], dtype=np.float64)
        if up_axis == "y":
            body, garment = body @ Z_UP_TO_Y_UP.T, garment @ Z_UP_TO_Y_UP.T
        name = f"frame_{f:05d}.obj"
        parts = [
            f"# {OBJ_FORMAT} v{OBJ_FORMAT_VERSION}: frame {f} of {F}, time {f / seq.fps:.6f} s at {seq.fps:g} fps\n",
            f"# units: metres; axes: {axes}\n",
            f"# objects: body ({Vb} vertices), garment ({Vg} vertices; its faces index after the body's)\n",
        ]
        if materials:
            parts.append(f"mtllib {MTL_NAME}\n")
        parts += ["o body\n", _block(vfmt, body), "usemtl body\n" if materials else "", "s 1\n", body_faces]
        parts += ["o garment\n", _block(vfmt, garment), uv_lines, "usemtl garment\n" if materials else "", "s 1\n",
                  garment_faces]
        path = directory / name
        path.write_text("".join(parts))
        paths.append(path)
        names.append({"frame": int(f), "time": float(f / seq.fps), "file": name})
    manifest = {
        "format": OBJ_FORMAT,
        "version": OBJ_FORMAT_VERSION,
        "fps": float(seq.fps),
        "source_frame_count": F,
        "every": int(every),
        "units": "metres",
        "up_axis": up_axis.upper(),
        "body_vert_count": Vb,
        "garment_vert_count": Vg,
        "frames": names,
        "meta": json_safe({k: v for k, v in dict(seq.meta).items() if k != "garment_uv"}),
    }
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))
    return paths


def read_obj_manifest(directory) -> dict:
    """Read and check ``sequence.json`` of an OBJ sequence folder written by :func:`export_obj_sequence`."""
    path = Path(directory) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise DrapeError(f"{path}: not found; expected an OBJ sequence folder written by drape") from None
    except json.JSONDecodeError as exc:
        raise DrapeError(f"{path} line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != OBJ_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise DrapeError(f"{path}: expected format {OBJ_FORMAT!r}, got {got!r}")
    if manifest.get("version") != OBJ_FORMAT_VERSION:
        raise DrapeError(f"{path}: expected {OBJ_FORMAT} version {OBJ_FORMAT_VERSION}, got {manifest.get('version')!r}")
    return manifest


def read_obj_frame(path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read one frame file: ``{object name: (verts (V, 3) float64, faces (T, 3) int64, 0-based into that object)}``.

    A small reader for drape's own files (triangles, ``v``/``vt``/``f``/``o`` lines).
    """
    path = Path(path)
    objects: dict[str, tuple[list, list]] = {}
    current = None
    verts: list[list[float]] = []
    starts: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line or line[0] == "#":
            continue
        tag, _, rest = line.partition(" ")
        if tag == "o":
            current = rest.strip()
            objects[current] = ([], [])
            starts[current] = len(verts)
        elif tag == "v":
            xyz = rest.split()
            if len(xyz) != 3:
                raise DrapeError(f"{path} line {lineno}: expected 3 coordinates, got {len(xyz)}")
            verts.append([float(x) for x in xyz])
            if current is None:
                raise DrapeError(f"{path} line {lineno}: vertex before any 'o' line")
            objects[current][0].append(len(verts) - 1)
        elif tag == "f":
            idx = [int(c.split("/")[0]) - 1 for c in rest.split()]
            if len(idx) != 3:
                raise DrapeError(f"{path} line {lineno}: expected a triangle, got {len(idx)} corners")
            objects[current][1].append(idx)
    all_verts = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    out = {}
    for name, (vidx, faces) in objects.items():
        f = np.asarray(faces, dtype=np.int64).reshape(-1, 3) - starts[name]
        out[name] = (all_verts[vidx], f)
    return out
