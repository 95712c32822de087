"""BVH motion-capture files: parser and forward kinematics.

A BVH file has a HIERARCHY section (ROOT / JOINT / End Site blocks, each with an
OFFSET and, for joints, a CHANNELS list) and a MOTION section (``Frames:``,
``Frame Time:`` and one line of channel values per frame).

Conventions used here:

- Rotation channels are in degrees and compose in the order listed: channels
  ``Zrotation Yrotation Xrotation`` give ``R = Rz(z) @ Ry(y) @ Rx(x)``, acting on
  column vectors expressed in the joint's frame (``v_parent = R @ v_joint``).
- A joint's local translation is its OFFSET; position channels, where present,
  replace the matching OFFSET components (the root usually has OFFSET 0 and
  carries the world position in its position channels).
- Everything is in the file's own units and axes (the *source frame*).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drape.types import DrapeError

CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")
_AXIS = {"X": 0, "Y": 1, "Z": 2}


class BVHError(DrapeError):
    """A BVH file could not be read; the message names the file and line."""


@dataclass(frozen=True)
class BVH:
    """A parsed BVH file (source frame and units)."""

    name: str
    """File name (or a label for parsed strings), used in messages."""
    joint_names: tuple[str, ...]
    """(J,) joint names in file order (parents before children)."""
    parents: np.ndarray
    """(J,) int64 parent index per joint, -1 for the root."""
    offsets: np.ndarray
    """(J, 3) float64 source units: each joint's OFFSET from its parent."""
    channels: tuple[tuple[str, ...], ...]
    """(J,) channel names per joint, in file order (e.g. ``("Zrotation", "Yrotation", "Xrotation")``)."""
    end_sites: tuple[tuple[int, tuple[float, float, float]], ...]
    """(joint index, OFFSET) for every End Site, in file order."""
    frame_time: float
    """Seconds per frame."""
    values: np.ndarray
    """(F, C) float64 channel values per frame (positions in source units, rotations in degrees)."""

    @property
    def joint_count(self) -> int:
        return len(self.joint_names)

    @property
    def frame_count(self) -> int:
        return int(self.values.shape[0])

    @property
    def channel_count(self) -> int:
        return int(self.values.shape[1])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def duration(self) -> float:
        """Seconds spanned by the frames (``frame_count * frame_time``)."""
        return self.frame_count * self.frame_time

    @property
    def channel_starts(self) -> np.ndarray:
        """(J,) int64: column of each joint's first channel in ``values``."""
        counts = np.array([len(c) for c in self.channels], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)

    def joint_index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise BVHError(f"{self.name}: no joint named {name!r}") from None

    def end_site_of(self, joint: int) -> np.ndarray | None:
        """(3,) the OFFSET of the joint's End Site, or None (first one if several)."""
        for j, off in self.end_sites:
            if j == joint:
                return np.asarray(off, dtype=np.float64)
        return None

    def children(self, joint: int) -> list[int]:
        return [int(c) for c in np.nonzero(self.parents == joint)[0]]

    # ------------------------------------------------------------------ kinematics
    def local_rotations(self) -> np.ndarray:
        """(F, J, 3, 3) float64 local rotation of each joint relative to its parent."""
        F, J = self.frame_count, self.joint_count
        out = np.empty((F, J, 3, 3))
        starts = self.channel_starts
        for j in range(J):
            R = None
            for k, ch in enumerate(self.channels[j]):
                if ch.endswith("rotation"):
                    Rk = axis_rotation(_AXIS[ch[0]], np.radians(self.values[:, starts[j] + k]))
                    R = Rk if R is None else R @ Rk
            out[:, j] = np.eye(3) if R is None else R
        return out

    def local_translations(self) -> np.ndarray:
        """(F, J, 3) float64 source units: each joint's translation from its parent."""
        F, J = self.frame_count, self.joint_count
        out = np.broadcast_to(self.offsets, (F, J, 3)).copy()
        starts = self.channel_starts
        for j in range(J):
            for k, ch in enumerate(self.channels[j]):
                if ch.endswith("position"):
                    out[:, j, _AXIS[ch[0]]] = self.values[:, starts[j] + k]
        return out

    def rest_positions(self) -> np.ndarray:
        """(J, 3) float64 source units: joint positions with all rotations zero and the root at the origin."""
        pos = np.zeros((self.joint_count, 3))
        for j, p in enumerate(self.parents):
            if p >= 0:
                pos[j] = pos[p] + self.offsets[j]
        return pos

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """World joint positions (F, J, 3) source units and world rotations (F, J, 3, 3), source frame.

        The world rotation of a joint is relative to the rest pose (all channels zero).
        """
        return forward_kinematics(self.parents, self.local_rotations(), self.local_translations())


def axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """(..., 3, 3) right-handed rotations by ``angle`` (radians, any shape) about coordinate ``axis``."""
    a = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    R = np.zeros(a.shape + (3, 3))
    i, j = (axis + 1) % 3, (axis + 2) % 3
    R[..., axis, axis] = 1.0
    R[..., i, i] = c
    R[..., j, j] = c
    R[..., i, j] = -s
    R[..., j, i] = s
    return R


def forward_kinematics(
    parents: np.ndarray, local_rotations: np.ndarray, local_translations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Chain local transforms (parents before children).

    parents (J,), local_rotations (F, J, 3, 3), local_translations (F, J, 3) ->
    world positions (F, J, 3) and world rotations (F, J, 3, 3).
    """
    F, J = local_rotations.shape[:2]
    pos = np.empty((F, J, 3))
    rot = np.empty((F, J, 3, 3))
    for j, p in enumerate(parents):
        if p < 0:
            rot[:, j] = local_rotations[:, j]
            pos[:, j] = local_translations[:, j]
        else:
            rot[:, j] = rot[:, p] @ local_rotations[:, j]
            pos[:, j] = pos[:, p] + np.einsum("fab,fb->fa", rot[:, p], local_translations[:, j])
    return pos, rot


# ---------------------------------------------------------------------- parsing
def read_bvh(path: str | Path) -> BVH:
    """Read and parse a BVH file. Raises BVHError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise BVHError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise BVHError(f"{path}: is a directory, expected a .bvh file") from None
    return parse_bvh(text, name=path.name)


def parse_bvh(text: str, *, name: str = "<bvh>") -> BVH:
    """Parse BVH text. ``name`` labels error messages (usually the file name)."""
    lines = text.splitlines()
    parser = _HierarchyParser(lines, name)
    joints, parents, offsets, channels, end_sites, motion_line = parser.parse()
    values, frame_time = _parse_motion(lines, motion_line, name, channels, joints)
    return BVH(
        name=name,
        joint_names=tuple(joints),
        parents=np.asarray(parents, dtype=np.int64),
        offsets=np.asarray(offsets, dtype=np.float64).reshape(-1, 3),
        channels=tuple(tuple(c) for c in channels),
        end_sites=tuple(end_sites),
        frame_time=frame_time,
        values=values,
    )


class _HierarchyParser:
    """Token reader over the HIERARCHY section, tracking line numbers (1-based)."""

    def __init__(self, lines: list[str], name: str):
        self.name = name
        self.tokens: list[tuple[str, int]] = []
        self.motion_line = None
        for i, line in enumerate(lines):
            words = line.split()
            if words and words[0].upper() == "MOTION":
                self.motion_line = i
                break
            self.tokens.extend((w, i + 1) for w in words)
        self.last_line = (self.motion_line + 1) if self.motion_line is not None else max(len(lines), 1)
        self.pos = 0

    def error(self, line: int, msg: str) -> BVHError:
        return BVHError(f"{self.name} line {line}: {msg}")

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.tokens):
            where = "MOTION" if self.motion_line is not None else "end of file"
            raise self.error(self.last_line, f"expected {what}, reached {where} (truncated hierarchy?)")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, word: str) -> int:
        tok, line = self.next(repr(word))
        if tok.upper() != word.upper():
            raise self.error(line, f"expected {word!r}, got {tok!r}")
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            v = float(tok)
        except ValueError:
            raise self.error(line, f"expected a number for {what}, got {tok!r}") from None
        if not math.isfinite(v):
            raise self.error(line, f"{what} is not finite: {tok!r}")
        return v

    def parse(self):
        if not self.tokens:
            raise BVHError(f"{self.name} line 1: expected 'HIERARCHY', got an empty file")
        self.expect("HIERARCHY")
        self.joints: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[float] = []
        self.channels: list[list[str]] = []
        self.end_sites: list[tuple[int, tuple[float, float, float]]] = []
        self.lines: list[int] = []
        tok, line = self.next("'ROOT'")
        if tok.upper() != "ROOT":
            raise self.error(line, f"expected 'ROOT', got {tok!r}")
        self.joint(-1, line)
        if self.pos < len(self.tokens):
            tok, line = self.tokens[self.pos]
            if tok.upper() == "ROOT":
                raise self.error(line, "a second ROOT is not supported (one skeleton per file)")
            raise self.error(line, f"expected 'MOTION' after the hierarchy, got {tok!r}")
        if self.motion_line is None:
            raise self.error(self.last_line, "expected 'MOTION' after the hierarchy, reached end of file")
        return self.joints, self.parents, self.offsets, self.channels, self.end_sites, self.motion_line

    def joint(self, parent: int, kw_line: int) -> None:
        name, line = self.next("a joint name")
        if name == "{":
            raise self.error(line, "expected a joint name before '{'")
        if name in self.joints:
            raise self.error(line, f"joint name {name!r} used twice")
        index = len(self.joints)
        self.joints.append(name)
        self.parents.append(parent)
        self.lines.append(line)
        self.expect("{")
        self.expect("OFFSET")
        self.offsets.extend(self.number(f"{name} OFFSET") for _ in range(3))
        tok, line = self.next("'CHANNELS'")
        if tok.upper() != "CHANNELS":
            raise self.error(line, f"expected 'CHANNELS' for joint {name!r}, got {tok!r}")
        count_tok, line = self.next("a channel count")
        try:
            count = int(count_tok)
        except ValueError:
            raise self.error(line, f"expected a channel count for {name!r}, got {count_tok!r}") from None
        if not 0 <= count <= 6:
            raise self.error(line, f"joint {name!r}: expected 0 to 6 channels, got {count}")
        chans = []
        for _ in range(count):
            ch, cline = self.next(f"{count} channel names for {name!r}")
            if ch not in CHANNEL_NAMES:
                if ch.upper() in ("JOINT", "END", "}", "{") or ch.upper() == "OFFSET":
                    raise self.error(cline, f"joint {name!r}: CHANNELS {count} lists only {len(chans)} names")
                raise self.error(
                    cline, f"joint {name!r}: unknown channel {ch!r}; expected one of {', '.join(CHANNEL_NAMES)}"
                )
            if ch in chans:
                raise self.error(cline, f"joint {name!r}: channel {ch!r} listed twice")
            chans.append(ch)
        self.channels.append(chans)
        while True:
            tok, line = self.next(f"'JOINT', 'End Site' or '}}' in joint {name!r}")
            up = tok.upper()
            if up == "}":
                break
            if up == "JOINT":
                self.joint(index, line)
            elif up == "END":
                self.expect("Site")
                self.expect("{")
                self.expect("OFFSET")
                off = tuple(self.number(f"{name} End Site OFFSET") for _ in range(3))
                self.expect("}")
                self.end_sites.append((index, off))
            elif tok in CHANNEL_NAMES or _is_number(tok):
                raise self.error(line, f"joint {name!r}: more channel names than CHANNELS {count} says")
            else:
                raise self.error(line, f"expected 'JOINT', 'End Site' or '}}' in joint {name!r}, got {tok!r}")


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def _parse_motion(lines, motion_line, name, channels, joints):
    C = sum(len(c) for c in channels)
    i = motion_line + 1

    def header(label: str) -> tuple[str, int]:
        nonlocal i
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            raise BVHError(f"{name} line {i}: expected '{label}', reached end of file")
        line = lines[i].strip()
        if not line.lower().replace(" ", "").startswith(label.lower().replace(" ", "")):
            raise BVHError(f"{name} line {i + 1}: expected '{label} <value>', got {line[:60]!r}")
        value = line.split(":", 1)[1].strip() if ":" in line else ""
        i += 1
        return value, i

    tok, ln = header("Frames:")
    try:
        frames = int(tok)
    except ValueError:
        raise BVHError(f"{name} line {ln}: expected an integer frame count, got {tok!r}") from None
    if frames <= 0:
        raise BVHError(f"{name} line {ln}: Frames is {frames}; a motion needs at least one frame")
    tok, ln = header("Frame Time:")
    try:
        frame_time = float(tok)
    except ValueError:
        raise BVHError(f"{name} line {ln}: expected a number for Frame Time, got {tok!r}") from None
    if not (math.isfinite(frame_time) and frame_time > 0):
        raise BVHError(f"{name} line {ln}: Frame Time must be a positive number of seconds, got {tok!r}")

    rows: list[list[str]] = []
    row_lines: list[int] = []
    while i < len(lines) and len(rows) < frames:
        words = lines[i].split()
        i += 1
        if not words:
            continue
        if len(words) != C:
            raise BVHError(f"{name} line {i}: expected {C} channel values, got {len(words)}")
        rows.append(words)
        row_lines.append(i)
    if len(rows) < frames:
        raise BVHError(
            f"{name} line {max(i, 1)}: file truncated: Frames says {frames}, found {len(rows)} frame lines"
        )
    while i < len(lines):
        if lines[i].strip():
            raise BVHError(
                f"{name} line {i + 1}: unexpected data after the {frames} frames that 'Frames:' announced"
            )
        i += 1
    if C == 0:
        return np.zeros((frames, 0)), frame_time
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        for words, ln in zip(rows, row_lines):
            for k, w in enumerate(words):
                if not _is_number(w):
                    raise BVHError(
                        f"{name} line {ln}: channel {k + 1} ({_channel_label(k, channels, joints)}): "
                        f"expected a number, got {w!r}"
                    ) from None
        raise
    bad = ~np.isfinite(values)
    if bad.any():
        r, k = np.argwhere(bad)[0]
        raise BVHError(
            f"{name} line {row_lines[r]}: channel {k + 1} ({_channel_label(k, channels, joints)}) "
            f"is not finite: {rows[r][k]!r}"
        )
    return values, frame_time


def _channel_label(k: int, channels, joints) -> str:
    for j, chans in enumerate(channels):
        if k < len(chans):
            return f"{joints[j]} {chans[k]}"
        k -= len(chans)
    return "?"
