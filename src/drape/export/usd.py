"""USD export: body and garment as meshes with time-sampled points.

Stage layout (default prim ``/drape``)::

    /drape            Xform
    /drape/body       Mesh, points time-sampled per frame, extent per frame
    /drape/garment    Mesh, likewise; doubleSided; primvars:st if UVs are given

Stage metadata: ``upAxis = "Z"`` and ``metersPerUnit = 1`` (drape's world frame is
written as is: z-up, metres, body facing -y), ``timeCodesPerSecond = framesPerSecond =
fps``, ``startTimeCode``/``endTimeCode`` = first/last exported frame. Frame ``f`` is
authored at time code ``f`` (so with ``every > 1`` the codes skip, and USD
interpolates points linearly in between). Meshes use ``subdivisionScheme = "none"``
(they are render meshes, not subdivision cages). ``customLayerData`` carries the
format name ``drape.usd`` and version, checked by :func:`read_usd_sequence`.

The file type follows the suffix: ``.usda`` text, ``.usd``/``.usdc`` binary crate.
Needs ``usd-core`` (imported as ``pxr``) only when called.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from drape.export._common import check_sequence, frame_indices, garment_uv_layout, json_safe
from drape.types import DrapeError, Sequence

USD_FORMAT = "drape.usd"
USD_FORMAT_VERSION = 1
_SUFFIXES = (".usd", ".usda", ".usdc")


def _pxr():
    try:
        from pxr import Gf, Sdf, Usd, UsdGeom, Vt
    except ImportError:
        raise DrapeError("USD export needs the usd-core package: pip install usd-core") from None
    return Gf, Sdf, Usd, UsdGeom, Vt


def export_usd(path, seq: Sequence, *, every: int = 1, garment_uv=None) -> Path:
    """Write ``seq`` as a USD stage at ``path`` (``.usd``, ``.usda`` or ``.usdc``); returns the path.

    seq: the avatar; ``body_verts``/``garment_verts`` (F, V, 3) metres, drape world frame (z-up).
    every: author frames 0, every, 2*every, ... (time codes keep the original frame numbers).
    garment_uv: None, (Vg, 2) per-vertex or (Tg, 3, 2) per-corner UVs in [0, 1] (bottom-left
        origin, as USD's ``st``), written as ``primvars:st`` (vertex or faceVarying).
    """
    path = Path(path)
    if path.suffix.lower() not in _SUFFIXES:
        raise DrapeError(f"export_usd: {path.name}: expected a .usd, .usda or .usdc file name")
    F, Vb, Vg = check_sequence(seq, f"export_usd {path.name}")
    frames = frame_indices(F, every, "export_usd")
    _, uv, _ = garment_uv_layout(garment_uv, seq.garment_faces, Vg, "export_usd")
    Gf, Sdf, Usd, UsdGeom, Vt = _pxr()

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    if tmp.exists():
        tmp.unlink()
    stage = Usd.Stage.CreateNew(str(tmp))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    UsdGeom.SetStageMetersPerUnit(stage, 1.0)
    stage.SetTimeCodesPerSecond(float(seq.fps))
    stage.SetFramesPerSecond(float(seq.fps))
    stage.SetStartTimeCode(float(frames[0]))
    stage.SetEndTimeCode(float(frames[-1]))
    root = UsdGeom.Xform.Define(stage, "/drape")
    stage.SetDefaultPrim(root.GetPrim())
    meta = json_safe({k: v for k, v in dict(seq.meta).items() if k != "garment_uv"})
    stage.GetRootLayer().customLayerData = {
        "drape_format": USD_FORMAT,
        "drape_format_version": USD_FORMAT_VERSION,
        "fps": float(seq.fps),
        "every": int(every),
        "source_frame_count": int(F),
        "meta_json": json.dumps(meta),
    }

    def mesh(name: str, verts: np.ndarray, faces: np.ndarray, color, double_sided: bool):
        m = UsdGeom.Mesh.Define(stage, f"/drape/{name}")
        faces = np.asarray(faces, dtype=np.int32)
        m.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(len(faces), 3, dtype=np.int32)))
        m.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(np.ascontiguousarray(faces.reshape(-1))))
        m.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
        m.CreateDoubleSidedAttr(double_sided)
        m.CreateDisplayColorAttr([Gf.Vec3f(*color)])
        points = m.CreatePointsAttr()
        extent = m.CreateExtentAttr()
        first = np.ascontiguousarray(verts[frames[0]], dtype=np.float32)
        points.Set(Vt.Vec3fArray.FromNumpy(first))  # default value: what tools without time show
        extent.Set(Vt.Vec3fArray.FromNumpy(np.stack([first.min(0), first.max(0)])))
        for f in frames:
            p = np.ascontiguousarray(verts[f], dtype=np.float32)
            code = Usd.TimeCode(float(f))
            points.Set(Vt.Vec3fArray.FromNumpy(p), code)
            extent.Set(Vt.Vec3fArray.FromNumpy(np.stack([p.min(0), p.max(0)])), code)
        return m

    mesh("body", seq.body_verts, seq.body_faces, (0.80, 0.62, 0.52), False)
    garment = mesh("garment", seq.garment_verts, seq.garment_faces, (0.20, 0.36, 0.72), True)
    if uv is not None:
        per_corner = np.asarray(garment_uv).ndim == 3
        values = np.asarray(garment_uv, dtype=np.float32).reshape(-1, 2) if per_corner else uv
        interp = UsdGeom.Tokens.faceVarying if per_corner else UsdGeom.Tokens.vertex
        st = UsdGeom.PrimvarsAPI(garment).CreatePrimvar("st", Sdf.ValueTypeNames.TexCoord2fArray, interp)
        st.Set(Vt.Vec2fArray.FromNumpy(np.ascontiguousarray(values)))
    stage.GetRootLayer().Save()
    del stage
    os.replace(tmp, path)
    return path


def read_usd_sequence(path) -> dict:
    """Read a stage written by :func:`export_usd` back into arrays.

    Returns ``{"fps", "frames" (K,) int, "body_verts" (K, Vb, 3), "body_faces", "garment_verts"
    (K, Vg, 3), "garment_faces", "up_axis", "meters_per_unit", "meta"}`` (float32 metres, as stored).
    """
    path = Path(path)
    Gf, Sdf, Usd, UsdGeom, Vt = _pxr()
    if not path.is_file():
        raise DrapeError(f"{path}: not found")
    stage = Usd.Stage.Open(str(path))
    if stage is None:
        raise DrapeError(f"{path}: not a readable USD stage")
    data = stage.GetRootLayer().customLayerData
    if data.get("drape_format") != USD_FORMAT:
        raise DrapeError(f"{path}: expected format {USD_FORMAT!r} in customLayerData, got {data.get('drape_format')!r}")
    if data.get("drape_format_version") != USD_FORMAT_VERSION:
        raise DrapeError(
            f"{path}: expected {USD_FORMAT} version {USD_FORMAT_VERSION}, got {data.get('drape_format_version')!r}"
        )
    out = {
        "fps": stage.GetTimeCodesPerSecond(),
        "up_axis": str(UsdGeom.GetStageUpAxis(stage)),
        "meters_per_unit": UsdGeom.GetStageMetersPerUnit(stage),
        "meta": json.loads(data.get("meta_json", "{}")),
    }
    for name in ("body", "garment"):
        m = UsdGeom.Mesh(stage.GetPrimAtPath(f"/drape/{name}"))
        if not m:
            raise DrapeError(f"{path}: expected a mesh at /drape/{name}")
        attr = m.GetPointsAttr()
        times = attr.GetTimeSamples()
        out["frames"] = np.asarray(times, dtype=np.int64)
        out[f"{name}_verts"] = np.stack([np.asarray(attr.Get(t), dtype=np.float32) for t in times])
        out[f"{name}_faces"] = np.asarray(m.GetFaceVertexIndicesAttr().Get(), dtype=np.int64).reshape(-1, 3)
    return out
