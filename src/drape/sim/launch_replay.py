"""Record-once, replay-after Warp kernel launches for the cloth solver's inner loops.

On Warp's CPU device a ``wp.launch`` call spends about 80 us in Python packing
and type-checking its arguments, while most of the solver's kernels run for
10-20 us on a ~5k-vertex garment. A Style3D substep makes about 850 launches
(15 non-linear iterations, each with a 10-iteration PCG solve). Replaying them
cut the T-shirt's simulation from 1.48 to 1.00 s per frame (dance_b, 12 frames,
4 alternating runs each, one CPU thread: ``benchmarks/sim_speed.py``); the rest
is kernel time.

:class:`LaunchReplay` stands in for ``wp.launch`` while it is active. The first
launch of a kernel with a given set of arguments is recorded as a
``warp.Launch`` (its packed parameters); a later launch with the same
arguments replays that record. The same kernel runs on the same packed
parameters, so results are bit-identical to plain launches. Arguments are
matched by what gets packed: an array by its data pointer, grad pointer, shape,
strides and dtype; a struct by the bytes of its packed form; a scalar or a
vector by its type and value. Launches it cannot key (other argument kinds,
adjoint launches, an active tape or graph capture, explicit streams) go to
``wp.launch`` unchanged, and a kernel that keeps producing new keys (a
changing float parameter, fresh temporary arrays) stops being recorded after
``max_records_per_kernel`` records.

``active`` swaps the ``warp.launch`` attribute, so it is for one thread at a
time (the simulator is single-threaded). Warp is imported inside the functions
that use it.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from typing import Any, Iterator


class LaunchReplay:
    """Caches recorded kernel launches; :meth:`active` routes ``wp.launch`` through :meth:`launch`.

    Args:
        max_records_per_kernel: records kept per kernel before its new keys fall back to plain launches.
    """

    def __init__(self, *, max_records_per_kernel: int = 256):
        if max_records_per_kernel < 1:
            raise ValueError(f"max_records_per_kernel must be >= 1, got {max_records_per_kernel}")
        self.max_records_per_kernel = int(max_records_per_kernel)
        self._records: dict[tuple, Any] = {}
        self._per_kernel: Counter = Counter()
        self._plain = None
        self.replayed = 0
        self.recorded = 0
        self.passed_through = 0

    @contextlib.contextmanager
    def active(self) -> Iterator["LaunchReplay"]:
        """Within the block, every ``wp.launch`` call goes through :meth:`launch`."""
        import warp as wp

        if self._plain is not None:
            yield self  # already active (nested use)
            return
        self._plain = wp.launch
        wp.launch = self.launch
        try:
            yield self
        finally:
            wp.launch = self._plain
            self._plain = None

    def _plain_launch(self):
        if self._plain is not None:
            return self._plain
        import warp as wp

        return wp.launch

    def launch(self, kernel, dim, inputs=(), outputs=(), adj_inputs=(), adj_outputs=(), device=None, stream=None,
               adjoint=False, record_tape=True, record_cmd=False, max_blocks=0, block_dim=None):
        """Same signature and effect as ``wp.launch``."""
        plain = self._plain_launch()
        key = None
        if not (adjoint or record_cmd or stream is not None or adj_inputs or adj_outputs) and _replay_allowed(record_tape):
            key = _launch_key(kernel, dim, inputs, outputs, device, max_blocks, block_dim)
        if key is None:
            self.passed_through += 1
            return plain(kernel, dim, inputs, outputs, adj_inputs=adj_inputs, adj_outputs=adj_outputs, device=device,
                         stream=stream, adjoint=adjoint, record_tape=record_tape, record_cmd=record_cmd,
                         max_blocks=max_blocks, block_dim=block_dim)
        cmd = self._records.get(key)
        if cmd is None:
            if self._per_kernel[id(kernel)] >= self.max_records_per_kernel:
                self.passed_through += 1
                return plain(kernel, dim, inputs, outputs, device=device, record_tape=record_tape,
                             max_blocks=max_blocks, block_dim=block_dim)
            cmd = plain(kernel, dim, inputs, outputs, device=device, record_cmd=True, max_blocks=max_blocks,
                        block_dim=block_dim)
            if cmd is None:  # an empty launch (a zero dimension): Warp returns before recording; nothing to run
                self.passed_through += 1
                return None
            # The record holds the kernel and the argument arrays, so the ids and data pointers in its key
            # cannot be reused by other objects while it is cached.
            self._records[key] = cmd
            self._per_kernel[id(kernel)] += 1
            self.recorded += 1
        else:
            self.replayed += 1
        cmd.launch()
        return None


@functools.cache
def _warp_internals():
    """(runtime, StructInstance, array) from Warp, imported once: the key functions run on every launch."""
    from warp._src.codegen import StructInstance
    from warp._src.context import runtime
    from warp._src.types import array

    return runtime, StructInstance, array


def _replay_allowed(record_tape: bool) -> bool:
    """False while a Warp tape records (replays would bypass it) or a graph capture is active."""
    runtime = _warp_internals()[0]
    if record_tape and getattr(runtime, "tape", None) is not None:
        return False
    if getattr(runtime, "_apic_capture", None) is not None:
        return False
    return True


_CPU_NAMES: dict[str, bool] = {}


def _is_cpu(device) -> bool:
    """Whether ``device`` (a warp Device, a name, or None for the current default) is the CPU."""
    import warp as wp

    if isinstance(device, str):
        cpu = _CPU_NAMES.get(device)
        if cpu is None:
            cpu = _CPU_NAMES[device] = wp.get_device(device).is_cpu
        return cpu
    if device is None:
        return wp.get_device().is_cpu  # the default can change (wp.set_device), so it is not cached
    return bool(device.is_cpu)


def _launch_key(kernel, dim, inputs, outputs, device, max_blocks, block_dim) -> tuple | None:
    """A hashable key of everything a launch packs, or None when an argument cannot be keyed."""
    _, StructInstance, array = _warp_internals()
    if not _is_cpu(device):
        return None  # only the CPU device, where packing dominates
    parts: list = [id(kernel), tuple(dim) if isinstance(dim, (list, tuple)) else int(dim), max_blocks, block_dim]
    for a in (*inputs, *outputs):
        t = type(a)
        if t is array:
            g = a.grad
            parts.append((a.ptr, a.shape, a.strides, id(a.dtype), None if g is None else g.ptr))
        elif t is int or t is float or t is bool:
            parts.append((t, a))
        elif a is None:
            parts.append(None)
        elif isinstance(a, StructInstance):
            parts.append((id(t), bytes(a._ctype)))
        elif hasattr(t, "_wp_scalar_type_") or hasattr(t, "_wp_generic_type_str_"):
            parts.append((id(t), bytes(a)))  # wp.vec3 / wp.mat33 values: their ctypes bytes
        else:
            return None
    return tuple(parts)
