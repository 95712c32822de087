"""DeepMimic humanoid clips shipped in pybullet's wheel (``pybullet_data/data/motions``).

A clip is JSON ``{"Loop": "wrap" | "none", "Frames": [[44 floats], ...]}``. Each frame:

====== =====================================================================
index  meaning
====== =====================================================================
0      duration of this keyframe in seconds (0 on the last one)
1-3    root position x, y, z (metres, y up)
4-7    root orientation quaternion (w, x, y, z), world frame
8-11   chest (w, x, y, z), relative to the root
12-15  neck, relative to the chest
16-19  right hip, relative to the root
20     right knee angle (radians, about the knee's z axis)
21-24  right ankle, relative to the shin
25-28  right shoulder, relative to the chest
29     right elbow angle (radians, about z)
30-33  left hip
34     left knee
35-38  left ankle
39-42  left shoulder
43     left elbow
====== =====================================================================

This is the joint order of pybullet's ``HumanoidPoseInterpolator`` and of the
joints of ``pybullet_data/humanoid/humanoid.urdf``. The skeleton below is that
URDF at pybullet's loading scale 0.25: in its rest pose (all rotations identity)
the figure stands with legs straight and arms hanging down, y up, facing +x,
its right side at +z. Knees and elbows hinge about their z axis; knee angles are
negative when bent (the shin swings back), elbow angles positive.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from drape.motion.rotations import matrix_from_quat
from drape.motion.bvh import axis_rotation
from drape.motion.source import SourceMotion
from drape.types import DrapeError

URDF_SCALE = 0.25
"""pybullet loads humanoid.urdf with globalScaling 0.25; the clips' root positions are in those metres."""

FRAME_SIZE = 44

# (joint, parent, URDF joint origin xyz at scale 1, first index in a frame, kind)
_JOINTS = (
    ("root", None, (0.0, 0.0, 0.0), 4, "quat"),
    ("chest", "root", (0.0, 0.944604, 0.0), 8, "quat"),
    ("neck", "chest", (0.0, 0.895576, 0.0), 12, "quat"),
    ("right_hip", "root", (0.0, 0.0, 0.339548), 16, "quat"),
    ("right_knee", "right_hip", (0.0, -1.686184, 0.0), 20, "angle"),
    ("right_ankle", "right_knee", (0.0, -1.639480, 0.0), 21, "quat"),
    ("right_shoulder", "chest", (-0.096200, 0.974000, 0.732440), 25, "quat"),
    ("right_elbow", "right_shoulder", (0.0, -1.099152, 0.0), 29, "angle"),
    ("right_wrist", "right_elbow", (0.0, -1.035788, 0.0), None, "fixed"),
    ("left_hip", "root", (0.0, 0.0, -0.339548), 30, "quat"),
    ("left_knee", "left_hip", (0.0, -1.686184, 0.0), 34, "angle"),
    ("left_ankle", "left_knee", (0.0, -1.639480, 0.0), 35, "quat"),
    ("left_shoulder", "chest", (-0.096200, 0.974000, -0.732440), 39, "quat"),
    ("left_elbow", "left_shoulder", (0.0, -1.099152, 0.0), 43, "angle"),
    ("left_wrist", "left_elbow", (0.0, -1.035788, 0.0), None, "fixed"),
)
JOINT_NAMES = tuple(j[0] for j in _JOINTS)
JOINT_PARENTS = tuple(-1 if j[1] is None else JOINT_NAMES.index(j[1]) for j in _JOINTS)
JOINT_OFFSETS = np.array([j[2] for j in _JOINTS]) * URDF_SCALE
"""(15, 3) metres: each joint's origin relative to its parent link (the URDF joint origins, scaled)."""

AXES = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
"""Source -> drape frame: +x (forward) -> -y, +y (up) -> +z, +z (the figure's right) -> -x."""


def motions_dir() -> Path:
    """pybullet_data's DeepMimic motions folder."""
    try:
        import pybullet_data
    except ImportError:
        raise DrapeError("built-in motions need the 'pybullet' package (pip install pybullet)") from None
    return Path(pybullet_data.getDataPath()) / "data" / "motions"


def clip_files() -> dict[str, Path]:
    """Built-in clip name -> file. ``humanoid3d_walk.txt`` -> ``walk``; ``walker/turn_left0.txt`` ->
    ``turn_left0``; ``walker/0walk_forward.txt`` -> ``walk_forward``."""
    root = motions_dir()
    out: dict[str, Path] = {}
    for path in sorted(root.glob("humanoid3d_*.txt")):
        out[path.stem[len("humanoid3d_"):]] = path
    for path in sorted((root / "walker").glob("*.txt")):
        out[path.stem.lstrip("0123456789_")] = path
    return out


def read_frames(path: Path) -> tuple[np.ndarray, bool]:
    """(F, 44) float64 frames and the loop flag of a DeepMimic clip file."""
    name = path.name
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DrapeError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise DrapeError(f"{name} line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or "Frames" not in data:
        raise DrapeError(f"{name}: expected a JSON object with 'Loop' and 'Frames'")
    loop = str(data.get("Loop", "none")).lower()
    if loop not in ("wrap", "none", "clamp"):
        raise DrapeError(f"{name}: 'Loop' must be 'wrap', 'none' or 'clamp', got {loop!r}")
    frames = data["Frames"]
    if not isinstance(frames, list) or not frames:
        raise DrapeError(f"{name}: 'Frames' is empty; a motion needs at least one frame")
    for i, fr in enumerate(frames):
        if not isinstance(fr, list) or len(fr) != FRAME_SIZE:
            got = len(fr) if isinstance(fr, list) else type(fr).__name__
            raise DrapeError(f"{name}: frame {i}: expected {FRAME_SIZE} values, got {got}")
    try:
        x = np.array(frames, dtype=np.float64)
    except (TypeError, ValueError):
        raise DrapeError(f"{name}: frames must hold numbers only") from None
    if not np.isfinite(x).all():
        i, k = np.argwhere(~np.isfinite(x))[0]
        raise DrapeError(f"{name}: frame {i} value {k} is not finite")
    if (x[:-1, 0] <= 0).any():
        i = int(np.nonzero(x[:-1, 0] <= 0)[0][0])
        raise DrapeError(f"{name}: frame {i}: duration must be positive, got {x[i, 0]}")
    return x, loop == "wrap"


def load_deepmimic(path: str | Path, *, name: str | None = None) -> SourceMotion:
    """A DeepMimic humanoid clip as a SourceMotion (metres, source frame y-up facing +x)."""
    path = Path(path)
    x, loop = read_frames(path)
    F = len(x)
    J = len(_JOINTS)
    local = np.empty((F, J, 3, 3))
    for j, (jname, _parent, _off, start, kind) in enumerate(_JOINTS):
        if kind == "quat":
            q = x[:, start : start + 4]
            if (np.linalg.norm(q, axis=1) < 0.5).any():
                i = int(np.nonzero(np.linalg.norm(q, axis=1) < 0.5)[0][0])
                raise DrapeError(f"{path.name}: frame {i}: {jname} quaternion is not a rotation")
            local[:, j] = matrix_from_quat(q)
        elif kind == "angle":
            local[:, j] = axis_rotation(2, x[:, start])
        else:
            local[:, j] = np.eye(3)
    times = np.concatenate([[0.0], np.cumsum(x[:-1, 0])])
    if F == 1:
        times = np.zeros(1)
    return SourceMotion(
        name=name or path.stem,
        joint_names=JOINT_NAMES,
        parents=np.array(JOINT_PARENTS, dtype=np.int64),
        offsets=JOINT_OFFSETS.copy(),
        local_rotations=local,
        root_positions=x[:, 1:4].copy(),
        times=times,
        axes=AXES.copy(),
        loop=loop and F >= 3,
        source=str(path),
        preset="deepmimic",
        flat_floor=True,
    )


def clip_fps(times: np.ndarray) -> float:
    """Nominal frames per second of keyframe times (median step)."""
    if len(times) < 2:
        return 30.0
    return float(1.0 / np.median(np.diff(times)))

