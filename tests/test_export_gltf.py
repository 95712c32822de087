"""GLB export: structure, a numpy evaluation of the glTF skin and morph animation, real loaders."""

import json
import shutil
import subprocess
import struct
from pathlib import Path

import numpy as np
import pytest

from drape.export._common import Z_UP_TO_Y_UP
from drape.types import DrapeError

REPO = Path(__file__).resolve().parents[1]
VALIDATOR = REPO / ".cache" / "gltf-validator" / "node_modules" / "gltf-validator"
FRAMES = 7


@pytest.fixture(scope="module")
def seq(body):
    from drape.export.sample import synthetic_sequence

    return synthetic_sequence(body, frame_count=FRAMES, fps=24.0, garment_rings=6, garment_segments=20)


@pytest.fixture(scope="module")
def glb8(seq, body, tmp_path_factory):
    from drape.export.gltf import export_glb

    path = tmp_path_factory.mktemp("glb") / "avatar8.glb"
    return export_glb(path, seq, body, garment_uv=seq.meta["garment_uv"], max_influences=8, morph_chunk_frames=3)


@pytest.fixture(scope="module")
def glb4(seq, body, tmp_path_factory):
    from drape.export.gltf import export_glb

    path = tmp_path_factory.mktemp("glb") / "avatar4.glb"
    return export_glb(path, seq, body)


# ---------------------------------------------------------------- a glTF evaluator written from the spec
_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_NCOMP = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def _load(path):
    import pygltflib

    g = pygltflib.GLTF2().load_binary(str(path))
    return g, g.binary_blob()


def _acc(g, blob, index):
    a = g.accessors[index]
    v = g.bufferViews[a.bufferView]
    n = _NCOMP[a.type]
    dt = np.dtype(_DTYPES[a.componentType])
    assert v.byteStride in (None, 0, n * dt.itemsize)
    start = (v.byteOffset or 0) + (a.byteOffset or 0)
    arr = np.frombuffer(blob, dtype=dt, count=a.count * n, offset=start).reshape(a.count, n)
    return arr.astype(np.float64) if n > 1 else arr[:, 0].astype(np.float64)


def _quat_matrix(q):
    x, y, z, w = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _sample(times, values, interpolation, t, path):
    if t <= times[0]:
        return values[0]
    if t >= times[-1]:
        return values[-1]
    i = int(np.searchsorted(times, t, side="right")) - 1
    if interpolation == "STEP" or times[i] == t:
        return values[i]
    u = (t - times[i]) / (times[i + 1] - times[i])
    a, b = values[i], values[i + 1]
    if path == "rotation":  # slerp
        d = np.dot(a, b)
        if d < 0:
            b, d = -b, -d
        th = np.arccos(min(d, 1.0))
        if th < 1e-9:
            return a
        return (np.sin((1 - u) * th) * a + np.sin(u * th) * b) / np.sin(th)
    return (1 - u) * a + u * b


def evaluate(path, t):
    """Evaluate a GLB at time t: returns {mesh node name: (V, 3) world positions} and node scales."""
    g, blob = _load(path)
    trs = {}
    for i, n in enumerate(g.nodes):
        trs[i] = {
            "translation": np.array(n.translation or [0, 0, 0], float),
            "rotation": np.array(n.rotation or [0, 0, 0, 1], float),
            "scale": np.array(n.scale or [1, 1, 1], float),
            "weights": None,
        }
    for anim in g.animations:
        for ch in anim.channels:
            s = anim.samplers[ch.sampler]
            times = _acc(g, blob, s.input)
            out = _acc(g, blob, s.output)
            if ch.target.path == "weights":
                out = out.reshape(len(times), -1)
            trs[ch.target.node][ch.target.path] = _sample(times, out, s.interpolation, t, ch.target.path)
    local = {}
    for i, n in enumerate(g.nodes):
        assert n.matrix is None
        m = np.eye(4)
        m[:3, :3] = _quat_matrix(trs[i]["rotation"]) * trs[i]["scale"][None]
        m[:3, 3] = trs[i]["translation"]
        local[i] = m
    world = {}

    def visit(i, parent):
        world[i] = parent @ local[i]
        for c in g.nodes[i].children or []:
            visit(c, world[i])

    for r in g.scenes[g.scene].nodes:
        visit(r, np.eye(4))
    result = {}
    for i, n in enumerate(g.nodes):
        if n.mesh is None:
            continue
        prim = g.meshes[n.mesh].primitives[0]
        attrs = prim.attributes
        pos = _acc(g, blob, attrs.POSITION)
        if prim.targets:
            w = trs[i]["weights"] if trs[i]["weights"] is not None else np.asarray(g.meshes[n.mesh].weights, float)
            for wk, tgt in zip(w, prim.targets):
                if wk:
                    pos = pos + wk * _acc(g, blob, tgt["POSITION"])
        hom = np.concatenate([pos, np.ones((len(pos), 1))], 1)
        if n.skin is not None:
            skin = g.skins[n.skin]
            ibm = _acc(g, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major
            jm = np.stack([world[j] for j in skin.joints]) @ ibm
            out = np.zeros_like(pos)
            s = 0
            while getattr(attrs, f"JOINTS_{s}", None) is not None:
                joints = _acc(g, blob, getattr(attrs, f"JOINTS_{s}")).astype(int)
                weights = _acc(g, blob, getattr(attrs, f"WEIGHTS_{s}"))
                for k in range(4):
                    out += weights[:, k : k + 1] * np.einsum("vab,vb->va", jm[joints[:, k]], hom)[:, :3]
                s += 1
            result[n.name] = out
        else:
            result[n.name] = (hom @ world[i].T)[:, :3]
        result[n.name + ".scale"] = np.abs(np.linalg.det(world[i][:3, :3]))
    return result


def _yup(points):
    return np.asarray(points, dtype=np.float64) @ Z_UP_TO_Y_UP.T


# ---------------------------------------------------------------- tests
def test_skin_with_8_influences_reproduces_body_verts(seq, glb8):
    assert glb8.body_skin_max_error < 1e-5
    for f in range(FRAMES):
        got = evaluate(glb8.path, f / seq.fps)["body"]
        assert np.abs(got - _yup(seq.body_verts[f])).max() < 1e-4, f"frame {f}"


def test_skin_with_4_influences_is_close(seq, glb4):
    worst = 0.0
    for f in (0, FRAMES // 2, FRAMES - 1):
        d = np.linalg.norm(evaluate(glb4.path, f / seq.fps)["body"] - _yup(seq.body_verts[f]), axis=1)
        assert np.mean(d) < 1e-4  # mean 0.1 mm: truncation matters only near joints
        worst = max(worst, d.max())
    # anny vertices have up to 7 bones; keeping 4 costs a few mm at worst on this swing.
    assert worst < 6e-3
    assert worst <= glb4.body_skin_max_error + 1e-5


def test_garment_morph_animation_reproduces_frames(seq, glb8):
    from drape.export._common import garment_uv_layout

    src, _, _ = garment_uv_layout(seq.meta["garment_uv"], seq.garment_faces, seq.garment_verts.shape[1], "t")
    assert glb8.garment_chunks == 3  # 7 frames in chunks of 3
    for f in range(FRAMES):
        res = evaluate(glb8.path, f / seq.fps)
        visible = [k[:-6] for k, v in res.items() if k.startswith("garment_") and k.endswith(".scale") and v > 0.5]
        assert visible == [f"garment_{f // 3:03d}"], f"frame {f}: visible {visible}"
        np.testing.assert_allclose(res[visible[0]], _yup(seq.garment_verts[f][src]), atol=2e-6)
    # Between frames the garment shows the nearest frame (STEP keys switch half a frame early).
    for t, f in ((2.4, 2), (2.6, 3), (5.6, 6)):
        res = evaluate(glb8.path, t / seq.fps)
        np.testing.assert_allclose(res[f"garment_{f // 3:03d}"], _yup(seq.garment_verts[f][src]), atol=2e-6)


def test_single_chunk_garment_and_defaults(seq, glb4):
    res = evaluate(glb4.path, (FRAMES - 1) / seq.fps)
    np.testing.assert_allclose(res["garment"], _yup(seq.garment_verts[-1]), atol=2e-6)
    assert glb4.garment_chunks == 1


def test_units_axes_fps_and_metadata(seq, glb4, body):
    from drape.export.gltf import GLB_FORMAT, read_glb

    gltf, binary = read_glb(glb4.path)
    extras = gltf["asset"]["extras"]
    assert extras["drape_format"] == GLB_FORMAT and extras["fps"] == 24.0 and extras["frame_count"] == FRAMES
    assert extras["meta"]["garment"] == "hip_cylinder" and "garment_uv" not in extras["meta"]
    res = evaluate(glb4.path, 0.0)
    body_y = res["body"]
    # y-up, metres: height along +y, soles near y = 0 in the rest A-pose region.
    assert 1.4 < np.ptp(body_y[:, 1]) < 2.0
    g, blob = _load(glb4.path)
    times = _acc(g, blob, g.animations[0].samplers[0].input)
    np.testing.assert_allclose(times, np.arange(FRAMES) / 24.0, rtol=1e-6)
    # The body faces +z: toes are in front of (greater z than) the ankles.
    names = [n.name for n in g.nodes]
    rest_pos = _acc(g, blob, g.meshes[0].primitives[0].attributes.POSITION)
    heads = _yup(body.rest_bone_heads)
    assert heads[body.bone_index("LeftToeBase"), 2] > heads[body.bone_index("LeftFoot"), 2]
    assert rest_pos[:, 1].min() == pytest.approx(0.0, abs=1e-5)
    assert len(names) == 1 + 31 + 1 and names[1] == "Hips"


def test_structural_rules(glb8):
    data = glb8.path.read_bytes()
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version, length) == (b"glTF", 2, len(data)) and len(data) % 4 == 0
    jlen, jtype = struct.unpack_from("<I4s", data, 12)
    assert jtype == b"JSON" and jlen % 4 == 0
    gltf = json.loads(data[20 : 20 + jlen])
    blen, btype = struct.unpack_from("<I4s", data, 20 + jlen)
    assert btype == b"BIN\0" and blen % 4 == 0 and gltf["buffers"][0]["byteLength"] == blen
    blob = data[28 + jlen : 28 + jlen + blen]
    for v in gltf["bufferViews"]:
        assert v["byteOffset"] % 4 == 0 and v["byteOffset"] + v["byteLength"] <= blen
    sizes = {5121: 1, 5123: 2, 5125: 4, 5126: 4}
    for a in gltf["accessors"]:
        v = gltf["bufferViews"][a["bufferView"]]
        assert a.get("byteOffset", 0) + a["count"] * _NCOMP[a["type"]] * sizes[a["componentType"]] <= v["byteLength"]
    position_accessors = []
    for m in gltf["meshes"]:
        for p in m["primitives"]:
            position_accessors.append(p["attributes"]["POSITION"])
            position_accessors += [t["POSITION"] for t in p.get("targets", [])]
            counts = {gltf["accessors"][i]["count"] for i in p["attributes"].values()}
            counts |= {gltf["accessors"][i]["count"] for t in p.get("targets", []) for i in t.values()}
            assert len(counts) == 1
    for i in position_accessors:
        a = gltf["accessors"][i]
        v = gltf["bufferViews"][a["bufferView"]]
        arr = np.frombuffer(blob, np.float32, a["count"] * 3, v["byteOffset"]).reshape(-1, 3)
        assert a["min"] == arr.min(0).tolist() and a["max"] == arr.max(0).tolist()


def test_trimesh_loads_it(seq, glb8, glb4):
    import trimesh

    scene = trimesh.load(str(glb4.path), force="scene")
    counts = sorted(len(gm.vertices) for gm in scene.geometry.values())
    assert counts == sorted([seq.body_verts.shape[1], seq.garment_verts.shape[1]])
    scene8 = trimesh.load(str(glb8.path), force="scene")
    assert len(scene8.geometry) == 1 + glb8.garment_chunks


def test_pygltflib_counts(seq, glb8):
    g, blob = _load(glb8.path)
    assert len(g.skins[0].joints) == 31 and len(g.animations) == 1
    body_prim = g.meshes[0].primitives[0]
    assert body_prim.attributes.JOINTS_1 is not None
    w = np.concatenate([_acc(g, blob, body_prim.attributes.WEIGHTS_0), _acc(g, blob, body_prim.attributes.WEIGHTS_1)], 1)
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    targets = sum(len(m.primitives[0].targets or []) for m in g.meshes[1:])
    assert targets == FRAMES - glb8.garment_chunks  # each chunk's first frame is its base mesh
    uv = _acc(g, blob, g.meshes[1].primitives[0].attributes.TEXCOORD_0)
    np.testing.assert_allclose(uv[:, 1], 1.0 - seq.meta["garment_uv"][:, 1], atol=1e-7)  # top-left origin


def test_per_corner_uv_splits_seams(seq, body, tmp_path):
    from drape.export.gltf import export_glb

    faces = seq.garment_faces
    corner = seq.meta["garment_uv"][faces].copy()  # (T, 3, 2)
    corner[: len(faces) // 2, :, 0] += 0.5  # a seam: half the faces use a shifted atlas
    res = export_glb(tmp_path / "seam.glb", seq, body, garment_uv=corner, garment_normals=False)
    out = evaluate(res.path, 2 / seq.fps)["garment"]
    g, blob = _load(res.path)
    idx = _acc(g, blob, g.meshes[1].primitives[0].indices).astype(int).reshape(-1, 3)
    assert len(out) > seq.garment_verts.shape[1]
    np.testing.assert_allclose(out[idx], _yup(seq.garment_verts[2][faces]), atol=2e-6)


def test_rejects_wrong_body_and_options(seq, body, proxy_body, tmp_path):
    from drape.export.gltf import export_glb

    with pytest.raises(DrapeError, match="vertices but seq.body_verts has"):
        export_glb(tmp_path / "a.glb", seq, proxy_body)
    with pytest.raises(DrapeError, match="max_influences must be 4 or 8"):
        export_glb(tmp_path / "a.glb", seq, body, max_influences=5)
    with pytest.raises(DrapeError, match=r"garment_uv: expected \(120, 2\)"):
        export_glb(tmp_path / "a.glb", seq, body, garment_uv=np.zeros((3, 2)))
    from dataclasses import replace

    moved = replace(seq, body_verts=seq.body_verts + np.float32(0.05))
    with pytest.raises(DrapeError, match="misses seq.body_verts by 50.0 mm"):
        export_glb(tmp_path / "a.glb", moved, body)
    assert not (tmp_path / "a.glb").exists()


def test_read_glb_checks_format(glb4, tmp_path):
    from drape.export.gltf import read_glb

    bad = tmp_path / "bad.glb"
    bad.write_bytes(b"nope" + glb4.path.read_bytes()[4:])
    with pytest.raises(DrapeError, match="expected a GLB 2 header"):
        read_glb(bad)


@pytest.mark.skipif(shutil.which("node") is None or not VALIDATOR.is_dir(), reason="Khronos gltf-validator not installed")
def test_khronos_validator_reports_no_errors(glb4, glb8):
    script = (
        "const fs=require('fs');const v=require(process.argv[1]);"
        "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[2])),{maxIssues:100})"
        ".then(r=>console.log(JSON.stringify(r.issues))).catch(e=>{console.error(e);process.exit(1);});"
    )
    for path in (glb4.path, glb8.path):
        out = subprocess.run(["node", "-e", script, str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        issues = json.loads(out.stdout)
        assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"]
