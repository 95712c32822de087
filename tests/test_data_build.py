"""Dataset builder: planning, resume, retries, index contents (cheap stand-in task, no physics)."""

import json
from pathlib import Path

import numpy as np
import pytest

from drape.data.build import (
    DatasetError,
    TaskSpec,
    build_dataset,
    dataset_status,
    expand_motions,
    parse_body_shapes,
    plan_tasks,
    read_index,
)
from drape.data.sequence import save_sequence
from drape.types import BodyShape, Sequence


def fake_task(spec: TaskSpec) -> dict:
    """Writes a tiny sequence like run_task would. Garment 'bad' always fails; 'flaky' fails on
    its first attempt; 'stop' interrupts the whole run (a kill) on its first attempt."""
    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tries = out / "tries"
    n = int(tries.read_text()) + 1 if tries.exists() else 1
    tries.write_text(str(n))
    if spec.garment == "bad":
        raise RuntimeError(f"boom {n}")
    if spec.garment == "flaky" and n == 1:
        raise RuntimeError("transient")
    if spec.garment == "stop" and n == 1:
        raise KeyboardInterrupt
    F = spec.frames or 2
    seq = Sequence(
        fps=30.0,
        body_verts=np.zeros((F, 4, 3), np.float32),
        body_faces=np.array([[0, 1, 2]], np.int32),
        garment_verts=np.zeros((F, 3, 3), np.float32),
        garment_velocities=np.zeros((F, 3, 3), np.float32),
        garment_faces=np.array([[0, 1, 2]], np.int32),
        world_rotations=np.tile(np.eye(3, dtype=np.float32), (F, 2, 1, 1)),
        root_translation=np.zeros((F, 3), np.float32),
        meta={"task_id": spec.task_id},
    )
    save_sequence(spec.sequence_path, seq)
    report = {"task_id": spec.task_id, "frames": F, "sec_per_frame": 0.01, "nan": False,
              "penetration_pct": 0.0, "penetration_pct_max": 0.0, "stretch_p99": 1.0}
    spec.report_path.write_text(json.dumps(report))
    return {"task_id": spec.task_id, "report": report}


def plan(tmp_path, garments, motions=("walk",), shapes=(BodyShape(),), frames=2):
    return plan_tasks(tmp_path / "ds", garments, motions, shapes, frames=frames, sim_config={"fps": 30.0})


def build(tmp_path, tasks, **kw):
    kw.setdefault("workers", 0)
    return build_dataset(tmp_path / "ds", tasks, task_fn=fake_task, progress=False, log=None, **kw)


def statuses(tmp_path):
    return {tid: s["status"] for tid, s in dataset_status(tmp_path / "ds")["tasks"].items()}


def test_plan_ids_and_specs(tmp_path):
    shapes = parse_body_shapes("default;gender=0.2,height=0.7")
    assert shapes == [BodyShape(), BodyShape.parse("gender=0.2,height=0.7")]
    tasks = plan_tasks(tmp_path, ["tshirt", "skirt"], ["walk", "/x/12_01.bvh"], shapes, frames=30, vert_count=500)
    assert len(tasks) == 8
    ids = [t.task_id for t in tasks]
    assert ids[0] == "tshirt__walk__avg__v500__f30"
    assert ids[3] == "skirt__walk__ge0.20-he0.70__v500__f30"  # motion-major order
    assert "tshirt__12-01__ge0.20-he0.70__v500__f30" in ids
    t = tasks[3]
    assert BodyShape.parse(t.body_shape) == shapes[1]
    assert TaskSpec.from_dict(json.loads(json.dumps(t.to_dict()))) == t  # plain data round trip
    assert Path(t.out_dir) == (tmp_path / "seq" / t.task_id).resolve()
    # Segments of one clip get their own ids.
    segs = plan_tasks(tmp_path, ["tshirt"], ["/x/19_10.bvh", "/x/19_10.bvh@3", "walk@0.5"], [BodyShape()], frames=90)
    assert [t.task_id for t in segs] == ["tshirt__19-10__avg__f90", "tshirt__19-10-at3s__avg__f90", "tshirt__walk-at0.5s__avg__f90"]


def test_expand_motions(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "b.bvh").write_text("")
    (tmp_path / "m" / "a.bvh").write_text("")
    (tmp_path / "m" / "INDEX.tsv").write_text("")
    got = expand_motions(["walk", str(tmp_path / "m"), str(tmp_path / "m" / "a.bvh")])
    assert got == ["walk", str((tmp_path / "m" / "a.bvh").resolve()), str((tmp_path / "m" / "b.bvh").resolve())]
    with pytest.raises(DatasetError, match="not found"):
        expand_motions([str(tmp_path / "nope.bvh")])
    seg = expand_motions([str(tmp_path / "m" / "a.bvh") + "@3", "walk@1.5s"])
    assert seg == [str((tmp_path / "m" / "a.bvh").resolve()) + "@3", "walk@1.5"]
    with pytest.raises(DatasetError, match="not found"):
        expand_motions([str(tmp_path / "nope.bvh@3")])
    with pytest.raises(DatasetError, match="folder"):
        expand_motions([str(tmp_path / "m") + "@3"])
    with pytest.raises(DatasetError, match="no .bvh files"):
        (tmp_path / "empty").mkdir()
        expand_motions([str(tmp_path / "empty")])


def test_build_then_resume_skips_done(tmp_path):
    tasks = plan(tmp_path, ["tshirt", "skirt"])
    s = build(tmp_path, tasks)
    assert (s.done, s.skipped, s.failed) == (2, 0, [])
    recs = read_index(tmp_path / "ds")
    assert [r["status"] for r in recs] == ["done", "done"]
    assert recs[0]["report"]["stretch_p99"] == 1.0 and recs[0]["sequence"].startswith("seq/")
    s2 = build(tmp_path, tasks)
    assert (s2.done, s2.skipped, s2.attempts) == (0, 2, 0)
    assert len(read_index(tmp_path / "ds")) == 2
    # A done task whose file vanished is run again.
    tasks[0].sequence_path.unlink()
    assert statuses(tmp_path)[tasks[0].task_id] == "pending"
    s3 = build(tmp_path, tasks)
    assert (s3.done, s3.skipped) == (1, 1)


def test_retries_and_failures_recorded(tmp_path):
    tasks = plan(tmp_path, ["flaky", "bad", "tshirt"])
    s = build(tmp_path, tasks, retries=2)
    assert s.done == 2 and s.failed == [tasks[1].task_id] and not s.ok
    recs = read_index(tmp_path / "ds")
    bad = [r for r in recs if r["task_id"] == tasks[1].task_id]
    assert [r["attempt"] for r in bad] == [1, 2, 3] and all(r["status"] == "failed" for r in bad)
    assert bad[-1]["error"] == "RuntimeError: boom 3" and "fake_task" in bad[-1]["traceback"]
    flaky = [r["status"] for r in recs if r["task_id"] == tasks[0].task_id]
    assert flaky == ["failed", "done"]
    st = dataset_status(tmp_path / "ds")
    assert (st["done"], st["failed"], st["pending"]) == (2, 1, 0)
    assert st["tasks"][tasks[1].task_id]["attempts"] == 3
    # Restart: the failed task is retried (never dropped), attempts keep counting.
    s2 = build(tmp_path, tasks, retries=0)
    assert (s2.skipped, s2.attempts, s2.failed) == (2, 1, [tasks[1].task_id])
    assert read_index(tmp_path / "ds")[-1]["attempt"] == 4


def test_killed_run_resumes(tmp_path):
    tasks = plan(tmp_path, ["tshirt", "stop", "skirt"])
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path, tasks)
    assert statuses(tmp_path) == {tasks[0].task_id: "done", tasks[1].task_id: "pending", tasks[2].task_id: "pending"}
    s = build(tmp_path, tasks)
    assert (s.skipped, s.done, s.failed) == (1, 2, [])
    assert all(v == "done" for v in statuses(tmp_path).values())


def test_finished_files_without_index_line_are_adopted(tmp_path):
    tasks = plan(tmp_path, ["tshirt"])
    fake_task(tasks[0])  # killed after writing the files, before the index line
    (tmp_path / "ds").mkdir(exist_ok=True)
    with open(tmp_path / "ds" / "index.jsonl", "w") as fh:
        fh.write('{"task_id": "x", "sta')  # and a torn line
    s = build(tmp_path, tasks)
    assert (s.recovered, s.done, s.attempts) == (1, 0, 0)
    recs = read_index(tmp_path / "ds")
    assert recs[-1]["recovered"] is True and recs[-1]["status"] == "done"
    # Appending after a torn line starts a fresh line.
    lines = (tmp_path / "ds" / "index.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["task_id"] == tasks[0].task_id


def test_other_sim_settings_refused(tmp_path):
    build(tmp_path, plan(tmp_path, ["tshirt"]))
    other = plan_tasks(tmp_path / "ds", ["tshirt"], ["walk"], [BodyShape()], frames=2, sim_config={"fps": 60.0})
    with pytest.raises(DatasetError, match="other simulation settings.*fps"):
        build(tmp_path, other)


def test_process_pool(tmp_path):
    tasks = plan(tmp_path, ["tshirt", "flaky", "skirt"])
    s = build(tmp_path, tasks, workers=2, retries=1)
    assert (s.done, s.failed) == (3, [])
    assert all(v == "done" for v in statuses(tmp_path).values())


def test_status_cli(tmp_path, capsys):
    from drape.cli.main import main

    build(tmp_path, plan(tmp_path, ["tshirt", "bad"]), retries=0)
    assert main(["dataset", "status", str(tmp_path / "ds")]) == 0
    out = capsys.readouterr().out
    assert "2 tasks: 1 done, 1 failed, 0 pending" in out and "RuntimeError: boom 1" in out
    assert main(["dataset", "status", str(tmp_path / "nope")]) == 2
    assert "not a dataset folder" in capsys.readouterr().err
