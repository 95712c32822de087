"""The one cache directory: anny rig builds and Warp kernels live under it.

``DRAPE_CACHE_DIR`` overrides the default ``~/.cache/drape``. Nothing here runs at
import time; call :func:`configure` before loading anny or warp.
"""

from __future__ import annotations

import os
from pathlib import Path

_configured = False


def cache_dir() -> Path:
    """Root cache directory (created on demand)."""
    root = os.environ.get("DRAPE_CACHE_DIR") or str(Path.home() / ".cache" / "drape")
    path = Path(root).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def configure() -> Path:
    """Point anny and Warp at subfolders of :func:`cache_dir`. Idempotent."""
    global _configured
    root = cache_dir()
    if not _configured:
        os.environ.setdefault("ANNY_CACHE_DIR", str(root / "anny"))
        os.environ.setdefault("WARP_CACHE_PATH", str(root / "warp"))
        _configured = True
    return root


def init_warp():
    """Import warp with its kernel cache under the drape cache, quietly."""
    configure()
    import warp as wp

    if not getattr(wp, "_drape_initialised", False):
        wp.config.kernel_cache_dir = os.environ["WARP_CACHE_PATH"]
        wp.config.quiet = True
        if hasattr(wp, "LOG_WARNING"):
            wp.config.log_level = wp.LOG_WARNING  # no per-module load timings on stdout
        wp.init()
        wp._drape_initialised = True
    return wp
