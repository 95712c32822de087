"""CPU thread limits for inference: numpy's BLAS (OpenBLAS/MKL) and OpenMP pools.

The per-step linear algebra (skinning, contact) is small; on a machine whose cores are busy,
a multi-threaded BLAS spends more time waking threads than computing. ``blas_threads(n)``
limits the pools for a block of code and restores them afterwards.
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def blas_threads(count: int | None):
    """Limit numpy's BLAS / OpenMP thread pools to ``count`` threads inside the block (None: unchanged)."""
    if count is None:
        yield
        return
    if count < 1:
        raise ValueError(f"blas_threads: expected a positive thread count, got {count}")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(count)):
        yield
