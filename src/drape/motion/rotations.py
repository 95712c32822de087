"""Small batched rotation helpers (numpy; quaternions are (w, x, y, z))."""

from __future__ import annotations

import numpy as np


def quat_from_matrix(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z), w >= 0."""
    from scipy.spatial.transform import Rotation

    R = np.asarray(R, dtype=np.float64)
    shape = R.shape[:-2]
    q = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat()  # x, y, z, w
    q = np.concatenate([q[:, 3:], q[:, :3]], axis=1)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q.reshape(shape + (4,))


def matrix_from_quat(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z), normalised here -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    R = np.empty(q.shape[:-1] + (3, 3))
    R[..., 0, 0] = 1 - 2 * (y * y + z * z)
    R[..., 0, 1] = 2 * (x * y - w * z)
    R[..., 0, 2] = 2 * (x * z + w * y)
    R[..., 1, 0] = 2 * (x * y + w * z)
    R[..., 1, 1] = 1 - 2 * (x * x + z * z)
    R[..., 1, 2] = 2 * (y * z - w * x)
    R[..., 2, 0] = 2 * (x * z - w * y)
    R[..., 2, 1] = 2 * (y * z + w * x)
    R[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return R


def slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spherical interpolation, shortest path. q0, q1 (..., 4), t broadcastable to (...) -> (..., 4)."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot).clip(max=1.0)
    theta = np.arccos(dot)
    s = np.sin(theta)
    small = s < 1e-6
    safe = np.where(small, 1.0, s)
    a = np.where(small, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    b = np.where(small, t, np.sin(t * theta) / safe)
    q = a * q0 + b * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def rotvec_from_matrix(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) axis * angle (radians, angle in [0, pi])."""
    from scipy.spatial.transform import Rotation

    R = np.asarray(R, dtype=np.float64)
    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(R.shape[:-2] + (3,))


def matrix_from_rotvec(v: np.ndarray) -> np.ndarray:
    """(..., 3) axis * angle (radians) -> (..., 3, 3)."""
    from scipy.spatial.transform import Rotation

    v = np.asarray(v, dtype=np.float64)
    return Rotation.from_rotvec(v.reshape(-1, 3)).as_matrix().reshape(v.shape[:-1] + (3, 3))


def rotation_angle(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (...) rotation angle in radians, in [0, pi]."""
    tr = np.trace(np.asarray(R), axis1=-2, axis2=-1)
    return np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0))


def twist_angle(R: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (...) radians in (-pi, pi]: the twist of R about the unit ``axis`` (3,)
    (swing-twist decomposition)."""
    q = quat_from_matrix(R)
    along = q[..., 1:] @ np.asarray(axis, dtype=np.float64)
    return 2.0 * np.arctan2(along, q[..., 0])


def axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotations about the unit ``axis`` (3,) by ``angle`` (...) radians -> (..., 3, 3)."""
    axis = np.asarray(axis, dtype=np.float64)
    angle = np.asarray(angle, dtype=np.float64)
    return matrix_from_rotvec(angle[..., None] * axis)


def align_vectors(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3, 3) the smallest rotation turning direction ``a`` (3,) onto direction ``b`` (3,)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    s = float(np.linalg.norm(v))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        # Opposite: half turn about any axis perpendicular to a.
        perp = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(perp) < 1e-6:
            perp = np.cross(a, [0.0, 1.0, 0.0])
        return matrix_from_rotvec(np.pi * perp / np.linalg.norm(perp))
    return matrix_from_rotvec(v / s * np.arctan2(s, c))


def align_vectors_batch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) smallest rotations turning directions a (..., 3) onto b (..., 3); identity where
    either is zero or they are opposite (use :func:`align_vectors` for that case)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    a = a / np.where(na > 0, na, 1.0)
    b = b / np.where(nb > 0, nb, 1.0)
    v = np.cross(a, b)
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    c = np.sum(a * b, axis=-1, keepdims=True)
    angle = np.arctan2(s, c)
    axis = v / np.where(s > 1e-12, s, 1.0)
    return matrix_from_rotvec(np.where(s > 1e-12, axis * angle, 0.0))
