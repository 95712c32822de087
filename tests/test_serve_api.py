"""drape serve: a real uvicorn server on a free loopback port (in a thread) with the tiny tube model.

/v1/step equals model.step on the same input (JSON, world rotations posed server-side, npz);
4xx on bad shapes, NaN, unknown models, oversized uploads, malformed BVH and path tricks;
animation jobs complete, survive the client going away, and their GLB downloads.
"""

import io
import json
import shutil
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

UPLOAD_LIMIT = 256 * 1024
SHARED_BVH = Path(__file__).resolve().parents[2] / "shared" / "motions" / "cmu" / "12_01.bvh"


@pytest.fixture(scope="module")
def server(tiny_tube_model, tmp_path_factory):
    import uvicorn

    from drape.serve.app import ServeConfig, create_app

    root = tmp_path_factory.mktemp("serve")
    models = root / "models"
    models.mkdir()
    shutil.copy(tiny_tube_model, models / "tube.npz")
    cfg = ServeConfig(jobs_dir=str(root / "jobs"), models_dir=str(models), job_mode="thread", max_upload_bytes=UPLOAD_LIMIT)
    app = create_app(cfg, loopback_only=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    yield SimpleNamespace(url=f"http://127.0.0.1:{port}", root=root, app=app)
    srv.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def step_case(tiny_tube_model):
    """A model input: LBS history of 3 swing frames and the skeleton of 4 frames, plus model.step's answer."""
    from drape.body import Body
    from drape.eval.metrics import lbs_baseline
    from drape.model.dynamics import GarmentDynamicsModel
    from drape.sim.inputs import resolve_motion
    from drape.types import GarmentState, SkeletonState

    model = GarmentDynamicsModel.load(tiny_tube_model)
    motion = resolve_motion("swing", frames=8)
    posed = Body().pose_motion(motion)
    T = posed.skeleton.bone_transforms[2:6]
    hist = lbs_baseline(model.reference, T[:3]) + np.float32(0.002) * np.sin(np.arange(3 * 396 * 3, dtype=np.float32)).reshape(3, 396, 3)
    expected = model.step(tuple(GarmentState(h, np.zeros_like(h)) for h in hist),
                          SkeletonState(np.zeros((4, 31, 3), np.float32), T[:, :, :3, :3], T))
    return SimpleNamespace(hist=hist.astype(np.float32), T=T, rot=motion.world_rotations[2:6], root=posed.root_translation[2:6],
                           expected=expected)


def test_health_models_and_openapi(server):
    with httpx.Client(base_url=server.url) as c:
        h = c.get("/v1/health").json()
        assert h["status"] == "ok" and "tube" in h["models"] and h["jobs"] == {"queued": 0, "running": 0}
        models = {m["id"]: m for m in c.get("/v1/models").json()}
        assert models["tube"]["vert_count"] == 396 and models["tube"]["window"] == 2 and models["tube"]["bone_count"] == 31
        spec = c.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("StepRequest", "StepResponse", "JobAccepted", "JobStatus", "Health", "ModelInfo"):
        assert name in schemas, name
    assert "history" in schemas["StepRequest"]["properties"] and "verts" in schemas["StepResponse"]["properties"]
    body = spec["paths"]["/v1/animate"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    assert "garment" in body["application/json"]["schema"]["properties"]
    assert body["multipart/form-data"]["schema"]["properties"]["bvh"]["format"] == "binary"


def test_step_json_round_trip_equals_model_step(server, step_case):
    with httpx.Client(base_url=server.url) as c:
        r = c.post("/v1/step", json={"model": "tube", "history": step_case.hist.tolist(), "bone_transforms": step_case.T.tolist()})
        assert r.status_code == 200, r.text
        out = r.json()
        np.testing.assert_allclose(np.asarray(out["verts"], np.float32), step_case.expected.verts, atol=1e-6)
        np.testing.assert_allclose(np.asarray(out["velocities"], np.float32), step_case.expected.velocities, atol=1e-4)
        # The skeleton as world rotations + root positions, posed on the model's body by the server.
        r = c.post("/v1/step", json={"model": "tube", "history": step_case.hist.tolist(), "world_rotations": step_case.rot.tolist(),
                                     "root_translation": step_case.root.tolist(), "body_shape": {"height": 0.5}})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(np.asarray(r.json()["verts"], np.float32), step_case.expected.verts, atol=1e-5)
        # npz in, npz out.
        buf = io.BytesIO()
        np.savez(buf, history=step_case.hist, bone_transforms=step_case.T)
        r = c.post("/v1/step.npz", params={"model": "tube"}, content=buf.getvalue())
        assert r.status_code == 200, r.text
        with np.load(io.BytesIO(r.content), allow_pickle=False) as z:
            np.testing.assert_allclose(z["verts"], step_case.expected.verts, atol=1e-6)


def test_step_rejects_bad_input(server, step_case):
    hist, T = step_case.hist.tolist(), step_case.T.tolist()
    with httpx.Client(base_url=server.url) as c:
        def post(**body):
            return c.post("/v1/step", json={"model": "tube", **body})

        r = post(history=hist[:2], bone_transforms=T)
        assert r.status_code == 422 and "history: expected shape (3, 396, 3), got (2, 396, 3)" in r.json()["detail"]
        r = post(history=hist, bone_transforms=T[:3])
        assert r.status_code == 422 and "bone_transforms" in r.json()["detail"]
        r = post(history=[[[0.0, 0.0]]], bone_transforms=T)
        assert r.status_code == 422
        r = post(history=hist, bone_transforms=T, world_rotations=step_case.rot.tolist(), root_translation=step_case.root.tolist())
        assert r.status_code == 422 and "not both" in r.json()["detail"]
        r = post(history=hist)
        assert r.status_code == 422 and "missing skeleton" in r.json()["detail"]
        r = post(history=hist, world_rotations=step_case.rot.tolist(), root_translation=step_case.root.tolist(),
                 body_shape={"height": 0.9})
        assert r.status_code == 422 and "differs from the body" in r.json()["detail"]
        # NaN (JSON has no NaN; Python clients and JavaScript's JSON.parse-less writers send the bare token).
        text = json.dumps({"model": "tube", "history": hist, "bone_transforms": T})
        text = text.replace(str(hist[1][5][2]), "NaN", 1)
        r = c.post("/v1/step", content=text, headers={"content-type": "application/json"})
        assert r.status_code == 422 and "NaN" in r.json()["detail"]
        r = c.post("/v1/step", json={"model": "nosuch", "history": hist, "bone_transforms": T})
        assert r.status_code == 404 and "unknown model 'nosuch'; known models:" in r.json()["detail"]
        assert "tube" in r.json()["detail"]
        r = c.post("/v1/step", json={"model": "../tube", "history": hist, "bone_transforms": T})
        assert r.status_code == 404
        r = c.post("/v1/step", content=b"{not json", headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500
        r = c.post("/v1/step.npz", params={"model": "tube"}, content=b"PK-not-a-zip")
        assert r.status_code == 400 and ".npz" in r.json()["detail"]
        # A request from a page on another host name (DNS rebinding) is refused.
        r = c.get("/v1/health", headers={"host": "evil.example:80"})
        assert r.status_code == 403


def _wait(job_id, url, timeout=90):
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url) as c:
        while True:
            st = c.get(f"/v1/jobs/{job_id}").json()
            assert 0.0 <= st["progress"] <= 1.0
            if st["status"] in ("done", "failed") or time.monotonic() > deadline:
                return st
            time.sleep(0.1)


def test_animate_job_survives_client_disconnect_and_glb_downloads(server, tmp_path):
    from drape.export import read_glb

    c = httpx.Client(base_url=server.url)
    r = c.post("/v1/animate", json={"garment": "tube", "motion": "swing", "model": "tube", "frames": 6, "init": "rest"})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    assert len(job_id) == 32 and r.json()["status_url"] == f"/v1/jobs/{job_id}"
    c.close()  # the client goes away; the job goes on
    st = _wait(job_id, server.url)
    assert st["status"] == "done", st
    assert st["progress"] == 1.0 and st["error"] is None and st["report"]["frames"] == 6
    assert st["result"]["avatar.glb"] == f"/v1/jobs/{job_id}/avatar.glb"
    with httpx.Client(base_url=server.url) as c2:
        r = c2.get(st["result"]["avatar.glb"])
        assert r.status_code == 200 and r.headers["content-type"] == "model/gltf-binary"
        (tmp_path / "a.glb").write_bytes(r.content)
        gltf, _ = read_glb(tmp_path / "a.glb")
        assert "body" in {m["name"] for m in gltf["meshes"]}
        assert c2.get(st["result"]["preview.gif"]).content[:6] in (b"GIF89a", b"GIF87a")
        assert c2.get(st["result"]["report.json"]).json()["garment"] == "tube"
    job_dir = server.root / "jobs" / job_id
    assert sorted(p.name for p in (job_dir / "result").iterdir()) == ["avatar.glb", "preview.gif", "report.json"]
    assert not list(job_dir.glob(".result-tmp-*"))


@pytest.mark.skipif(not SHARED_BVH.is_file(), reason=f"{SHARED_BVH} is absent")
def test_animate_job_from_a_bvh_upload(server):
    with httpx.Client(base_url=server.url) as c:
        r = c.post("/v1/animate", data={"garment": "tube", "model": "tube", "frames": "5", "init": "rest"},
                   files={"bvh": ("12_01.bvh", SHARED_BVH.read_bytes(), "text/plain")})
        assert r.status_code == 202, r.text
    st = _wait(r.json()["job_id"], server.url)
    assert st["status"] == "done", st
    assert st["report"]["motion_source"].endswith("motion.bvh") and st["report"]["frames"] == 5


def test_failed_job_reports_the_error_and_has_no_files(server, monkeypatch):
    import drape.animate

    def boom(**kw):
        raise drape.animate.AnimateError("the model produced NaN (test)")

    monkeypatch.setattr(drape.animate, "animate", boom)
    with httpx.Client(base_url=server.url) as c:
        job_id = c.post("/v1/animate", json={"garment": "tube", "motion": "swing", "frames": 6, "init": "rest"}).json()["job_id"]
        st = _wait(job_id, server.url)
        assert st["status"] == "failed" and "NaN (test)" in st["error"] and st["result"] is None
        r = c.get(f"/v1/jobs/{job_id}/avatar.glb")
        assert r.status_code == 404 and "failed" in r.json()["detail"]


def test_animate_rejects_bad_requests(server):
    with httpx.Client(base_url=server.url) as c:
        def post_json(**body):
            return c.post("/v1/animate", json={"garment": "tube", "model": "tube", "init": "rest", **body})

        assert post_json(motion="nosuchclip").status_code == 422
        r = post_json(motion="../../etc/passwd.bvh")
        assert r.status_code == 422 and "not a built-in clip" in r.json()["detail"]
        assert post_json(motion="swing", garment="gown").status_code == 422
        assert post_json(motion="swing", model="nosuch").status_code == 404
        assert post_json(motion="swing", frames=0).status_code == 422
        assert post_json(motion="swing", frames=3).status_code == 422
        assert post_json(motion="swing", unknown_field=1).status_code == 422
        r = post_json(motion="swing", body_shape={"height": 0.9})
        assert r.status_code == 422 and "differs" in r.json()["detail"]
        r = c.post("/v1/animate", data={"garment": "tube", "model": "tube"},
                   files={"bvh": ("bad.bvh", b"HIERARCHY\nROOT Hips\n{\n OFFSET 0 0\n", "text/plain")})
        assert r.status_code == 422 and r.json()["detail"].startswith("bvh:") and "line" in r.json()["detail"]
        big = b"HIERARCHY\n" + b"#" * (UPLOAD_LIMIT + 100 * 1024)
        r = c.post("/v1/animate", data={"garment": "tube", "model": "tube"}, files={"bvh": ("big.bvh", big, "text/plain")})
        assert r.status_code == 413
        r = c.post("/v1/animate", content=b"garment=tube", headers={"content-type": "text/plain"})
        assert r.status_code == 415
    assert not [d for d in (server.root / "jobs").iterdir() if not (d / "status.json").exists()]


def test_job_ids_are_checked_before_the_file_system(server):
    with httpx.Client(base_url=server.url) as c:
        for path in ("/v1/jobs/..%2F..%2Fetc%2Fpasswd", "/v1/jobs/%2e%2e", "/v1/jobs/ABCDEF0123456789ABCDEF0123456789",
                     "/v1/jobs/0123456789abcdef0123456789abcdef0", "/v1/jobs/..%2Fmodels/avatar.glb"):
            r = c.get(path)
            assert r.status_code in (400, 404), (path, r.status_code)
            assert r.status_code != 200
        r = c.get("/v1/jobs/not-a-job")
        assert r.status_code == 400 and "invalid job id" in r.json()["detail"]
        r = c.get("/v1/jobs/0123456789abcdef0123456789abcdef")
        assert r.status_code == 404
        job_id = c.post("/v1/animate", json={"garment": "tube", "motion": "swing", "frames": 4, "init": "rest"}).json()["job_id"]
        for name in ("request.json", "status.json", "..%2Frequest.json", "result", "motion.bvh"):
            r = c.get(f"/v1/jobs/{job_id}/{name}")
            assert r.status_code in (400, 404), (name, r.status_code)
    assert _wait(job_id, server.url)["status"] == "done"


def test_unfinished_jobs_are_marked_failed_on_restart(tmp_path):
    from drape.serve.app import JobManager, read_status

    jobs = JobManager(tmp_path / "jobs")
    job_id, d = jobs.create()
    (d / "status.json").write_text(json.dumps({"format": "drape-serve-job", "version": 1, "job_id": job_id, "state": "running"}))
    (d / ".result-tmp-123").mkdir()
    JobManager(tmp_path / "jobs")
    st = read_status(d)
    assert st["state"] == "failed" and "stopped" in st["error"]
    assert not (d / ".result-tmp-123").exists()
