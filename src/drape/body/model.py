"""anny adapter: rig, shape, posing and linear blend skinning.

Frames: anny builds its body with the Hips head near the origin and the soles
near z = -0.87. drape's *rest frame* lifts that by ``floor_offset`` so the soles
touch z = 0. Posed outputs are in the drape world frame (z-up, metres, floor z = 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from drape.types import BodyShape, DrapeError, Mesh, Motion, SkeletonState

DEFAULT_RIG = "cmu_mb"
FULL_TOPOLOGY = "anny"
PROXY_TOPOLOGY = "notoes_collapse10pc"

_MODELS: dict[tuple[str, str], object] = {}


def load_anny(rig: str = DEFAULT_RIG, topology: str = FULL_TOPOLOGY):
    """The anny model for a rig and topology, built once per process (cached on disk by anny)."""
    key = (rig, topology)
    if key not in _MODELS:
        from drape.cache import init_warp

        init_warp()
        import warnings

        import anny
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = anny.Anny(rig=rig, topology=topology)
        model = model.to(dtype=torch.float64)
        _MODELS[key] = model
    return _MODELS[key]


@dataclass(frozen=True)
class PosedBody:
    """A body posed over F frames."""

    verts: np.ndarray
    """(F, V, 3) float32 metres, world frame."""
    faces: np.ndarray
    """(T, 3) int32."""
    skeleton: SkeletonState
    root_translation: np.ndarray
    """(F, 3) float32 metres: root positions actually used (after shape scaling and floor calibration)."""


class Body:
    """A shaped anny body on the ``cmu_mb`` rig.

    ``topology`` is ``"anny"`` (13,718 vertices) or ``"notoes_collapse10pc"``
    (1,229 vertices; the collision and contact proxy).
    """

    def __init__(self, shape: BodyShape | None = None, *, rig: str = DEFAULT_RIG, topology: str = FULL_TOPOLOGY):
        self.shape = shape or BodyShape()
        self.rig = rig
        self.topology = topology
        self._model = load_anny(rig, topology)
        import torch

        with torch.no_grad():
            out = self._model(pose_parameters=None, phenotype_kwargs=self.shape.to_dict())
        rest = out["rest_vertices"][0].numpy()
        self.floor_offset = float(-rest[:, 2].min())
        """Metres added to anny's z so the rest-pose soles touch z = 0."""
        self._offset = np.array([0.0, 0.0, self.floor_offset])
        self.rest_verts = (rest + self._offset).astype(np.float32)
        """(V, 3) float32 metres, rest frame."""
        self.faces = self._model.get_triangular_faces().numpy().astype(np.int32)
        """(T, 3) int32."""
        self.rest_bone_heads = (out["rest_bone_heads"][0].numpy() + self._offset).astype(np.float32)
        """(J, 3) float32 metres, rest frame."""
        self.rest_bone_tails = (out["rest_bone_tails"][0].numpy() + self._offset).astype(np.float32)
        """(J, 3) float32 metres, rest frame."""
        self.rest_bone_rotations = out["rest_bone_poses"][0, :, :3, :3].numpy().astype(np.float64)
        """(J, 3, 3) float64: rest orientation of each bone; column 1 points along the bone."""
        self.bone_names: tuple[str, ...] = tuple(self._model.bone_labels)
        self.bone_parents = np.asarray(self._model.bone_parents, dtype=np.int64)
        """(J,) parent index per bone, -1 for the root."""

    # ------------------------------------------------------------------ rig facts
    @property
    def bone_count(self) -> int:
        return len(self.bone_names)

    def bone_index(self, name: str) -> int:
        try:
            return self.bone_names.index(name)
        except ValueError:
            raise DrapeError(f"rig {self.rig}: no bone named {name!r}") from None

    @property
    def rest_mesh(self) -> Mesh:
        return Mesh(self.rest_verts, self.faces)

    @cached_property
    def skin_weights(self) -> np.ndarray:
        """(V, J) float32 dense skinning weights, rows sum to 1."""
        idx = self._model.vertex_bone_indices.numpy()
        w = self._model.vertex_bone_weights.numpy()
        dense = np.zeros((len(self.rest_verts), self.bone_count), dtype=np.float64)
        np.add.at(dense, (np.repeat(np.arange(len(idx)), idx.shape[1]), idx.reshape(-1)), w.reshape(-1))
        dense /= np.maximum(dense.sum(1, keepdims=True), 1e-12)
        return dense.astype(np.float32)

    @cached_property
    def leg_length(self) -> float:
        """Metres from the left hip joint to the left ankle in the rest pose."""
        up = self.bone_index("LeftUpLeg")
        foot = self.bone_index("LeftFoot")
        return float(np.linalg.norm(self.rest_bone_heads[up] - self.rest_bone_heads[foot]))

    @property
    def rest_root(self) -> np.ndarray:
        """(3,) float32 metres: the root bone head in the rest frame."""
        return self.rest_bone_heads[0]

    # ------------------------------------------------------------------ posing
    def pose(self, world_rotations: np.ndarray, root_translation: np.ndarray, *, chunk: int = 256) -> PosedBody:
        """Pose the body. ``world_rotations`` (F, J, 3, 3) relative to rest, ``root_translation`` (F, 3) metres."""
        import torch

        rot = np.asarray(world_rotations, dtype=np.float64)
        root = np.asarray(root_translation, dtype=np.float64)
        J = self.bone_count
        if rot.ndim != 4 or rot.shape[1:] != (J, 3, 3):
            raise DrapeError(f"pose: world_rotations: expected (F, {J}, 3, 3), got {rot.shape}")
        if root.shape != (rot.shape[0], 3):
            raise DrapeError(f"pose: root_translation: expected ({rot.shape[0]}, 3), got {root.shape}")
        F = rot.shape[0]
        verts = np.empty((F, len(self.rest_verts), 3), dtype=np.float32)
        transforms = np.empty((F, J, 4, 4), dtype=np.float32)
        heads = np.empty((F, J, 3), dtype=np.float32)
        pheno = self.shape.to_dict()
        for s in range(0, F, chunk):
            e = min(F, s + chunk)
            delta = np.zeros((e - s, J, 4, 4))
            delta[:, :, :3, :3] = rot[s:e] @ self.rest_bone_rotations[None]
            delta[:, :, 3, 3] = 1.0
            delta[:, 0, :3, 3] = root[s:e]
            with torch.no_grad():
                out = self._model(
                    pose_parameters=torch.from_numpy(delta),
                    phenotype_kwargs={k: torch.full((e - s,), v, dtype=torch.float64) for k, v in pheno.items()},
                    pose_parameterization="world-orient",
                )
            verts[s:e] = out["vertices"].numpy()
            heads[s:e] = out["bone_poses"][..., :3, 3].numpy()
            # anny's transforms map anny-rest points; ours map rest-frame points (shifted by the floor offset).
            T = self._bone_transforms(out).numpy()
            T[..., :3, 3] -= T[..., :3, :3] @ self._offset
            transforms[s:e] = T
        skel = SkeletonState(
            joint_positions=heads,
            joint_rotations=rot.astype(np.float32),
            bone_transforms=transforms,
        )
        return PosedBody(verts=verts, faces=self.faces, skeleton=skel, root_translation=root.astype(np.float32))

    def _bone_transforms(self, out):
        # T_c = W_c P_c^-1 with W the posed and P the rest bone poses.
        import torch

        W = out["bone_poses"]
        P = out["rest_bone_poses"].expand_as(W)
        Rt = P[..., :3, :3].transpose(-1, -2)
        T = torch.zeros_like(W)
        T[..., :3, :3] = W[..., :3, :3] @ Rt
        T[..., :3, 3] = W[..., :3, 3] - (T[..., :3, :3] @ P[..., :3, 3:]).squeeze(-1)
        T[..., 3, 3] = 1.0
        return T

    def root_for_shape(self, motion: Motion) -> np.ndarray:
        """(F, 3) the motion's root path rescaled from the average body to this body's leg length."""
        ref = reference_leg_length(self.rig, self.topology)
        scale = self.leg_length / ref
        root = motion.root_translation.astype(np.float64) * scale
        return root

    def pose_motion(self, motion: Motion, *, frames: slice | None = None) -> PosedBody:
        """Pose a whole motion: root rescaled to this body, then the lowest vertex over the clip put on the floor.

        To pose the proxy in exactly the same place, call ``proxy.pose(motion.world_rotations,
        posed.root_translation)`` with this result's root translation.
        """
        if tuple(motion.bone_names) != self.bone_names:
            raise DrapeError(f"motion {motion.name}: bones do not match rig {self.rig}")
        root = self.root_for_shape(motion)
        rot = motion.world_rotations
        posed = self.pose(rot, root)
        lift = -float(posed.verts[..., 2].min())
        posed = shift_posed(posed, np.array([0.0, 0.0, lift], dtype=np.float32))
        if frames is not None:
            posed = slice_posed(posed, frames)
        return posed

    def skin(self, rest_points: np.ndarray, weights: np.ndarray, skeleton: SkeletonState) -> np.ndarray:
        """Linear blend skinning of rest-frame points: (P, 3) with (P, J) weights -> (F, P, 3) float32."""
        return linear_blend_skinning(rest_points, weights, skeleton.bone_transforms)


def linear_blend_skinning(rest_points: np.ndarray, weights: np.ndarray, bone_transforms: np.ndarray) -> np.ndarray:
    """LBS. rest_points (P, 3), weights (P, J), bone_transforms (F, J, 4, 4) -> (F, P, 3) float32."""
    pts = np.asarray(rest_points, dtype=np.float32)
    W = np.asarray(weights, dtype=np.float32)
    T = np.asarray(bone_transforms, dtype=np.float32)
    if W.shape != (len(pts), T.shape[1]):
        raise DrapeError(f"skinning: weights: expected ({len(pts)}, {T.shape[1]}), got {W.shape}")
    blended = np.einsum("pj,fjab->fpab", W, T[:, :, :3, :])  # (F, P, 3, 4)
    return (np.einsum("fpab,pb->fpa", blended[..., :3], pts) + blended[..., 3]).astype(np.float32)


def shift_posed(posed: PosedBody, offset: np.ndarray) -> PosedBody:
    """Translate a posed body (and its skeleton) by ``offset`` (3,) metres."""
    T = posed.skeleton.bone_transforms.copy()
    T[..., :3, 3] += offset
    skel = SkeletonState(
        joint_positions=posed.skeleton.joint_positions + offset,
        joint_rotations=posed.skeleton.joint_rotations,
        bone_transforms=T,
    )
    return PosedBody(
        verts=posed.verts + offset,
        faces=posed.faces,
        skeleton=skel,
        root_translation=posed.root_translation + offset,
    )


def slice_posed(posed: PosedBody, frames: slice) -> PosedBody:
    s = posed.skeleton
    return PosedBody(
        verts=posed.verts[frames],
        faces=posed.faces,
        skeleton=SkeletonState(s.joint_positions[frames], s.joint_rotations[frames], s.bone_transforms[frames]),
        root_translation=posed.root_translation[frames],
    )


_REF_LEG: dict[tuple[str, str], float] = {}


def reference_leg_length(rig: str = DEFAULT_RIG, topology: str = FULL_TOPOLOGY) -> float:
    """Leg length of the average body (the body motions are retargeted for)."""
    key = (rig, topology)
    if key not in _REF_LEG:
        _REF_LEG[key] = Body(BodyShape(), rig=rig, topology=topology).leg_length
    return _REF_LEG[key]
