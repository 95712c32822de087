"""Binary glTF 2.0 (GLB) export of an animated avatar.

What the file holds (one scene, one animation named ``drape``):

* **body**: a skinned mesh (the rest-pose body, JOINTS_0/WEIGHTS_0 and optionally
  JOINTS_1/WEIGHTS_1, NORMAL), its skin (inverse bind matrices) and the 31-bone node
  hierarchy of the ``cmu_mb`` rig with rest local transforms. Each joint node's
  frame is the bone's rest frame (its local +y points along the bone), so tools
  that draw bones from node axes show them correctly.
* **skeleton animation**: a rotation channel per bone and a translation channel for
  the root (plus translation channels for any bone whose offset from its parent is
  not constant), LINEAR interpolation, key ``f`` at time ``f / fps`` seconds.
* **garment**: per-frame vertex animation as morph targets. The garment is split into
  chunks of at most ``morph_chunk_frames`` frames; each chunk is a mesh whose base
  geometry is the chunk's first frame and which has one morph target per further
  frame (POSITION and, by default, NORMAL deltas). A STEP ``weights`` animation turns
  exactly one target on per frame; it switches half a frame early, so the garment shows
  the frame nearest to the playback time. With more than one chunk, each chunk's node is
  shown only during its frames by a STEP ``scale`` animation (1 while active, 0
  otherwise), since glTF has no visibility switch.

Axes and units: glTF is y-up, metres, front = +z. Coordinates are converted from
drape's z-up world by :data:`~drape.export._common.Z_UP_TO_Y_UP`,
``(x, y, z) -> (x, z, -y)``; drape's body faces -y, so it faces +z in the file. No
root correction node is needed. Texture coordinates are flipped to glTF's top-left
origin: ``v_gltf = 1 - v``.

Size: the garment costs ``12 * Vg`` bytes per frame for positions and as much again
for normals (about 60 + 60 kB per frame for a 5k-vertex garment); the body and its
animation are small. A GLB cannot exceed 4 GiB; :func:`export_glb` refuses
sequences that would.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drape.export._common import Z_UP_TO_Y_UP, check_sequence, garment_uv_layout, json_safe, vertex_normals
from drape.types import DrapeError, Sequence

GLB_FORMAT = "drape.glb"
"""Format name written to ``asset.extras.drape_format``."""
GLB_FORMAT_VERSION = 1

_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_CTYPES = {np.dtype(np.float32): _FLOAT, np.dtype(np.uint8): _UBYTE, np.dtype(np.uint16): _USHORT, np.dtype(np.uint32): _UINT}
_GLB_LIMIT = 2**32 - 1

BODY_COLOR = (0.80, 0.62, 0.52, 1.0)
GARMENT_COLOR = (0.20, 0.36, 0.72, 1.0)


@dataclass(frozen=True)
class GlbExport:
    """What :func:`export_glb` wrote."""

    path: Path
    byte_count: int
    frame_count: int
    garment_chunks: int
    """Number of garment meshes (chunks of at most ``morph_chunk_frames`` frames)."""
    body_skin_max_error: float
    """Metres: largest distance, over all frames and vertices, between the body skinned with
    the file's (truncated, renormalised) weights and ``seq.body_verts``."""


class _Builder:
    """Accumulates the binary buffer, bufferViews and accessors of one GLB."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def accessor(self, array: np.ndarray, kind: str, *, target: int | None = None, minmax: bool = False,
                 normalized: bool = False) -> int:
        a = np.ascontiguousarray(array)
        if a.dtype not in _CTYPES:
            raise DrapeError(f"export_glb: internal error: unsupported accessor dtype {a.dtype}")
        n = _COMPONENTS[kind]
        flat = a.reshape(-1, n)
        if len(self.data) % 4:
            self.data.extend(b"\0" * (4 - len(self.data) % 4))
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": int(a.nbytes)}
        if target is not None:
            view["target"] = target
        self.data.extend(a.tobytes())
        self.views.append(view)
        acc = {"bufferView": len(self.views) - 1, "componentType": _CTYPES[a.dtype], "count": int(len(flat)), "type": kind}
        if normalized:
            acc["normalized"] = True
        if minmax and len(flat):
            acc["min"] = [v.item() for v in flat.min(0)]
            acc["max"] = [v.item() for v in flat.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def _column_major(mats: np.ndarray) -> np.ndarray:
    """(N, 4, 4) -> (N, 16) float32 in glTF's column-major order."""
    return np.ascontiguousarray(np.transpose(mats, (0, 2, 1))).reshape(len(mats), 16).astype(np.float32)


def _quats(rot: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 4) unit quaternions (x, y, z, w), float64."""
    from scipy.spatial.transform import Rotation

    shape = rot.shape[:-2]
    q = Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_quat()
    return q.reshape(*shape, 4)


def _continuous(q: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 of (F, ..., 4) quaternions so consecutive keys lie in the same hemisphere."""
    if len(q) < 2:
        return q
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    sign = np.cumprod(np.where(dots < 0, -1.0, 1.0), axis=0)
    out = q.copy()
    out[1:] *= sign[..., None]
    return out


def _unit_f32(q: np.ndarray) -> np.ndarray:
    q = q.astype(np.float32)
    return (q / np.linalg.norm(q, axis=-1, keepdims=True)).astype(np.float32)


def top_weights(weights: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep each vertex's ``count`` largest skin weights and renormalise them.

    weights: (V, J) -> (joints (V, count) int64, weights (V, count) float32). Rows sum
    to 1 in float32; unused slots have joint 0 and weight 0.
    """
    w = np.asarray(weights, dtype=np.float64)
    count = min(count, w.shape[1])
    order = np.argsort(-w, axis=1, kind="stable")[:, :count]
    top = np.take_along_axis(w, order, axis=1)
    total = top.sum(1, keepdims=True)
    if (total <= 0).any():
        bad = int(np.flatnonzero(total[:, 0] <= 0)[0])
        raise DrapeError(f"export_glb: vertex {bad} has no positive skin weight")
    top = (top / total).astype(np.float32)
    top[:, 0] = 1.0 - top[:, 1:].sum(1, dtype=np.float32)  # exact float32 row sums
    order = np.where(top > 0, order, 0)
    return order, top


def _rigid_inverse(m: np.ndarray) -> np.ndarray:
    out = np.zeros_like(m)
    rt = np.swapaxes(m[..., :3, :3], -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -np.einsum("...ab,...b->...a", rt, m[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def export_glb(
    path,
    seq: Sequence,
    body,
    *,
    garment_uv=None,
    max_influences: int = 4,
    garment_normals: bool = True,
    morph_chunk_frames: int = 64,
    body_tolerance: float = 0.005,
) -> GlbExport:
    """Write ``seq`` as a binary glTF 2.0 file at ``path`` (see the module docstring for the layout).

    seq: the avatar to export; ``seq.world_rotations`` and ``seq.root_translation`` drive the skeleton.
    body: the :class:`drape.body.Body` that ``seq.body_verts`` were posed with (same shape and topology).
    garment_uv: None, (Vg, 2) per-vertex or (Tg, 3, 2) per-corner texture coordinates in [0, 1]
        with a bottom-left origin (written as TEXCOORD_0; per-corner UVs split vertices at seams).
    max_influences: skin influences per vertex, 4 (one JOINTS/WEIGHTS set; every viewer reads it)
        or 8 (two sets; exact for anny, whose vertices have up to 7 bones, but many viewers
        read only the first set). The largest weights are kept and renormalised.
    garment_normals: also write per-frame normal deltas (doubles the garment's size).
    morph_chunk_frames: frames per garment mesh (morph targets per mesh = this - 1).
    body_tolerance: metres; the export is refused if ``body`` posed on the sequence's motion
        is further than this from ``seq.body_verts`` (wrong body shape or topology).

    Returns a :class:`GlbExport` with the byte count and the skinning error of the written weights.
    """
    path = Path(path)
    F, Vb, Vg = check_sequence(seq, f"export_glb {path.name}")
    if max_influences not in (4, 8):
        raise DrapeError(f"export_glb: max_influences must be 4 or 8, got {max_influences!r}")
    if not (isinstance(morph_chunk_frames, (int, np.integer)) and morph_chunk_frames >= 1):
        raise DrapeError(f"export_glb: morph_chunk_frames must be an integer >= 1, got {morph_chunk_frames!r}")
    if len(body.rest_verts) != Vb:
        raise DrapeError(
            f"export_glb: the body has {len(body.rest_verts)} vertices but seq.body_verts has {Vb} "
            f"(topology {body.topology!r}); pass the Body the sequence was posed with"
        )
    if not np.array_equal(np.asarray(body.faces), np.asarray(seq.body_faces)):
        raise DrapeError("export_glb: seq.body_faces differ from the body's faces; pass the Body the sequence was posed with")
    src, uv, gfaces = garment_uv_layout(garment_uv, seq.garment_faces, Vg, "export_glb")
    Vo = len(src)
    estimate = F * Vo * 12 * (2 if garment_normals else 1) + Vb * 80 + len(seq.body_faces) * 12
    if estimate > _GLB_LIMIT:
        raise DrapeError(
            f"export_glb: {F} frames of a {Vo}-vertex garment need about {estimate / 2**30:.1f} GiB, over the "
            f"4 GiB GLB limit; export fewer frames (slice the sequence) or pass garment_normals=False"
        )

    C = Z_UP_TO_Y_UP
    C4 = np.eye(4)
    C4[:3, :3] = C
    J = body.bone_count
    parents = np.asarray(body.bone_parents)

    # ---- skeleton: rest globals G (drape), posed globals W = T G, both turned y-up.
    posed = body.pose(seq.world_rotations, seq.root_translation)
    deviation = np.abs(posed.verts - np.asarray(seq.body_verts, dtype=np.float32)).max()
    if deviation > body_tolerance:
        raise DrapeError(
            f"export_glb: posing the body on the sequence's motion misses seq.body_verts by {deviation * 1000:.1f} mm "
            f"(tolerance {body_tolerance * 1000:.1f} mm); pass the Body (shape {body.shape.key()}) the sequence was made with"
        )
    G = np.tile(np.eye(4), (J, 1, 1))
    G[:, :3, :3] = body.rest_bone_rotations
    G[:, :3, 3] = body.rest_bone_heads
    T = posed.skeleton.bone_transforms.astype(np.float64)
    Gy = C4 @ G  # (J, 4, 4): bone frame -> y-up world, rest
    Wy = C4 @ T @ G  # (F, J, 4, 4): posed
    rest_local = np.empty_like(Gy)
    local = np.empty_like(Wy)
    for c in range(J):
        p = parents[c]
        rest_local[c] = Gy[c] if p < 0 else _rigid_inverse(Gy[p]) @ Gy[c]
        local[:, c] = Wy[:, c] if p < 0 else _rigid_inverse(Wy[:, p]) @ Wy[:, c]

    b = _Builder()
    nodes: list[dict] = []
    # ---- body mesh (node 0), joints (nodes 1..J)
    rest_y = (body.rest_verts.astype(np.float64) @ C.T).astype(np.float32)
    normals_y = (vertex_normals(body.rest_verts, body.faces).astype(np.float64) @ C.T).astype(np.float32)
    attrs = {
        "POSITION": b.accessor(rest_y, "VEC3", target=_ARRAY_BUFFER, minmax=True),
        "NORMAL": b.accessor(normals_y, "VEC3", target=_ARRAY_BUFFER),
    }
    joints, weights = top_weights(body.skin_weights, max_influences)
    for s in range(max_influences // 4):
        attrs[f"JOINTS_{s}"] = b.accessor(joints[:, 4 * s : 4 * s + 4].astype(np.uint8), "VEC4", target=_ARRAY_BUFFER)
        attrs[f"WEIGHTS_{s}"] = b.accessor(weights[:, 4 * s : 4 * s + 4], "VEC4", target=_ARRAY_BUFFER)
    itype = np.uint16 if Vb < 65535 else np.uint32
    body_idx = b.accessor(np.asarray(body.faces).astype(itype).reshape(-1), "SCALAR", target=_ELEMENT_ARRAY_BUFFER)
    meshes = [{"name": "body", "primitives": [{"attributes": attrs, "indices": body_idx, "material": 0, "mode": 4}]}]
    ibm = b.accessor(_column_major(np.stack([_rigid_inverse(g) for g in Gy])), "MAT4")
    nodes.append({"name": "body", "mesh": 0, "skin": 0})
    joint_nodes = list(range(1, J + 1))
    rest_q = _unit_f32(_quats(rest_local[:, :3, :3]))
    for c in range(J):
        node = {
            "name": body.bone_names[c],
            "translation": [float(v) for v in rest_local[c, :3, 3].astype(np.float32)],
            "rotation": [float(v) for v in rest_q[c]],
        }
        kids = [joint_nodes[k] for k in range(J) if parents[k] == c]
        if kids:
            node["children"] = kids
        nodes.append(node)
    skins = [{"name": "body", "joints": joint_nodes, "inverseBindMatrices": ibm, "skeleton": joint_nodes[0]}]

    # ---- skeleton animation
    times = (np.arange(F, dtype=np.float64) / seq.fps).astype(np.float32)
    t_all = b.accessor(times, "SCALAR", minmax=True)
    samplers: list[dict] = []
    channels: list[dict] = []

    def channel(node: int, path_: str, input_: int, output: int, interpolation: str) -> None:
        samplers.append({"input": input_, "output": output, "interpolation": interpolation})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path_}})

    q = _unit_f32(_continuous(_quats(local[..., :3, :3])))  # (F, J, 4)
    for c in range(J):
        channel(joint_nodes[c], "rotation", t_all, b.accessor(np.ascontiguousarray(q[:, c]), "VEC4"), "LINEAR")
        moves = np.abs(local[:, c, :3, 3] - rest_local[c, :3, 3]).max() > 1e-6
        if parents[c] < 0 or moves:
            tr = local[:, c, :3, 3].astype(np.float32)
            channel(joint_nodes[c], "translation", t_all, b.accessor(tr, "VEC3"), "LINEAR")

    # ---- garment chunks
    gv = np.asarray(seq.garment_verts, dtype=np.float64)[:, src] @ C.T  # (F, Vo, 3) y-up
    g_idx_type = np.uint16 if Vo < 65535 else np.uint32
    g_idx = b.accessor(gfaces.astype(g_idx_type).reshape(-1), "SCALAR", target=_ELEMENT_ARRAY_BUFFER)
    g_uv = None
    if uv is not None:
        flipped = uv.copy()
        flipped[:, 1] = 1.0 - flipped[:, 1]
        g_uv = b.accessor(flipped.astype(np.float32), "VEC2", target=_ARRAY_BUFFER)
    # STEP keys switch half a frame early, so sampling at any time shows the nearest frame
    # (robust to rounding of f / fps, and in step with the body's interpolation).
    switch = np.maximum(0.0, (np.arange(F, dtype=np.float64) - 0.5) / seq.fps).astype(np.float32)
    starts = list(range(0, F, int(morph_chunk_frames)))
    chunk_nodes = []
    for ci, s in enumerate(starts):
        e = min(F, s + int(morph_chunk_frames))
        pos = gv[s:e].astype(np.float32)
        base = pos[0]
        prim: dict = {"attributes": {"POSITION": b.accessor(base, "VEC3", target=_ARRAY_BUFFER, minmax=True)},
                      "indices": g_idx, "material": 1, "mode": 4}
        if garment_normals:
            nrm = vertex_normals(pos, gfaces)
            prim["attributes"]["NORMAL"] = b.accessor(nrm[0], "VEC3", target=_ARRAY_BUFFER)
        if g_uv is not None:
            prim["attributes"]["TEXCOORD_0"] = g_uv
        targets = []
        for k in range(1, e - s):
            tgt = {"POSITION": b.accessor(pos[k] - base, "VEC3", target=_ARRAY_BUFFER, minmax=True)}
            if garment_normals:
                tgt["NORMAL"] = b.accessor(nrm[k] - nrm[0], "VEC3", target=_ARRAY_BUFFER)
            targets.append(tgt)
        mesh = {"name": f"garment_{ci:03d}" if len(starts) > 1 else "garment", "primitives": [prim]}
        if targets:
            prim["targets"] = targets
            mesh["weights"] = [0.0] * len(targets)
            mesh["extras"] = {"targetNames": [f"frame_{f:05d}" for f in range(s + 1, e)]}
        meshes.append(mesh)
        node = {"name": mesh["name"], "mesh": len(meshes) - 1}
        if ci > 0:
            node["scale"] = [0.0, 0.0, 0.0]
        nodes.append(node)
        chunk_nodes.append(len(nodes) - 1)
        if targets:
            onehot = np.zeros((e - s, len(targets)), dtype=np.float32)
            onehot[np.arange(1, e - s), np.arange(len(targets))] = 1.0
            t_in = b.accessor(switch[s:e], "SCALAR", minmax=True)
            channel(chunk_nodes[-1], "weights", t_in, b.accessor(onehot.reshape(-1), "SCALAR"), "STEP")
        if len(starts) > 1:
            keys, scales = [], []
            if s > 0:
                keys.append(0.0)
                scales.append(0.0)
            keys.append(switch[s])
            scales.append(1.0)
            if e < F:
                keys.append(switch[e])
                scales.append(0.0)
            sc = np.repeat(np.asarray(scales, dtype=np.float32)[:, None], 3, axis=1)
            channel(chunk_nodes[-1], "scale", b.accessor(np.asarray(keys, dtype=np.float32), "SCALAR", minmax=True),
                    b.accessor(sc, "VEC3"), "STEP")
    if len(chunk_nodes) == 1:
        garment_root = chunk_nodes[0]
    else:
        nodes.append({"name": "garment", "children": chunk_nodes})
        garment_root = len(nodes) - 1

    meta = json_safe({k: v for k, v in dict(seq.meta).items() if k != "garment_uv"})
    gltf = {
        "asset": {
            "version": "2.0",
            "generator": "drape export_glb",
            "extras": {
                "drape_format": GLB_FORMAT,
                "drape_format_version": GLB_FORMAT_VERSION,
                "fps": float(seq.fps),
                "frame_count": F,
                "units": "metres",
                "axes": "y-up; drape z-up (x, y, z) written as (x, z, -y)",
                "morph_chunk_frames": int(morph_chunk_frames),
                "meta": meta,
            },
        },
        "scene": 0,
        "scenes": [{"name": "drape", "nodes": [0, joint_nodes[0], garment_root]}],
        "nodes": nodes,
        "meshes": meshes,
        "skins": skins,
        "materials": [
            {"name": "body", "pbrMetallicRoughness": {"baseColorFactor": list(BODY_COLOR), "metallicFactor": 0.0,
                                                      "roughnessFactor": 0.7}},
            {"name": "garment", "doubleSided": True,
             "pbrMetallicRoughness": {"baseColorFactor": list(GARMENT_COLOR), "metallicFactor": 0.0,
                                      "roughnessFactor": 0.9}},
        ],
        "animations": [{"name": "drape", "samplers": samplers, "channels": channels}],
        "accessors": b.accessors,
        "bufferViews": b.views,
        "buffers": [{"byteLength": 0}],
    }
    if len(b.data) % 4:
        b.data.extend(b"\0" * (4 - len(b.data) % 4))
    gltf["buffers"][0]["byteLength"] = len(b.data)
    blob = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 4)
    total = 12 + 8 + len(blob) + 8 + len(b.data)
    if total > _GLB_LIMIT:
        raise DrapeError(f"export_glb: the file would be {total} bytes, over the 4 GiB GLB limit; export fewer frames")

    # ---- skinning error of the written (truncated) weights against the sequence
    err = 0.0
    rest64 = body.rest_verts.astype(np.float64)
    for f in range(F):
        Tj = T[f][joints]  # (V, k, 4, 4)
        blended = np.einsum("vk,vkab->vab", weights.astype(np.float64), Tj[:, :, :3, :])
        skinned = np.einsum("vab,vb->va", blended[:, :, :3], rest64) + blended[:, :, 3]
        err = max(err, float(np.linalg.norm(skinned - seq.body_verts[f], axis=1).max()))

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<4sII", b"glTF", 2, total))
        fh.write(struct.pack("<I4s", len(blob), b"JSON"))
        fh.write(blob)
        fh.write(struct.pack("<I4s", len(b.data), b"BIN\0"))
        fh.write(b.data)
    os.replace(tmp, path)
    return GlbExport(path=path, byte_count=total, frame_count=F, garment_chunks=len(starts), body_skin_max_error=err)


def read_glb(path) -> tuple[dict, bytes]:
    """Parse a GLB container: returns ``(gltf JSON dict, BIN chunk bytes)``.

    Checks the header, chunk types and lengths, and (for files written by
    :func:`export_glb`) the drape format name and version.
    """
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 20:
        raise DrapeError(f"{path}: too short for a GLB file ({len(data)} bytes)")
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    if magic != b"glTF" or version != 2:
        raise DrapeError(f"{path}: expected a GLB 2 header (magic 'glTF', version 2), got {magic!r} version {version}")
    if length != len(data):
        raise DrapeError(f"{path}: header says {length} bytes but the file has {len(data)}")
    jlen, jtype = struct.unpack_from("<I4s", data, 12)
    if jtype != b"JSON":
        raise DrapeError(f"{path}: expected the first chunk to be JSON, got {jtype!r}")
    gltf = json.loads(data[20 : 20 + jlen].decode("utf-8"))
    binary = b""
    off = 20 + jlen
    if off < len(data):
        blen, btype = struct.unpack_from("<I4s", data, off)
        if btype != b"BIN\0":
            raise DrapeError(f"{path}: expected a BIN chunk at byte {off}, got {btype!r}")
        binary = data[off + 8 : off + 8 + blen]
    extras = gltf.get("asset", {}).get("extras", {})
    if "drape_format" in extras:
        if extras["drape_format"] != GLB_FORMAT or extras.get("drape_format_version") != GLB_FORMAT_VERSION:
            raise DrapeError(
                f"{path}: expected format {GLB_FORMAT} version {GLB_FORMAT_VERSION}, got "
                f"{extras['drape_format']} version {extras.get('drape_format_version')}"
            )
    return gltf, binary
