"""Training losses of the garment-dynamics model (torch, differentiable).

Every function takes batched tensors with any leading dimensions and returns a scalar
(the mean). Units are in the names: positions in metres in, the vertex terms come out in
millimetres so the total loss reads in mm and the term weights stay near 1.

=====================  =======================================================================
vertex_l2_mm           mean Euclidean distance per vertex (mm): the metric of DESIGN §5
vertex_l1_mm           mean absolute coordinate difference (mm)
vertex_mse_mm2         mean squared Euclidean distance (mm^2)
edge_strain_pct        mean |edge length / reference length - 1| (percent)
penetration_mm         mean hinge depth (mm) below the body surface, from a signed distance:
                       plane_distance (the simulated body of the frame: tangent plane at the body
                       vertex nearest to the true garment vertex) or contact_distance (the
                       model's contact binding: tangent plane at the bound body point, skinned
                       by the body weights)
velocity_mm            mean |(x_t - x_{t-1}) - (gt_t - gt_{t-1})| per frame (mm/frame)
jitter_mm              mean |second difference error| per frame (mm/frame^2); x 1e-3 fps^2 gives m/s^2
=====================  =======================================================================
"""

from __future__ import annotations

import numpy as np
import torch

MM = 1000.0


def vertex_l2_mm(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-vertex Euclidean distance in mm. pred, target: (..., V, 3) metres."""
    return MM * torch.linalg.vector_norm(pred - target, dim=-1).mean()


def vertex_l1_mm(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute coordinate difference in mm. pred, target: (..., V, 3) metres."""
    return MM * (pred - target).abs().mean()


def vertex_mse_mm2(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared per-vertex distance in mm^2. pred, target: (..., V, 3) metres."""
    return (MM * (pred - target)).square().sum(-1).mean()


VERTEX_LOSSES = {"l2": vertex_l2_mm, "l1": vertex_l1_mm, "mse": vertex_mse_mm2}


def edge_lengths(verts: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(..., E) metres from verts (..., V, 3) and edges (E, 2) int64."""
    return torch.linalg.vector_norm(verts[..., edges[:, 0], :] - verts[..., edges[:, 1], :], dim=-1)


def edge_strain_pct(verts: torch.Tensor, edges: torch.Tensor, rest_lengths: torch.Tensor) -> torch.Tensor:
    """Mean |length / rest - 1| over edges, in percent. verts (..., V, 3); edges (E, 2); rest_lengths (E,) metres > 0."""
    return 100.0 * (edge_lengths(verts, edges) / rest_lengths - 1.0).abs().mean()


def contact_distance(reference, verts: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """Signed distance (..., V) metres of garment verts to their bound body points' tangent planes.

    verts (..., V, 3) world; transforms (..., J, 4, 4) of the same frame. The bound body face
    (:class:`drape.model.features.ContactBinding`) is skinned with the body weights of its
    3 corners; negative = behind the body surface (inside).
    """
    a = reference.arrays(torch=True)
    V = reference.vert_count
    T = transforms.to(verts.dtype)
    J = T.shape[-3]
    M = a["corner_weights"].to(verts.dtype) @ T[..., :3, :].reshape(*T.shape[:-3], J, 12)  # (..., 3V, 12)
    M = M.reshape(*M.shape[:-1], 3, 4)
    rest = a["corner_rest"].to(verts.dtype).reshape(V * 3, 3)
    corners = ((M[..., :3] * rest[..., None, :]).sum(-1) + M[..., 3]).reshape(*M.shape[:-3], V, 3, 3)
    e1 = corners[..., 1, :] - corners[..., 0, :]
    e2 = corners[..., 2, :] - corners[..., 0, :]
    normal = torch.linalg.cross(e1, e2)
    normal = normal / (torch.linalg.vector_norm(normal, dim=-1, keepdim=True) + 1e-12)
    point = (corners * a["contact_bary"].to(verts.dtype)[..., None]).sum(-2)
    return ((verts - point) * normal).sum(-1)


def penetration_mm(distance: torch.Tensor, *, floor: torch.Tensor | None = None, margin: float = 0.0) -> torch.Tensor:
    """Mean hinge depth in mm: relu(min(floor, 0) + margin - distance).

    distance (..., V) metres (:func:`contact_distance` of the prediction); floor: the same for the
    ground truth, so points that are legitimately behind the tangent plane in the simulation
    (curved body) are not pushed out further than the truth; margin metres.
    """
    limit = torch.zeros_like(distance) if floor is None else torch.clamp(floor, max=0.0)
    return MM * torch.relu(limit + margin - distance).mean()


def velocity_mm(pred: torch.Tensor, target: torch.Tensor, pred_prev: torch.Tensor, target_prev: torch.Tensor) -> torch.Tensor:
    """Mean per-vertex distance between predicted and true displacement over one frame (mm/frame)."""
    return MM * torch.linalg.vector_norm((pred - pred_prev) - (target - target_prev), dim=-1).mean()


def jitter_mm(pred_seq: torch.Tensor, target_seq: torch.Tensor) -> torch.Tensor:
    """Mean |second-difference error| (mm/frame^2). pred_seq, target_seq: (..., F >= 3, V, 3) metres, frames on dim -3."""
    if pred_seq.shape[-3] < 3:
        return pred_seq.new_zeros(())
    def acc(x):
        return x[..., 2:, :, :] - 2 * x[..., 1:-1, :, :] + x[..., :-2, :, :]
    return MM * torch.linalg.vector_norm(acc(pred_seq) - acc(target_seq), dim=-1).mean()


def reference_edges(reference) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique edges (E, 2) int64 of the garment and their lengths (E,) float32 metres in the reference drape."""
    from drape.geometry.mesh_ops import edge_lengths as np_edge_lengths
    from drape.geometry.mesh_ops import unique_edges

    e = unique_edges(reference.faces).astype(np.int64)
    rest = np_edge_lengths(reference.verts, e).astype(np.float32)
    keep = rest > 1e-9
    return torch.from_numpy(e[keep]), torch.from_numpy(rest[keep])


def plane_distance(verts: torch.Tensor, points, normals) -> torch.Tensor:
    """Signed distance (...,) metres of verts (..., 3) to the planes through points (..., 3) with unit
    normals (..., 3) (numpy or torch; negative = behind). See :meth:`drape.data.windows.WindowDataset.contact_planes`."""
    p = torch.as_tensor(points, dtype=verts.dtype)
    n = torch.as_tensor(normals, dtype=verts.dtype)
    return ((verts - p) * n).sum(-1)
