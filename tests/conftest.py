import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def pytest_configure(config):
    # One cache directory for anny rig builds and Warp kernels across the whole run.
    os.environ.setdefault("DRAPE_CACHE_DIR", str(REPO / ".cache"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} is absent")
    return SHARED


@pytest.fixture(scope="session")
def body():
    from drape.body import Body

    return Body()


@pytest.fixture(scope="session")
def proxy_body():
    from drape.body import PROXY_TOPOLOGY, Body

    return Body(topology=PROXY_TOPOLOGY)


@pytest.fixture(scope="session")
def tiny_tube_model(tmp_path_factory) -> Path:
    """A tiny real garment-dynamics model (tube skirt, 396 vertices) trained for 5 steps on a 4-frame
    simulated swing: ``drape dataset build`` then ``drape train`` (about 20 s, once per session)."""
    pytest.importorskip("torch")
    from drape.cli.main import main

    root = tmp_path_factory.mktemp("tiny_tube")
    ds = root / "ds"
    assert main(["dataset", "build", "--garments", "tube", "--motions", "swing", "--frames", "4", "--settle-frames", "2",
                 "--blend-frames", "1", "--vert-count", "400", "--workers", "0", "--preview-frames", "0",
                 "--no-progress", "--out", str(ds)]) == 0
    out = root / "tube.npz"
    assert main(["train", "--data", str(ds), "--garment", "tube", "--steps", "5", "--batch-size", "2", "--unroll", "1",
                 "--image-size", "32", "--widths", "16,32", "--film-hidden", "32", "--out", str(out),
                 "--no-progress"]) == 0
    return out
