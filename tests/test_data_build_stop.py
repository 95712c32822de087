"""A stopped dataset build (SIGTERM or Ctrl-C on the parent) ends its worker processes too."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_sigterm_on_the_build_ends_its_workers(tmp_path):
    if not Path("/proc").is_dir():
        import pytest

        pytest.skip("needs /proc")
    code = textwrap.dedent("""
        import time
        from drape.data.build import _run_pool
        print("ready", flush=True)
        _run_pool([60, 60], workers=2, task_fn=time.sleep, finished=lambda spec, r, e: False,
                  postfix=lambda: None, say=print, initializer=None, on_done=lambda: None)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.time() + 60
    workers: list[int] = []
    while time.time() < deadline:
        # the spawn context also starts a resource tracker; wait for the 2 sleeping workers besides it
        workers = [c for c in _children(proc.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]
        if len(workers) >= 2:
            break
        time.sleep(0.2)
    assert len(workers) >= 2, "the pool did not start its workers"
    time.sleep(1.0)  # let the workers pick up their tasks
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "worker processes outlived the stopped build"
