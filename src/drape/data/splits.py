"""Which motions train the learned model, which select it, and which measure it.

Motions are named by clip name (built-in) or file stem (BVH). The same CMU trial
can appear in both BVH conversions (``cmu/12_01`` and ``cmu-daz/12_01``): naming by
stem keeps both conversions of a held-out trial out of training.

- ``TEST_MOTIONS`` never enter a training dataset; ``drape eval`` reports on them.
- ``VAL_MOTIONS`` are simulated into the training dataset but only used for
  validation rollouts (model selection), never as training windows.
- Built-in clips in ``EXCLUDED_BUILTINS`` (floor work and acrobatics: the body
  lies or rolls on the floor, which the garments and the floor-less simulation
  are not meant for) are left out of both.
"""

from __future__ import annotations

from pathlib import Path

TEST_MOTIONS = ("07_01", "02_03", "13_11", "18_10", "turn_right1")
VAL_MOTIONS = ("dance_b", "08_05")
EXCLUDED_BUILTINS = ("backflip", "cartwheel", "crawl", "roll", "getup_facedown", "getup_faceup")
PRIORITY_MOTIONS = ("19_10", "turn_left0", "13_29", "spin", "13_10", "turn_right0", "spinkick", "turn_left1", "walk", "walk_forward")
"""Simulated right after the first 18 motions: the arm gestures, turns and exercises that those lacked.
The rest of the whole clips (CMU walks, runs, jumps) follow, then the segments of the long clips."""
SEGMENT_SECONDS = 3.0
"""Long BVH clips also enter as ``clip@START`` segments every this many seconds (90 frames at 30 fps)."""
OFFSET_SEGMENT_MOTIONS = ("19_10", "13_10", "13_29")
"""Arm-heavy long clips (gestures, reaching, exercise) that also enter as segments starting half a segment
later (``clip@1.5``, ``clip@4.5``, ...): the same moves met from other garment states."""


def motion_key(spec: str) -> str:
    """The name a motion spec is known by in splits: a clip name or a BVH file's stem.

    A segment (``19_10.bvh@6``) is known by its whole clip's name, so no part of a held-out clip trains.
    """
    from drape.motion.library import split_segment

    base = split_segment(spec)[0]
    p = Path(base)
    return p.stem if p.suffix.lower() == ".bvh" else base


def bvh_duration(path: str | Path) -> float:
    """Seconds of motion in a BVH file, from its ``Frames:`` and ``Frame Time:`` header lines."""
    frames = step = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            key, _, value = line.strip().partition(":")
            if key == "Frames":
                frames = int(value)
            elif key == "Frame Time":
                step = float(value)
                break
    if frames is None or step is None:
        raise ValueError(f"{path}: no 'Frames:' / 'Frame Time:' header lines; expected a BVH file")
    return frames * step


def clip_segments(spec: str, duration: float, seconds: float = SEGMENT_SECONDS) -> list[str]:
    """``spec@START`` for START = seconds, 2*seconds, ... while a whole segment fits in ``duration``
    (the clip's first segment is the clip itself)."""
    from drape.motion.library import segment_spec

    count = int(duration // seconds + 1e-9)
    return [segment_spec(spec, k * seconds) for k in range(1, count)]


def offset_segments(spec: str, duration: float, seconds: float = SEGMENT_SECONDS) -> list[str]:
    """``spec@START`` for START = seconds/2, 3*seconds/2, ... while a whole segment fits in ``duration``:
    the segments of :func:`clip_segments` shifted by half a segment."""
    from drape.motion.library import segment_spec

    starts = []
    start = seconds / 2
    while start + seconds <= duration + 1e-9:
        starts.append(start)
        start += seconds
    return [segment_spec(spec, s) for s in starts]


def dataset_motions(shared_dir: str | Path, *, segment_seconds: float = SEGMENT_SECONDS) -> list[str]:
    """Every motion for the training dataset (training + validation), test motions excluded.

    Whole clips come first, so that a build stopped part way covers as many distinct clips as it can:
    the first 18 motions of the original interleaved order (built-in clips mixed with the BVH clips of
    ``shared_dir/motions/{cmu,cmu-daz}``: the bundled models' first dataset), then ``PRIORITY_MOTIONS``,
    then the rest of the original order. The segments follow: those of ``PRIORITY_MOTIONS``
    round-robin (:func:`clip_segments`), the half-shifted segments of ``OFFSET_SEGMENT_MOTIONS``
    round-robin (:func:`offset_segments`), then the remaining clips' segments.
    """
    order = _interleaved_clips(shared_dir)
    durations = {m: bvh_duration(m) for m in order if m.lower().endswith(".bvh")}
    segments = {m: clip_segments(m, d, segment_seconds) for m, d in durations.items()}
    by_key = {motion_key(m): m for m in order}
    priority = [by_key[k] for k in PRIORITY_MOTIONS if k in by_key]
    offset_clips = [by_key[k] for k in OFFSET_SEGMENT_MOTIONS if k in by_key]
    shifted = [offset_segments(m, durations[m], segment_seconds) for m in offset_clips]
    clips = [*order[:18], *priority, *order]
    segs = [*_round_robin([segments.get(m, []) for m in priority]), *_round_robin(shifted),
            *(s for m in order for s in segments.get(m, []))]
    return list(dict.fromkeys([*clips, *segs]))


def _round_robin(lanes: list[list[str]]) -> list[str]:
    """The first item of every lane, then every second item, and so on."""
    return [lane[i] for i in range(max(map(len, lanes), default=0)) for lane in lanes if i < len(lane)]


def _interleaved_clips(shared_dir: str | Path) -> list[str]:
    """Built-in clips interleaved with the BVH clips, in a fixed order that mixes categories."""
    from drape.motion import builtin_clips

    builtins = [c.name for c in builtin_clips() if c.name not in EXCLUDED_BUILTINS and c.name not in TEST_MOTIONS]
    root = Path(shared_dir) / "motions"
    files = sorted(str(p) for sub in ("cmu", "cmu-daz") for p in (root / sub).glob("*.bvh"))
    files = [f for f in files if motion_key(f) not in TEST_MOTIONS]
    # Interleave: one built-in, then a few files spread over the sorted (subject-ordered) list.
    order: list[str] = []
    stride = max(1, len(files) // 7)
    spread = [files[i] for start in range(stride) for i in range(start, len(files), stride)]
    bi = iter(builtins)
    for k, f in enumerate(spread):
        if k % 3 == 0:
            nxt = next(bi, None)
            if nxt:
                order.append(nxt)
        order.append(f)
    order.extend(bi)
    return order


def held_out_motions(shared_dir: str | Path) -> list[str]:
    """The test motions as specs for ``drape dataset build``: built-in clip names and the BVH files of
    ``shared_dir/motions/{cmu,cmu-daz}`` whose stem is a test motion (each trial once: ``cmu-daz``
    first, so a trial in both conversions is taken from one)."""
    from drape.motion import builtin_clips

    names = {c.name for c in builtin_clips()}
    root = Path(shared_dir) / "motions"
    out: list[str] = []
    for key in TEST_MOTIONS:
        if key in names:
            out.append(key)
            continue
        for sub in ("cmu-daz", "cmu"):
            f = root / sub / f"{key}.bvh"
            if f.is_file():
                out.append(str(f))
                break
    return out
