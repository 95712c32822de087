import numpy as np
import pytest

from drape.threads import blas_threads


def test_blas_threads_limits_and_restores():
    from threadpoolctl import threadpool_info

    np.ones((4, 4)) @ np.ones((4, 4))  # make sure numpy's BLAS is loaded
    before = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
    with blas_threads(1):
        inside = [p["num_threads"] for p in threadpool_info() if p["user_api"] in ("blas", "openmp")]
        assert inside and all(n == 1 for n in inside)
    assert {p["filepath"]: p["num_threads"] for p in threadpool_info()} == before
    with blas_threads(None):
        pass
    with pytest.raises(ValueError, match="positive thread count"):
        with blas_threads(0):
            pass
