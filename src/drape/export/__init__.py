"""export stage: write an animated avatar (:class:`drape.types.Sequence`) for standard 3D tools.

* :func:`export_glb` - binary glTF 2.0: skinned body + skeleton animation, garment as morph targets (y-up).
* :func:`export_usd` - USD stage with time-sampled points (z-up, metres, timeCodesPerSecond = fps).
* :func:`export_obj_sequence` - one OBJ per frame with ``body`` and ``garment`` objects (z-up by default).
* :func:`export_sequence` - picks one of them from the path.

pxr (usd-core) is imported only when USD is written or read.
"""

from __future__ import annotations

from pathlib import Path

from drape.export.gltf import GLB_FORMAT, GLB_FORMAT_VERSION, GlbExport, export_glb, read_glb
from drape.export.obj import OBJ_FORMAT, OBJ_FORMAT_VERSION, export_obj_sequence, read_obj_frame, read_obj_manifest
from drape.export.usd import USD_FORMAT, USD_FORMAT_VERSION, export_usd, read_usd_sequence
from drape.types import DrapeError, Sequence


def export_sequence(path, seq: Sequence, *, body=None, every: int = 1, garment_uv=None) -> Path:
    """Export by file name: ``*.glb`` (needs ``body``), ``*.usd``/``*.usda``/``*.usdc``, or a folder
    (no suffix, or ``*.obj``'s parent) for an OBJ sequence. Returns the file or folder written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".glb":
        if body is None:
            raise DrapeError(f"export {path.name}: GLB export needs the Body the sequence was posed with")
        if every != 1:
            raise DrapeError(f"export {path.name}: GLB export writes every frame; got every={every}")
        return export_glb(path, seq, body, garment_uv=garment_uv).path
    if suffix in (".usd", ".usda", ".usdc"):
        return export_usd(path, seq, every=every, garment_uv=garment_uv)
    if suffix in ("", ".obj"):
        folder = path.parent if suffix == ".obj" else path
        export_obj_sequence(folder, seq, every=every, garment_uv=garment_uv)
        return folder
    raise DrapeError(f"export {path.name}: unknown format {suffix!r}; expected .glb, .usd, .usda, .usdc or a folder for OBJ")


__all__ = [
    "GLB_FORMAT",
    "GLB_FORMAT_VERSION",
    "OBJ_FORMAT",
    "OBJ_FORMAT_VERSION",
    "USD_FORMAT",
    "USD_FORMAT_VERSION",
    "GlbExport",
    "export_glb",
    "export_obj_sequence",
    "export_sequence",
    "export_usd",
    "read_glb",
    "read_obj_frame",
    "read_obj_manifest",
    "read_usd_sequence",
]
