"""On-disk format of a simulated sequence: one ``.npz`` file, format ``drape.sequence`` version 1.

Contents (numpy arrays inside a zip, compressed):

=====================  ==================  ==========================================
key                    dtype, shape        meaning
=====================  ==================  ==========================================
format                 str, ()             ``"drape.sequence"``
version                int64, ()           1
fps                    float64, ()         frames per second
meta_json              str, ()             ``Sequence.meta`` as JSON
garment_verts          float32 (F, Vg, 3)  metres, world frame
garment_velocities     float32 (F, Vg, 3)  m/s
garment_faces          int32 (Tg, 3)
body_faces             int32 (Tb, 3)
world_rotations        float32 (F, J, 3, 3)
root_translation       float32 (F, 3)      metres
body_encoding          str, ()             ``"float32"`` or ``"int16_root_offset"``
body_verts             float32 (F, Vb, 3)  (``float32`` encoding) metres
body_offsets_q         int16 (F, Vb, 3)    (``int16_root_offset``) body minus root, quantized
body_scale             float64, ()         (``int16_root_offset``) metres per quantum
=====================  ==================  ==========================================

The default body encoding stores each body vertex relative to that frame's root
translation as int16 with one scale per sequence: about half the bytes of
float32, with an error under ``body_scale / 2`` (0.02 mm for a body spanning
+-1 m around its root), far below the 1 mm penetration threshold.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from drape.types import DrapeError, Sequence

FORMAT = "drape.sequence"
VERSION = 1
BODY_ENCODINGS = ("int16_root_offset", "float32")

__all__ = [
    "FORMAT",
    "VERSION",
    "SequenceFormatError",
    "save_sequence",
    "load_sequence",
    "read_sequence_header",
    "atomic_write_bytes",
]


class SequenceFormatError(DrapeError):
    """A sequence file is missing, unreadable, of another format or of an unsupported version."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_sequence(seq: Sequence) -> None:
    F = seq.garment_verts.shape[0] if np.ndim(seq.garment_verts) == 3 else -1
    expected = {
        "garment_verts": (F, None, 3),
        "garment_velocities": tuple(np.shape(seq.garment_verts)),
        "garment_faces": (None, 3),
        "body_verts": (F, None, 3),
        "body_faces": (None, 3),
        "world_rotations": (F, None, 3, 3),
        "root_translation": (F, 3),
    }
    for name, shape in expected.items():
        got = np.shape(getattr(seq, name))
        if len(got) != len(shape) or any(e is not None and e != g for e, g in zip(shape, got)):
            want = "(" + ", ".join("*" if e is None else str(e) for e in shape) + ")"
            raise SequenceFormatError(f"sequence {name}: expected shape {want}, got {got}")
    if not (np.isfinite(seq.fps) and seq.fps > 0):
        raise SequenceFormatError(f"sequence fps: expected a positive number, got {seq.fps}")


def save_sequence(
    path: str | os.PathLike, seq: Sequence, *, body_encoding: str = "int16_root_offset", compress: bool = True
) -> Path:
    """Write ``seq`` to ``path`` (``.npz``) atomically: a temporary file, then a rename.

    Args:
        path: destination; ``.npz`` is appended when missing.
        seq: the sequence (arrays are cast to float32 / int32).
        body_encoding: ``"int16_root_offset"`` (default, half size) or ``"float32"`` (exact).
        compress: zip-deflate the arrays.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    if body_encoding not in BODY_ENCODINGS:
        raise SequenceFormatError(f"body_encoding: expected one of {BODY_ENCODINGS}, got {body_encoding!r}")
    _check_sequence(seq)
    try:
        meta_json = json.dumps(seq.meta, sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise SequenceFormatError(f"sequence meta must be JSON-serialisable: {exc}") from None
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT),
        "version": np.array(VERSION, dtype=np.int64),
        "fps": np.array(float(seq.fps)),
        "meta_json": np.array(meta_json),
        "garment_verts": np.asarray(seq.garment_verts, np.float32),
        "garment_velocities": np.asarray(seq.garment_velocities, np.float32),
        "garment_faces": np.asarray(seq.garment_faces, np.int32),
        "body_faces": np.asarray(seq.body_faces, np.int32),
        "world_rotations": np.asarray(seq.world_rotations, np.float32),
        "root_translation": np.asarray(seq.root_translation, np.float32),
        "body_encoding": np.array(body_encoding),
    }
    body = np.asarray(seq.body_verts, np.float64)
    if body_encoding == "float32":
        arrays["body_verts"] = body.astype(np.float32)
    else:
        root = arrays["root_translation"].astype(np.float64)[:, None, :]
        offset = body - root
        span = float(np.abs(offset).max()) if offset.size else 0.0
        scale = max(span, 1e-6) / 32767.0
        arrays["body_offsets_q"] = np.clip(np.rint(offset / scale), -32767, 32767).astype(np.int16)
        arrays["body_scale"] = np.array(scale)
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _check_format(path: Path, fmt: str, version: int) -> None:
    if fmt != FORMAT:
        raise SequenceFormatError(f"{path}: expected format {FORMAT!r}, got {fmt!r}")
    if version != VERSION:
        raise SequenceFormatError(
            f"{path}: {FORMAT} version {version} is not supported (this drape reads version {VERSION})"
        )


def read_sequence_header(path: str | os.PathLike) -> dict:
    """Format, version, fps, meta and array shapes of a sequence file, without reading the big arrays.

    Raises:
        SequenceFormatError: missing file, not a zip/npz, wrong format or version.

    Returns:
        ``{"format", "version", "fps", "meta", "frames", "garment_vert_count",
        "body_vert_count", "body_encoding", "shapes": {key: shape}}``.
    """
    path = Path(path)
    if not path.is_file():
        raise SequenceFormatError(f"{path}: sequence file not found")
    try:
        with zipfile.ZipFile(path) as zf:
            shapes = {}
            small = {}
            for name in zf.namelist():
                key = name[:-4] if name.endswith(".npy") else name
                with zf.open(name) as fh:
                    major, minor = np.lib.format.read_magic(fh)
                    if (major, minor) == (1, 0):
                        shape, _, _ = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, _, _ = np.lib.format.read_array_header_2_0(fh)
                    shapes[key] = tuple(shape)
                    if key in ("format", "version", "fps", "meta_json", "body_encoding"):
                        small[key] = name
            if "format" not in small or "version" not in small:
                raise SequenceFormatError(f"{path}: not a {FORMAT} file (no format/version entries)")
            with np.load(path, allow_pickle=False) as npz:
                fmt = str(npz["format"])
                version = int(npz["version"])
                _check_format(path, fmt, version)
                fps = float(npz["fps"])
                meta = json.loads(str(npz["meta_json"]))
                encoding = str(npz["body_encoding"])
    except SequenceFormatError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as exc:
        raise SequenceFormatError(f"{path}: unreadable {FORMAT} file ({type(exc).__name__}: {exc})") from None
    body_key = "body_verts" if encoding == "float32" else "body_offsets_q"
    return {
        "format": fmt,
        "version": version,
        "fps": fps,
        "meta": meta,
        "frames": shapes["garment_verts"][0],
        "garment_vert_count": shapes["garment_verts"][1],
        "body_vert_count": shapes.get(body_key, (0, 0))[1],
        "body_encoding": encoding,
        "shapes": shapes,
    }


def load_sequence(path: str | os.PathLike) -> Sequence:
    """Read a sequence written by :func:`save_sequence` (checks format and version).

    Raises:
        SequenceFormatError: naming the file, for a missing file, another format,
            an unsupported version or a missing array.
    """
    path = Path(path)
    if not path.is_file():
        raise SequenceFormatError(f"{path}: sequence file not found")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise SequenceFormatError(f"{path}: unreadable {FORMAT} file ({type(exc).__name__}: {exc})") from None
    with npz:
        if "format" not in npz.files or "version" not in npz.files:
            raise SequenceFormatError(f"{path}: not a {FORMAT} file (no format/version entries)")
        _check_format(path, str(npz["format"]), int(npz["version"]))

        def get(key: str) -> np.ndarray:
            if key not in npz.files:
                raise SequenceFormatError(f"{path}: {FORMAT} v{VERSION} file lacks the array {key!r}")
            try:
                return npz[key]
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
                raise SequenceFormatError(f"{path}: array {key!r} is unreadable ({exc})") from None

        encoding = str(get("body_encoding"))
        root = get("root_translation").astype(np.float32)
        if encoding == "float32":
            body = get("body_verts").astype(np.float32)
        elif encoding == "int16_root_offset":
            q = get("body_offsets_q")
            body = (root.astype(np.float64)[:, None, :] + q * float(get("body_scale"))).astype(np.float32)
        else:
            raise SequenceFormatError(f"{path}: unknown body_encoding {encoding!r}; expected one of {BODY_ENCODINGS}")
        return Sequence(
            fps=float(get("fps")),
            body_verts=body,
            body_faces=get("body_faces").astype(np.int32),
            garment_verts=get("garment_verts").astype(np.float32),
            garment_velocities=get("garment_velocities").astype(np.float32),
            garment_faces=get("garment_faces").astype(np.int32),
            world_rotations=get("world_rotations").astype(np.float32),
            root_translation=root,
            meta=json.loads(str(get("meta_json"))),
        )
