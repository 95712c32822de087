"""The motion library: built-in clips and :func:`load_motion` for names and BVH files."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from drape.motion.bvh import read_bvh
from drape.motion.deepmimic import clip_files, load_deepmimic, read_frames
from drape.motion.resample import LoopTransform, repeat_loop, resample_arrays
from drape.motion.retarget import retarget_arrays, rig_rest
from drape.motion.source import SourceMotion, close_loop_source, source_from_bvh, source_up
from drape.types import BodyShape, DrapeError, Motion


@dataclass(frozen=True)
class ClipInfo:
    """A built-in clip."""

    name: str
    frames: int
    """Keyframes in the file."""
    fps: float
    """Nominal keyframes per second."""
    duration: float
    """Seconds (one cycle for looping clips)."""
    loop: bool
    path: str


def builtin_clips() -> list[ClipInfo]:
    """The built-in clips (pybullet's DeepMimic humanoid motions), sorted by name."""
    out = []
    for name, path in sorted(clip_files().items()):
        x, loop = read_frames(path)
        dur = float(x[:, 0].sum())
        step = float(np.median(x[:-1, 0])) if len(x) > 1 else 1 / 30
        out.append(ClipInfo(name=name, frames=len(x), fps=round(1.0 / step, 3), duration=dur, loop=loop, path=str(path)))
    return out


SEGMENT_MARK = "@"
"""``SPEC@SECONDS`` names the part of motion SPEC from SECONDS on (``19_10.bvh@6``)."""


def split_segment(spec: str | Path) -> tuple[str, float | None]:
    """``(base spec, start seconds)`` of a motion spec; start is None when the spec names a whole clip.

    ``walk@1.5`` -> ("walk", 1.5); ``a@b/x.bvh`` -> ("a@b/x.bvh", None) (an ``@`` not followed by a
    number is part of the name).
    """
    text = str(spec)
    base, mark, tail = text.rpartition(SEGMENT_MARK)
    if not mark or not base:
        return text, None
    try:
        start = float(tail[:-1] if tail.endswith("s") else tail)
    except ValueError:
        return text, None
    if not (math.isfinite(start) and start >= 0):
        raise DrapeError(f"motion {text!r}: segment start must be a number of seconds >= 0, got {tail!r}")
    return base, start


def segment_spec(base: str, start: float | None) -> str:
    """The spec :func:`split_segment` reads back as ``(base, start)``."""
    return base if start is None else f"{base}{SEGMENT_MARK}{start:g}"


def source_segment(src: SourceMotion, start: float) -> SourceMotion:
    """The part of ``src`` from ``start`` seconds on, its clock restarted at 0 (no longer a loop)."""
    keep = np.flatnonzero(src.times >= start - 1e-9)
    if len(keep) < 2:
        raise DrapeError(
            f"motion {src.name}: segment start {start:g} s is past the clip's end "
            f"({float(src.times[-1]):.2f} s); expected a start that leaves at least 2 keyframes"
        )
    times = src.times[keep]
    return replace(
        src,
        name=segment_spec(src.name, start),
        local_rotations=src.local_rotations[keep],
        root_positions=src.root_positions[keep],
        times=times - times[0],
        loop=False,
        source=segment_spec(src.source, start),
    )


def load_source(name_or_path: str | Path) -> SourceMotion:
    """A built-in clip name or a ``.bvh`` path as a SourceMotion (source frame, not yet retargeted).

    ``SPEC@SECONDS`` loads the part of SPEC from SECONDS on (see :func:`split_segment`).
    """
    spec, start = split_segment(name_or_path)
    if start is not None:
        return source_segment(load_source(spec), start)
    path = Path(spec)
    if spec.lower().endswith(".bvh") or path.suffix.lower() == ".bvh":
        return source_from_bvh(read_bvh(path), source=str(path))
    if path.suffix.lower() in (".txt", ".json") and path.is_file():
        return load_deepmimic(path)
    files = clip_files()
    if spec in files:
        return load_deepmimic(files[spec], name=spec)
    if path.exists():
        raise DrapeError(f"{spec}: unsupported motion file; expected a .bvh file or a DeepMimic .txt clip")
    raise DrapeError(f"unknown motion {spec!r}: not a .bvh file or a built-in clip; built-in clips: {', '.join(files)}")


def load_motion(
    name_or_path: str | Path,
    *,
    fps: float = 30.0,
    loops: int = 1,
    preset: str | None = None,
    joint_map: dict[str, str] | str | Path | None = None,
    body_shape: BodyShape | None = None,
    align: bool = True,
) -> Motion:
    """Load a motion retargeted onto the rig: a built-in clip name (``walk``, ``run``, ``dance_a``...,
    see :func:`builtin_clips`) or a ``.bvh`` path, optionally with ``@SECONDS`` for the part from there
    on (aligned and floored as a clip of its own).

    fps: output frames per second (slerp / lerp resampling).
    loops: play a looping clip this many times (the root keeps travelling); > 1 needs a looping clip.
    preset: source joint naming (``cmu``, ``daz``, ``mixamo``, ``deepmimic``); detected when None.
    joint_map: {source joint: rig bone} or a JSON file of it, for other skeletons.
    body_shape: body whose rest pose defines the limb alignment (average body when None).
    align: turn the clip so the body starts facing -y with its root above the origin.
    Seamless looping: built-in "wrap" clips have their seam blended (the last keyframe made exactly
    the first one moved by the cycle's travel and turn), so repeating them has no jump.
    """
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise DrapeError(f"fps must be a positive number, got {fps!r}")
    if not (isinstance(loops, (int, np.integer)) and loops >= 1):
        raise DrapeError(f"loops must be a whole number >= 1, got {loops!r}")
    src = load_source(name_or_path)
    if loops > 1 and not src.loop:
        raise DrapeError(f"motion {src.name} does not loop; --loops {loops} needs a looping clip")
    if src.loop:
        up = source_up(src.axes) if src.axes is not None else None
        if up is None:
            from drape.motion.retarget import detect_axes, resolve_mapping

            _, mapping = resolve_mapping(src, preset=preset, joint_map=joint_map)
            up = source_up(detect_axes(src, mapping))
        src = close_loop_source(src, up)
    rig = rig_rest(body_shape)
    G, root = retarget_arrays(src, preset=preset, joint_map=joint_map, rig=rig, align=align)
    if body_shape is not None:
        root = root * (rig_rest(None).leg_length / rig.leg_length)
    times = src.times
    if src.loop:
        lt = LoopTransform.between(G[0, 0], root[0], G[-1, 0], root[-1])
        rot, root_out, fps_eff = resample_arrays(
            G[:-1], root[:-1], times[:-1], fps, loop_transform=lt, period=float(times[-1])
        )
    else:
        lt = None
        rot, root_out, fps_eff = resample_arrays(G, root, times, fps)
    motion = Motion(
        name=src.name,
        fps=float(fps),
        bone_names=tuple(rig.bone_names),
        world_rotations=rot.astype(np.float32),
        root_translation=root_out.astype(np.float32),
        loop=src.loop,
        source=src.source,
    )
    if loops > 1:
        motion = repeat_loop(motion, loops, loop_transform=lt)
    return motion
