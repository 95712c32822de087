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
