"""Per-frame features of the garment-dynamics model (DESIGN §1 steps 1-4), numpy or torch.

The model predicts frame ``t+1`` from the ``window + 1`` garment frames ``t-window .. t``
(window i = 1 or 2) and the skeleton of frames ``t-window .. t+1``.

Offset space (the body-aligned frame)
-------------------------------------
Garment vertices are *unposed by inverse linear blend skinning* with per-vertex
**frame weights**: ``canonical = A_v^-1 (x - b_v)`` where ``[A_v | b_v] = sum_j w_vj T_j``.
The geometric offset is ``canonical - reference`` (reference = the rest-pose drape), and the
model's output is turned back into world positions by forward LBS with the same weights.
The frame weights are chosen per garment (``offset_space``):

* ``"lbs"``: the garment's transferred skin weights. Best for tight garments (t-shirt,
  trousers, shorts): the offsets that remain are small wrinkles and sliding.
* ``"torso"``: the skin weights with every leg bone's weight (hip joints, thighs, shins,
  feet, toes) moved onto the root. For skirts and dresses: the upper part follows the
  spine, the skirt part is carried rigidly by the pelvis and never blends the two thighs,
  so LBS cannot tear the skirt between the legs; the swing of the skirt
  is left to the network, which sees the leg motion in the skeleton features.
* ``"root"``: all weight on the root bone, i.e. the root's rigid local frame.
* ``"auto"`` (default): ``"torso"`` for ``kind`` skirt/dress, ``"lbs"`` otherwise.

"root" is the special case of inverse LBS with one-hot weights, so one code path serves all.

Per-vertex channels (in order; see :func:`vertex_channel_names`)
----------------------------------------------------------------
====================  =====  ==============================================================
offset (3)            m      canonical(t) - reference, canonical (rest) frame
velocity (3)          m/s    (canonical(t) - canonical(t-1)) * fps
acceleration (3)      m/s^2  (canonical(t) - 2 canonical(t-1) + canonical(t-2)) * fps^2; window 2 only
drive (3)             m/s    (LBS_{t+1}(canonical(t)) - x(t)) * fps in the target root frame: how the
                             target skeleton would carry the vertex if its offset stayed put
contact distance (1)  m      signed distance of the driven point LBS_{t+1}(canonical(t)) to the tangent
                             plane of its bound body point posed at t+1 (negative = inside)
contact flag (1)      0..1   ``contact_flag`` "step": 1 where the contact distance < ``contact_threshold``;
                             "ramp" (default): 1 below threshold/2, 0 above 3 threshold/2, linear
                             between (continuous, so float rounding cannot flip it)
contact vector (3)    m      driven point - posed body point, target root frame
reference (3)         m      rest drape position relative to the rest root head (static)
body parts (6)        1      skin weights summed per body part: torso, head, left/right arm,
                             left/right leg (static; a garment-independent compression of the
                             binding, so the same network can read unseen garments)
hand (2 x 4)          m, 1   ``hands`` only, left then right: the vector from the driven point to the
                             nearest point of the forearm-and-hand polyline (elbow, wrist, finger
                             joint heads) posed at t+1, target root frame (3), and the proximity
                             clip(1 - distance / :data:`HAND_REACH`, 0, 1) (1)
====================  =====  ==============================================================

The hand channels exist for garments the hands touch without being bound to them: a skirt's
vertices are bound to the hips and thighs, so the contact channels never see the hand that
brushes or grabs it.

Contact is cheap at inference: each garment vertex is bound once, in the rest pose, to its
nearest body surface point (face + barycentrics); per frame only the 3 corners of that face
are skinned (body LBS weights), no nearest-point search.

Global (skeleton) channels, target frame t+1
--------------------------------------------
====================  =====  ==============================================================
joint rotations       1      6D (first two columns) of R_root^T R_j for every non-root bone, or for
                             the bones listed in ``FeatureConfig.skeleton_joints`` (rig order)
up (3)                1      world +z in the target root frame (gravity direction)
root velocity (3)     m/s    root-head velocity t -> t+1, target root frame
previous root vel (3) m/s    t-1 -> t, target root frame
root ang. vel. (3)    rad/s  log(R_root(t)^T R_root(t+1)) * fps (root frame)
previous ang. vel (3) rad/s  t-1 -> t
====================  =====  ==============================================================

Target (``FeatureConfig.prediction``): ``"delta"``, ``canonical(t+1) - canonical(t)`` (3, m) per
vertex, the next offset being ``offset(t) + delta``; or ``"offset"``, the whole offset
``canonical(t+1) - reference``, the history entering only as input (errors are not integrated).
Every channel is normalised by per-channel mean/std computed over a dataset
(:class:`Normalizer`) and saved with the model; normalised vertex features are clipped
(:func:`normalize_vertex_features`).

Training plan (for the trainer): the per-vertex features are written once for numpy and
torch (same functions, array-type dispatch), so unrolled training can feed predicted frames
back through :func:`vertex_features` with gradients: predict K steps (curriculum 1 -> 8), loss
on every step's vertex positions and deltas; Gaussian noise (sigma ~ 1-3 mm, scaled per step)
is added to the history vertices of teacher-forced samples so the model learns to correct its
own drift.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from drape.types import DrapeError

OFFSET_SPACES = ("auto", "lbs", "torso", "root")
PREDICTIONS = ("delta", "offset")
CONTACT_FLAGS = ("step", "ramp")
LOOSE_KINDS = ("skirt", "dress")
BODY_PARTS = ("torso", "head", "left_arm", "right_arm", "left_leg", "right_leg")
HAND_CHAIN = ("{side}ForeArm", "{side}Hand", "{side}HandFinger1")
"""Bones whose heads make each side's forearm-and-hand polyline (elbow, wrist, fingers)."""
HAND_SIDES = ("Left", "Right")
HAND_REACH = 0.15
"""Metres: the hand proximity channel is 1 at the polyline and falls to 0 at this distance."""


# --------------------------------------------------------------------------- array helpers (numpy or torch)


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def _stack(xs, axis):
    if _is_torch(xs[0]):
        import torch

        return torch.stack(xs, dim=axis)
    return np.stack(xs, axis=axis)


def _cat(xs, axis):
    if _is_torch(xs[0]):
        import torch

        return torch.cat(xs, dim=axis)
    return np.concatenate(xs, axis=axis)


def _cross(a, b):
    return _stack(
        [
            a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
            a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
            a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0],
        ],
        -1,
    )


def _dot(a, b):
    if _is_torch(a):
        return (a * b).sum(-1)
    # Written out: 2-5x faster than einsum on (V, 3) float32 arrays.
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def _matvec(A, p):
    """(..., 3, 3) x (..., 3) -> (..., 3)."""
    if _is_torch(A):
        return (A * p[..., None, :]).sum(-1)
    return np.stack([A[..., i, 0] * p[..., 0] + A[..., i, 1] * p[..., 1] + A[..., i, 2] * p[..., 2] for i in range(3)], -1)


def _clip01(x):
    return x.clamp(0.0, 1.0) if _is_torch(x) else np.clip(x, 0.0, 1.0)


def _expand(x, shape):
    if _is_torch(x):
        return x.expand(*shape)
    return np.broadcast_to(x, shape)


def _blend(weights, transforms):
    """weights (V, J) x transforms (..., J, 4, 4) -> A (..., V, 3, 3), b (..., V, 3)."""
    J = transforms.shape[-3]
    M = weights @ transforms[..., :3, :].reshape(*transforms.shape[:-3], J, 12)  # (..., V, 12)
    M = M.reshape(*M.shape[:-1], 3, 4)
    return M[..., :3], M[..., 3]


def skin(weights, transforms, points):
    """Forward LBS. weights (V, J), transforms (..., J, 4, 4), points (..., V, 3) rest frame -> (..., V, 3) world."""
    return pose_with(_blend(weights, transforms), points)


def unskin(weights, transforms, points):
    """Inverse LBS. points (..., V, 3) world -> (..., V, 3) rest frame (exact inverse of :func:`skin`)."""
    A, b = _blend(weights, transforms)
    c0, c1, c2 = A[..., :, 0], A[..., :, 1], A[..., :, 2]
    r0, r1, r2 = _cross(c1, c2), _cross(c2, c0), _cross(c0, c1)
    det = _dot(c0, r0)
    y = points - b
    return _stack([_dot(r0, y), _dot(r1, y), _dot(r2, y)], -1) / det[..., None]


def _rotate_into(R, vecs):
    """Express world vectors (..., V, 3) in the frame with rotation R (..., 3, 3): R^T v."""
    return vecs @ R


# --------------------------------------------------------------------------- binding, weights


def body_part_matrix(bone_names) -> np.ndarray:
    """(J, 6) float32 one-hot map from bones to :data:`BODY_PARTS` (by cmu_mb naming; unknown -> torso)."""
    out = np.zeros((len(bone_names), len(BODY_PARTS)), dtype=np.float32)
    for j, name in enumerate(bone_names):
        n = name.lower()
        right = n.startswith(("right", "rhip", "rthumb"))
        left = n.startswith(("left", "lhip", "lthumb"))
        if any(k in n for k in ("leg", "foot", "toe", "hipjoint")):
            part = "left_leg" if left else "right_leg" if right else "torso"
        elif any(k in n for k in ("shoulder", "arm", "hand", "finger", "thumb")):
            part = "left_arm" if left else "right_arm" if right else "torso"
        elif "neck" in n or "head" in n:
            part = "head"
        else:
            part = "torso"
        out[j, BODY_PARTS.index(part)] = 1.0
    return out


def _is_leg_bone(name: str) -> bool:
    n = name.lower()
    return any(k in n for k in ("leg", "foot", "toe", "hipjoint"))


def offset_space_weights(skin_weights: np.ndarray, bone_names, offset_space: str, *, kind: str = "") -> tuple[np.ndarray, str]:
    """The frame weights (V, J) float32 of an offset space, and the resolved space name (see module docs)."""
    if offset_space not in OFFSET_SPACES:
        raise DrapeError(f"offset space: expected one of {', '.join(OFFSET_SPACES)}, got {offset_space!r}")
    if offset_space == "auto":
        offset_space = "torso" if kind in LOOSE_KINDS else "lbs"
    W = np.asarray(skin_weights, dtype=np.float32)
    if offset_space == "lbs":
        return W.copy(), offset_space
    out = np.zeros_like(W)
    if offset_space == "root":
        out[:, 0] = 1.0
        return out, offset_space
    legs = np.array([_is_leg_bone(n) for n in bone_names])
    out[:, ~legs] = W[:, ~legs]
    out[:, 0] += W[:, legs].sum(1)
    return out, offset_space


def closest_points_on_mesh(points: np.ndarray, verts: np.ndarray, faces: np.ndarray, *, candidates: int = 16):
    """Nearest surface point of a triangle mesh for each query point (exact; :func:`drape.geometry.distance.nearest_on_mesh`).

    points (P, 3), verts (Vb, 3), faces (Tb, 3). ``candidates`` is kept for
    compatibility: the search is exact whatever its value.
    Returns face (P,) int64, bary (P, 3) float64, distance (P,) float64 metres (unsigned).
    """
    from drape.geometry.distance import nearest_on_mesh

    p = np.asarray(points, dtype=np.float64)
    v = np.asarray(verts, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    near = nearest_on_mesh(p, v, f)
    tri = v[f[near.face]]  # (P, 3, 3)
    bary = _barycentric(near.closest, tri)
    return near.face.astype(np.int64), bary, np.linalg.norm(p - near.closest, axis=-1)


def _barycentric(q: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(P, 3) barycentric coordinates of points q (P, 3) lying on triangles tri (P, 3, 3)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    v0, v1, v2 = b - a, c - a, q - a
    d00 = (v0 * v0).sum(-1)
    d01 = (v0 * v1).sum(-1)
    d11 = (v1 * v1).sum(-1)
    d20 = (v2 * v0).sum(-1)
    d21 = (v2 * v1).sum(-1)
    den = np.maximum(d00 * d11 - d01 * d01, 1e-30)
    w1 = (d11 * d20 - d01 * d21) / den
    w2 = (d00 * d21 - d01 * d20) / den
    out = np.clip(np.stack([1.0 - w1 - w2, w1, w2], -1), 0.0, 1.0)
    return out / out.sum(-1, keepdims=True)


@dataclass(frozen=True, eq=False)
class ContactBinding:
    """Each garment vertex bound to a body surface point in the rest pose."""

    face: np.ndarray
    """(V,) int64 body face index."""
    bary: np.ndarray
    """(V, 3) float32 barycentrics of the bound point in that face."""
    corner_rest: np.ndarray
    """(V, 3, 3) float32 metres: rest-frame positions of the face's 3 corners."""
    corner_weights: np.ndarray
    """(V, 3, J) float32: body skin weights of the face's 3 corners."""


def bind_to_body(garment_rest: np.ndarray, body_rest_verts: np.ndarray, body_faces: np.ndarray, body_skin_weights: np.ndarray, *, candidates: int = 16) -> ContactBinding:
    """Bind garment vertices (V, 3) rest frame to their nearest body surface points (body in rest pose)."""
    face, bary, _ = closest_points_on_mesh(garment_rest, body_rest_verts, body_faces, candidates=candidates)
    corners = np.asarray(body_faces)[face]  # (V, 3)
    return ContactBinding(
        face=face.astype(np.int64),
        bary=bary.astype(np.float32),
        corner_rest=np.asarray(body_rest_verts, dtype=np.float32)[corners],
        corner_weights=np.asarray(body_skin_weights, dtype=np.float32)[corners],
    )


def transfer_skin_weights(binding: ContactBinding) -> np.ndarray:
    """(V, J) float32 garment skin weights: the body weights interpolated at each bound point.

    A fallback for when the garment stage provides no transferred weights.
    """
    W = np.einsum("vk,vkj->vj", binding.bary, binding.corner_weights)
    return (W / np.maximum(W.sum(1, keepdims=True), 1e-12)).astype(np.float32)


# --------------------------------------------------------------------------- reference


@dataclass(frozen=True)
class FeatureConfig:
    """Feature settings saved with a model."""

    window: int = 2
    """i: the model reads garment frames t-i .. t (i + 1 frames) to predict t+1; 1 or 2."""
    fps: float = 30.0
    """Frame rate the model works at (Hz)."""
    contact_threshold: float = 0.01
    """Metres: a vertex whose contact distance is below this is flagged as in contact."""
    contact_flag: str = "ramp"
    """How the contact flag follows the distance d: ``"step"`` 1 if d < threshold else 0; ``"ramp"``
    clip(1.5 - d / threshold, 0, 1): 1 below threshold/2, 0 above 3 threshold/2, 0.5 at the threshold."""
    prediction: str = "offset"
    """What the network predicts per vertex (canonical frame, metres): ``"offset"`` the whole offset
    canonical(t+1) - reference, or ``"delta"`` the change canonical(t+1) - canonical(t)."""
    hands: bool = False
    """Add the hand channels (see the module docs); the reference must carry the rig's rest bone heads."""
    skeleton_joints: tuple[str, ...] = ()
    """Non-root bones whose rotations (relative to the root) enter the skeleton features, by name; empty: every
    non-root bone of the rig. The root's up vector and its linear and angular velocities are always read."""

    def __post_init__(self):
        if self.window not in (1, 2):
            raise DrapeError(f"feature config: window must be 1 or 2, got {self.window}")
        if self.prediction not in PREDICTIONS:
            raise DrapeError(f"feature config: prediction must be one of {PREDICTIONS}, got {self.prediction!r}")
        if not self.fps > 0:
            raise DrapeError(f"feature config: fps must be positive, got {self.fps}")
        if self.contact_flag not in CONTACT_FLAGS:
            raise DrapeError(f"feature config: contact_flag must be one of {CONTACT_FLAGS}, got {self.contact_flag!r}")
        if not self.contact_threshold > 0:
            raise DrapeError(f"feature config: contact_threshold must be positive metres, got {self.contact_threshold}")


def vertex_channel_names(window: int, hands: bool = False) -> tuple[str, ...]:
    names = ["offset_x", "offset_y", "offset_z", "vel_x", "vel_y", "vel_z"]
    if window >= 2:
        names += ["acc_x", "acc_y", "acc_z"]
    names += ["drive_x", "drive_y", "drive_z", "contact_dist", "contact_flag", "contact_x", "contact_y", "contact_z"]
    names += ["ref_x", "ref_y", "ref_z"] + [f"part_{p}" for p in BODY_PARTS]
    if hands:
        for side in HAND_SIDES:
            s = side[0].lower()
            names += [f"hand{s}_x", f"hand{s}_y", f"hand{s}_z", f"hand{s}_near"]
    return tuple(names)


def hand_chain_bones(bone_names) -> tuple[int, ...]:
    """Bone indices (6,) of the hand polylines: left elbow, wrist, fingers, then right (:data:`HAND_CHAIN`)."""
    names = list(bone_names)
    out = []
    for side in HAND_SIDES:
        for pattern in HAND_CHAIN:
            bone = pattern.format(side=side)
            if bone not in names:
                raise DrapeError(f"hand channels: the rig has no bone {bone!r} (needs {', '.join(HAND_CHAIN)} for "
                                 f"{' and '.join(HAND_SIDES)}); train without --hands")
            out.append(names.index(bone))
    return tuple(out)


def skeleton_joint_index(bone_names, joints=()) -> np.ndarray:
    """Indices (K,) int64 into the rig's bones of the non-root bones the skeleton features read (read-only).

    joints: bone names (any order; the rig's order is kept), or empty for every non-root bone.
    Resolved once per rig and joint list (it runs in every inference step).
    """
    return _joint_index(tuple(str(n) for n in bone_names), tuple(joints))


@functools.lru_cache(maxsize=64)
def _joint_index(names: tuple[str, ...], joints: tuple[str, ...]) -> np.ndarray:
    if not joints:
        idx = np.arange(1, len(names), dtype=np.int64)
    else:
        missing = [j for j in joints if j not in names]
        if missing:
            raise DrapeError(f"skeleton joints: the rig has no bone {', '.join(map(repr, missing))} (its bones: {', '.join(names)})")
        if names[0] in joints:
            raise DrapeError(f"skeleton joints: {names[0]!r} is the root, whose motion is always read; list non-root bones")
        idx = np.array(sorted(names.index(j) for j in set(joints)), dtype=np.int64)
    idx.flags.writeable = False
    return idx


def global_channel_count(bone_count: int, joint_count: int | None = None) -> int:
    """Skeleton feature channels: 6 per non-root bone read (``joint_count``; default all ``bone_count - 1``), plus 15."""
    return 6 * (bone_count - 1 if joint_count is None else int(joint_count)) + 15


@dataclass(frozen=True, eq=False)
class GarmentReference:
    """Everything garment-specific the model needs (numpy arrays; saved inside the model file)."""

    name: str
    kind: str
    bone_names: tuple[str, ...]
    faces: np.ndarray
    """(T, 3) int32."""
    atlas_uv: np.ndarray
    """(T, 3, 2) float32 in [0, 1]."""
    verts: np.ndarray
    """(V, 3) float32 metres, rest frame: the reference drape (garment draped on the rest-pose body)."""
    skin_weights: np.ndarray
    """(V, J) float32: the binding (transferred body weights)."""
    frame_weights: np.ndarray
    """(V, J) float32: weights of the offset space (inverse and forward LBS)."""
    offset_space: str
    """Resolved offset space: lbs, torso or root."""
    contact: ContactBinding
    rest_root: np.ndarray
    """(3,) float32 metres: the root bone head in the rest frame."""
    meta: dict = field(default_factory=dict)
    rest_heads: np.ndarray | None = None
    """(J, 3) float32 metres: every bone head in the rest frame (None in model files older than it;
    the hand channels need it)."""

    @property
    def vert_count(self) -> int:
        return int(len(self.verts))

    @property
    def bone_count(self) -> int:
        return len(self.bone_names)

    @cached_property
    def static_channels(self) -> np.ndarray:
        """(V, 9) float32: reference position relative to the rest root (m) and body-part weights."""
        parts = self.skin_weights @ body_part_matrix(self.bone_names)
        return np.concatenate([self.verts - self.rest_root, parts], axis=1).astype(np.float32)

    @cached_property
    def hand_bones(self) -> tuple[int, ...]:
        """:func:`hand_chain_bones` of this rig."""
        return hand_chain_bones(self.bone_names)

    def arrays(self, *, torch: bool = False) -> dict:
        """Feature arrays as numpy or (cached) torch float32 tensors."""
        key = "_torch_arrays" if torch else "_np_arrays"
        cached = self.__dict__.get(key)
        if cached is None:
            c = self.contact
            cached = {
                "verts": self.verts.astype(np.float32),
                "frame_weights": self.frame_weights.astype(np.float32),
                "corner_rest": c.corner_rest.astype(np.float32),
                "corner_weights": c.corner_weights.reshape(len(self.verts) * 3, -1).astype(np.float32),
                "contact_bary": c.bary.astype(np.float32),
                "static": self.static_channels,
            }
            if self.rest_heads is not None:
                with contextlib.suppress(DrapeError):  # a rig without hand bones: hand_channels says so
                    cached["hand_rest"] = np.asarray(self.rest_heads, dtype=np.float32)[list(self.hand_bones)]
            if not torch:
                # The 3V face corners are far fewer distinct body vertices (1,785 of 13,494 for the
                # tshirt): the numpy path skins each once and gathers.
                rows = np.concatenate([cached["corner_rest"].reshape(-1, 3), cached["corner_weights"]], axis=1)
                uniq, index = np.unique(rows, axis=0, return_inverse=True)
                cached["corner_unique_rest"] = np.ascontiguousarray(uniq[:, :3])
                cached["corner_unique_weights"] = np.ascontiguousarray(uniq[:, 3:])
                cached["corner_index"] = index.reshape(-1).astype(np.int64)
                # Coordinate-major copies for the numpy contact step: (3, V) rows, corner k of vertex v.
                cached["corner_index_rows"] = np.ascontiguousarray(cached["corner_index"].reshape(-1, 3).T)
                cached["contact_bary_rows"] = np.ascontiguousarray(cached["contact_bary"].T)
            if torch:
                import torch as _t

                with _t.inference_mode(False):  # the cache may first be filled in inference mode; training reuses it
                    cached = {k: _t.from_numpy(np.ascontiguousarray(v)) for k, v in cached.items()}
            self.__dict__[key] = cached
        return cached

    def to_arrays(self) -> dict[str, np.ndarray]:
        c = self.contact
        return {
            "faces": self.faces, "atlas_uv": self.atlas_uv, "verts": self.verts, "skin_weights": self.skin_weights,
            "frame_weights": self.frame_weights, "rest_root": self.rest_root, "contact_face": c.face,
            "contact_bary": c.bary, "contact_corner_rest": c.corner_rest, "contact_corner_weights": c.corner_weights,
        } | ({} if self.rest_heads is None else {"rest_heads": self.rest_heads})

    def header(self) -> dict:
        return {"name": self.name, "kind": self.kind, "bone_names": list(self.bone_names), "offset_space": self.offset_space, "meta": self.meta}

    @classmethod
    def from_arrays(cls, header: dict, a: dict[str, np.ndarray]) -> "GarmentReference":
        return cls(
            name=header["name"], kind=header["kind"], bone_names=tuple(header["bone_names"]),
            faces=np.asarray(a["faces"]), atlas_uv=np.asarray(a["atlas_uv"]), verts=np.asarray(a["verts"]),
            skin_weights=np.asarray(a["skin_weights"]), frame_weights=np.asarray(a["frame_weights"]),
            offset_space=header["offset_space"],
            contact=ContactBinding(np.asarray(a["contact_face"]), np.asarray(a["contact_bary"]),
                                   np.asarray(a["contact_corner_rest"]), np.asarray(a["contact_corner_weights"])),
            rest_root=np.asarray(a["rest_root"]), meta=dict(header.get("meta", {})),
            rest_heads=np.asarray(a["rest_heads"]) if "rest_heads" in a else None,
        )


def build_reference(
    *,
    name: str,
    faces: np.ndarray,
    atlas_uv: np.ndarray,
    rest_drape: np.ndarray,
    bone_names,
    body_rest_verts: np.ndarray,
    body_faces: np.ndarray,
    body_skin_weights: np.ndarray,
    rest_root: np.ndarray,
    skin_weights: np.ndarray | None = None,
    kind: str = "",
    offset_space: str = "auto",
    meta: dict | None = None,
    rest_heads: np.ndarray | None = None,
) -> GarmentReference:
    """Build a :class:`GarmentReference`.

    rest_drape (V, 3) metres, rest frame; body_* the body in its rest pose (the proxy body is enough);
    skin_weights (V, J): the garment's transferred weights, or None to take the bound body point's weights.
    rest_heads (J, 3): the rig's rest bone heads (kept for the hand channels; optional).
    With a :class:`drape.types.Garment` ``g`` and a :class:`drape.body.Body` ``b``:
    ``build_reference(name=g.name, kind=g.kind, faces=g.faces, atlas_uv=g.atlas_uv, rest_drape=drape,
    bone_names=b.bone_names, body_rest_verts=b.rest_verts, body_faces=b.faces,
    body_skin_weights=b.skin_weights, rest_root=b.rest_root)``.
    """
    V = len(rest_drape)
    J = len(bone_names)
    if np.asarray(body_skin_weights).shape[1] != J:
        raise DrapeError(f"garment reference {name}: body_skin_weights has {np.asarray(body_skin_weights).shape[1]} bones, rig has {J}")
    binding = bind_to_body(rest_drape, body_rest_verts, body_faces, body_skin_weights)
    W = transfer_skin_weights(binding) if skin_weights is None else np.asarray(skin_weights, dtype=np.float32)
    if W.shape != (V, J):
        raise DrapeError(f"garment reference {name}: skin_weights: expected ({V}, {J}), got {W.shape}")
    frame_w, space = offset_space_weights(W, bone_names, offset_space, kind=kind)
    if rest_heads is not None:
        rest_heads = np.asarray(rest_heads, dtype=np.float32)
        if rest_heads.shape != (J, 3):
            raise DrapeError(f"garment reference {name}: rest_heads: expected ({J}, 3), got {rest_heads.shape}")
    return GarmentReference(
        name=name, kind=kind, bone_names=tuple(bone_names), faces=np.asarray(faces, dtype=np.int32),
        atlas_uv=np.asarray(atlas_uv, dtype=np.float32), verts=np.asarray(rest_drape, dtype=np.float32),
        skin_weights=W, frame_weights=frame_w, offset_space=space, contact=binding,
        rest_root=np.asarray(rest_root, dtype=np.float32), meta=dict(meta or {}), rest_heads=rest_heads,
    )


# --------------------------------------------------------------------------- features


def canonical(ref: GarmentReference, verts, transforms, *, torch: bool = False):
    """Unposed garment (..., V, 3) rest frame from world verts (..., V, 3) and transforms (..., J, 4, 4)."""
    return unskin(ref.arrays(torch=torch)["frame_weights"], transforms, verts)


def prediction_base(ref: GarmentReference, c_t, cfg: FeatureConfig):
    """What the network's output is added to: canonical(t) (``delta``) or the reference drape (``offset``).

    c_t: (..., V, 3) canonical of the last history frame (numpy or torch); the result broadcasts with it.
    """
    if cfg.prediction == "delta":
        return c_t
    verts = ref.arrays(torch=_is_torch(c_t))["verts"]
    return verts.to(dtype=c_t.dtype) if _is_torch(c_t) else verts.astype(c_t.dtype, copy=False)


def target_skinning(ref: GarmentReference, transforms):
    """The garment's blended skinning (A (..., V, 3, 3), b (..., V, 3)) for one frame's transforms
    (..., J, 4, 4) (numpy): :func:`pose` is ``A @ canon + b``."""
    return _blend(ref.arrays()["frame_weights"], transforms)


def pose_with(blend, canon):
    """World garment (..., V, 3) from rest-frame verts with a :func:`target_skinning` blend."""
    A, b = blend
    return _matvec(A, canon) + b


def pose(ref: GarmentReference, canon, transforms, *, torch: bool = False):
    """World garment (..., V, 3) from rest-frame verts (..., V, 3) and transforms (..., J, 4, 4)."""
    return skin(ref.arrays(torch=torch)["frame_weights"], transforms, canon)


def vertex_features(ref: GarmentReference, history, transforms, cfg: FeatureConfig, *, history_canonical=None,
                    target_blend=None):
    """Per-vertex features (..., V, C) for the target frame after the history.

    history: (..., window + 1, V, 3) world garment vertices, oldest first (numpy or torch).
    transforms: (..., window + 2, J, 4, 4) bone transforms of those frames then the target frame.
    history_canonical: optional (..., window + 1, V, 3), the history already unposed
    (:func:`canonical`); it saves the inverse skinning at inference.
    target_blend: optional :func:`target_skinning` of the target frame, which the caller also poses
    the prediction with (computed once per step).
    Returns (features (..., V, C), canonical of the last history frame (..., V, 3)).
    """
    is_t = _is_torch(history)
    a = ref.arrays(torch=is_t)
    n = cfg.window + 1
    if history.shape[-3] != n or transforms.shape[-4] != n + 1:
        raise DrapeError(
            f"vertex features: expected history (..., {n}, V, 3) and transforms (..., {n + 1}, J, 4, 4), "
            f"got {tuple(history.shape)} and {tuple(transforms.shape)}"
        )
    if is_t:
        a = {k: v.to(dtype=history.dtype, device=history.device) for k, v in a.items()}
        transforms = transforms.to(history.dtype)
    else:
        transforms = transforms.astype(history.dtype, copy=False)
    W = a["frame_weights"]
    if history_canonical is None:
        canon = unskin(W, transforms[..., :n, :, :, :], history)  # (..., n, V, 3)
    else:
        canon = history_canonical
    fps = cfg.fps
    c_t = canon[..., -1, :, :]
    chans = [c_t - a["verts"], (c_t - canon[..., -2, :, :]) * fps]
    if cfg.window >= 2:
        chans.append((c_t - 2 * canon[..., -2, :, :] + canon[..., -3, :, :]) * (fps * fps))
    T1 = transforms[..., -1, :, :, :]
    R1 = T1[..., 0, :3, :3]
    A1, b1 = target_blend if target_blend is not None else _blend(W, T1)
    driven = _matvec(A1, c_t) + b1
    chans.append(_rotate_into(R1, (driven - history[..., -1, :, :]) * fps))
    # Contact: skin the 3 corners of each bound body face with the target skeleton.
    V = c_t.shape[-2]
    if is_t:
        A, b = _blend(a["corner_weights"], T1)  # (..., V*3, 3, 3), (..., V*3, 3)
        rest = a["corner_rest"].reshape(V * 3, 3)
        corners = (_matvec(A, rest) + b).reshape(*b.shape[:-2], V, 3, 3)
        normal = _cross(corners[..., 1, :] - corners[..., 0, :], corners[..., 2, :] - corners[..., 0, :])
        nlen = _dot(normal, normal)[..., None] ** 0.5
        normal = normal / (nlen + 1e-12)
        point = _matvec(corners.swapaxes(-1, -2), a["contact_bary"])  # sum_k bary_k corner_k
        vec = driven - point
        dist = _dot(vec, normal)[..., None]
    else:
        vec, dist = _contact_numpy(a, driven, T1)
    flag = contact_flag(dist, cfg)
    chans += [dist, flag, _rotate_into(R1, vec)]
    static = a["static"]
    chans.append(_expand(static, tuple(c_t.shape[:-1]) + (static.shape[-1],)))
    if cfg.hands:
        chans += hand_channels(ref, a, driven, T1, R1)
    return _cat(chans, -1), c_t


def _contact_numpy(a: dict, driven: np.ndarray, T1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The contact vector (..., V, 3) and signed distance (..., V, 1) of :func:`vertex_features`, numpy.

    The same values as the torch branch up to float rounding: each distinct body corner is skinned
    once, then gathered, and the per-vertex geometry runs coordinate-major ((..., 3, V) rows, where
    numpy's elementwise loops are long and contiguous).
    """
    A, b = _blend(a["corner_unique_weights"], T1)  # (..., U, 3, 3), (..., U, 3)
    unique = (_matvec(A, a["corner_unique_rest"]) + b).swapaxes(-1, -2)  # (..., 3, U)
    c0, c1, c2 = (np.take(unique, a["corner_index_rows"][k], axis=-1) for k in range(3))  # (..., 3, V) each
    e1, e2 = c1 - c0, c2 - c0
    x1, y1, z1 = e1[..., 0, :], e1[..., 1, :], e1[..., 2, :]
    x2, y2, z2 = e2[..., 0, :], e2[..., 1, :], e2[..., 2, :]
    nx, ny, nz = y1 * z2 - z1 * y2, z1 * x2 - x1 * z2, x1 * y2 - y1 * x2  # (..., V) face normal
    inv_len = 1.0 / ((nx * nx + ny * ny + nz * nz) ** 0.5 + 1e-12)
    w = a["contact_bary_rows"]  # (3, V)
    vec = driven.swapaxes(-1, -2) - (w[0] * c0 + w[1] * c1 + w[2] * c2)  # (..., 3, V): from the bound point
    dist = (vec[..., 0, :] * nx + vec[..., 1, :] * ny + vec[..., 2, :] * nz) * inv_len
    return vec.swapaxes(-1, -2), dist[..., None]


def hand_channels(ref: GarmentReference, a: dict, points, T1, R1) -> list:
    """The hand channels of :func:`vertex_features` for world points (..., V, 3) and the target
    frame's transforms T1 (..., J, 4, 4) with root rotation R1: per side a (..., V, 3) vector
    (target root frame) and a (..., V, 1) proximity."""
    bones = list(ref.hand_bones)
    if "hand_rest" not in a:
        raise DrapeError(f"hand channels: garment reference {ref.name} has no rest bone heads (made before they were "
                         "stored); rebuild it from the dataset")
    Tj = T1[..., bones, :, :]  # (..., 6, 4, 4)
    heads = _matvec(Tj[..., :3, :3], a["hand_rest"]) + Tj[..., :3, 3]  # (..., 6, 3) world
    # Every polyline segment of both sides at once (S = 4), in a coordinate-major layout: (..., S, V)
    # and (..., 3, V) arrays, so per-segment constants broadcast along V (broadcasts along a length-3
    # last axis cost numpy ten times a plain elementwise op).
    L = len(HAND_CHAIN)
    first = [L * s + k for s in range(len(HAND_SIDES)) for k in range(L - 1)]
    p0 = heads[..., first, :]  # (..., S, 3)
    seg = heads[..., [i + 1 for i in first], :] - p0
    P = points.swapaxes(-1, -2)  # (..., 3, V)
    ss = _dot(seg, seg)[..., None]  # (..., S, 1)
    along = seg @ P - _dot(p0, seg)[..., None]  # (..., S, V): (points - p0) . seg
    t = _clip01(along / (ss + 1e-12))
    # squared distance to each segment's nearest point: |points - p0|^2 - 2 t along + t^2 |seg|^2
    d2 = (P * P).sum(-2)[..., None, :] - 2.0 * (p0 @ P) + _dot(p0, p0)[..., None] + t * (t * ss - 2.0 * along)
    out = []
    for s in range(len(HAND_SIDES)):
        i = (L - 1) * s
        # Running nearest segment (the first wins ties); chosen by 0/1 blends, cheaper than gathers.
        q0, q1, tb, db = p0[..., i, :, None], seg[..., i, :, None], t[..., i, None, :], d2[..., i, None, :]
        for k in range(i + 1, i + L - 1):
            m = _as_float(d2[..., k, None, :] < db, db)  # (..., 1, V)
            db = db + m * (d2[..., k, None, :] - db)
            tb = tb + m * (t[..., k, None, :] - tb)
            q0 = q0 + m * (p0[..., k, :, None] - q0)  # (..., 3, V)
            q1 = q1 + m * (seg[..., k, :, None] - q1)
        vec = q0 + tb * q1 - P  # (..., 3, V)
        near = _clip01(1.0 - ((vec * vec).sum(-2) + 1e-12) ** 0.5 / HAND_REACH)
        out += [_rotate_into(R1, vec.swapaxes(-1, -2)), near[..., None]]
    return out


def _as_float(cond, like):
    """A boolean array as 0/1 in ``like``'s dtype."""
    return cond.to(like.dtype) if _is_torch(cond) else cond.astype(like.dtype)


def contact_flag(dist, cfg: FeatureConfig):
    """The contact-flag channel for signed contact distances ``dist`` (metres; numpy or torch), same shape."""
    is_t = _is_torch(dist)
    if cfg.contact_flag == "step":
        flag = dist < cfg.contact_threshold
        return flag.to(dist.dtype) if is_t else flag.astype(dist.dtype)
    return _clip01(1.5 - dist / cfg.contact_threshold)


def _rot_log(R: np.ndarray) -> np.ndarray:
    """Axis-angle vectors (..., 3) of rotations (..., 3, 3) (angles below pi)."""
    cos = np.clip((np.trace(R, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    ang = np.arccos(cos)
    v = 0.5 * np.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1)
    s = np.sin(ang)
    scale = np.where(s > 1e-8, ang / np.maximum(s, 1e-8), 1.0)
    return v * scale[..., None]


def global_features(ref: GarmentReference, transforms: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Skeleton features (..., G) float32 of the target frame from transforms (..., F >= 3, J, 4, 4) (target last)."""
    T = np.asarray(transforms, dtype=np.float64)
    if T.shape[-4] < 3:
        raise DrapeError(f"global features: need at least 3 frames of transforms, got {T.shape}")
    R = T[..., -3:, 0, :3, :3]  # root rotations t-1, t, t+1
    root = np.einsum("...fab,b->...fa", R, ref.rest_root.astype(np.float64)) + T[..., -3:, 0, :3, 3]
    R1 = R[..., 2, :, :]
    Rj = T[..., -1, skeleton_joint_index(ref.bone_names, cfg.skeleton_joints), :3, :3]
    rel = np.einsum("...ba,...jbc->...jac", R1, Rj)  # R1^T R_j
    six = rel[..., :, :, :2].swapaxes(-1, -2).reshape(*rel.shape[:-3], -1)
    up = R1[..., 2, :]  # R1^T e_z
    fps = cfg.fps
    v1 = np.einsum("...ba,...b->...a", R1, root[..., 2, :] - root[..., 1, :]) * fps
    v0 = np.einsum("...ba,...b->...a", R1, root[..., 1, :] - root[..., 0, :]) * fps
    w1 = _rot_log(np.einsum("...ba,...bc->...ac", R[..., 1, :, :], R1)) * fps
    w0 = _rot_log(np.einsum("...ba,...bc->...ac", R[..., 0, :, :], R[..., 1, :, :])) * fps
    return np.concatenate([six, up, v1, v0, w1, w0], -1).astype(np.float32)


def sequence_samples(ref: GarmentReference, garment_verts: np.ndarray, transforms: np.ndarray, cfg: FeatureConfig, *, frames=None) -> dict[str, np.ndarray]:
    """Teacher-forced samples of one sequence.

    garment_verts (F, V, 3) world; transforms (F, J, 4, 4). frames: target frame indices
    (default all from window + 1 to F - 1). Returns vertex (N, V, C), global (N, G),
    target (N, V, 3) metres = canonical(t+1) minus :func:`prediction_base` (canonical(t) or the
    reference), and frames (N,).
    """
    n = cfg.window + 1
    F = len(garment_verts)
    idx = np.arange(n, F) if frames is None else np.asarray(frames)
    if len(idx) and (idx.min() < n or idx.max() >= F):
        raise DrapeError(f"sequence samples: target frames must lie in [{n}, {F}), got [{idx.min()}, {idx.max()}]")
    X = np.asarray(garment_verts, dtype=np.float32)
    T = np.asarray(transforms, dtype=np.float32)
    hist = np.stack([X[idx - n + k] for k in range(n)], 1)  # (N, n, V, 3)
    win = np.stack([T[idx - n + k] for k in range(n + 1)], 1)  # (N, n+1, J, 4, 4)
    vf, c_t = vertex_features(ref, hist, win, cfg)
    c_next = canonical(ref, X[idx], T[idx])
    target = c_next - prediction_base(ref, c_t, cfg)
    return {"vertex": vf, "global": global_features(ref, win, cfg), "target": target, "frames": idx}


# --------------------------------------------------------------------------- normalisation


def normalize_vertex_features(vf, mean, std, clip: float):
    """(vf - mean) / std, clipped to [-clip, clip] when clip > 0 (numpy or torch; every backend's one copy)."""
    vn = (vf - mean) / std
    return vn.clip(-clip, clip) if clip > 0 else vn


@dataclass(frozen=True, eq=False)
class Normalizer:
    """Per-channel mean and std of the vertex features, global features and targets."""

    vertex_mean: np.ndarray
    vertex_std: np.ndarray
    global_mean: np.ndarray
    global_std: np.ndarray
    target_mean: np.ndarray
    target_std: np.ndarray

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("vertex_mean", "vertex_std", "global_mean", "global_std", "target_mean", "target_std")}

    @classmethod
    def from_arrays(cls, a: dict) -> "Normalizer":
        return cls(**{k: np.asarray(a[k], dtype=np.float32) for k in ("vertex_mean", "vertex_std", "global_mean", "global_std", "target_mean", "target_std")})

    @classmethod
    def identity(cls, vertex_channels: int, global_channels: int, target_channels: int = 3) -> "Normalizer":
        z = lambda n: np.zeros(n, dtype=np.float32)  # noqa: E731
        o = lambda n: np.ones(n, dtype=np.float32)  # noqa: E731
        return cls(z(vertex_channels), o(vertex_channels), z(global_channels), o(global_channels), z(target_channels), o(target_channels))


class NormalizerFit:
    """Accumulates channel sums over a dataset: ``add(vertex, global, target)`` per batch, then ``result()``."""

    def __init__(self, min_std: float = 1e-6):
        self.min_std = min_std
        self._s: dict[str, list] = {}

    def _acc(self, key, x):
        x = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
        s = self._s.setdefault(key, [0, 0.0, 0.0])
        s[0] += len(x)
        s[1] = s[1] + x.sum(0)
        s[2] = s[2] + (x * x).sum(0)

    def add(self, vertex: np.ndarray, global_: np.ndarray, target: np.ndarray) -> None:
        self._acc("vertex", vertex)
        self._acc("global", global_)
        self._acc("target", target)

    def result(self) -> Normalizer:
        out = {}
        for key in ("vertex", "global", "target"):
            if key not in self._s:
                raise DrapeError("normalizer: no data was added")
            n, s, ss = self._s[key]
            mean = s / n
            std = np.sqrt(np.maximum(ss / n - mean * mean, 0.0))
            std = np.where(std < self.min_std, 1.0, std)
            out[f"{key}_mean"] = mean.astype(np.float32)
            out[f"{key}_std"] = std.astype(np.float32)
        return Normalizer(**out)
