"""Rollout replay: training windows whose history is the model's own free rollout.

Synthetic history noise (:func:`drape.train.trainer.history_noise`) stands in for the errors
a rollout feeds back, but it is not shaped like them: the model learns to distrust its whole
history and its single-step error stays several times that of simply keeping the last offset
(``drape eval``'s ``one_step_error_mm`` against ``persistence_one_step_mm``). Replay trains on
the real thing. Every few steps the current network rolls out a stretch of a training track
from its simulated frames, without gradients; each window of that stretch whose ``i + 1``
history frames are all predicted goes into a fixed-size ring buffer with its track and
start. A batch then takes a share of its windows from the buffer: their history is the
stored prediction, their targets and skeleton the simulated ones. The model thus learns
the correction for its own error distribution (the DAgger idea, on a rollout-sized scale).

The buffer is part of the training checkpoint, so a resumed run stays bit-identical.
"""

from __future__ import annotations

import numpy as np

from drape.types import DrapeError


class ReplayBuffer:
    """Ring buffer of ``capacity`` predicted histories.

    ``track`` (C,) int64 and ``start`` (C,) int64 name the window (as in
    :class:`drape.data.windows.WindowDataset`); ``hist`` (C, i+1, V, 3) float32 world metres.
    """

    def __init__(self, capacity: int, hist_shape: tuple[int, ...]):
        if capacity < 1:
            raise DrapeError(f"replay buffer: capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.track = np.full(self.capacity, -1, dtype=np.int64)
        self.start = np.full(self.capacity, -1, dtype=np.int64)
        self.hist = np.zeros((self.capacity,) + tuple(hist_shape), dtype=np.float32)
        self.size = 0
        self.next = 0

    def __len__(self) -> int:
        return self.size

    def add(self, track: int, start: int, hist: np.ndarray) -> None:
        """Store one window (oldest entry overwritten when full)."""
        if hist.shape != self.hist.shape[1:]:
            raise DrapeError(f"replay buffer: history of shape {self.hist.shape[1:]} expected, got {hist.shape}")
        i = self.next
        self.track[i], self.start[i], self.hist[i] = track, start, hist
        self.next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, count: int, gen) -> np.ndarray:
        """(count,) buffer slots drawn uniformly with the torch generator ``gen``."""
        import torch

        if self.size == 0:
            raise DrapeError("replay buffer: sample from an empty buffer")
        return torch.randint(self.size, (count,), generator=gen).numpy()

    def state(self) -> dict:
        """Tensors and ints for a checkpoint (see :meth:`from_state`)."""
        import torch

        return {"track": torch.from_numpy(self.track.copy()), "start": torch.from_numpy(self.start.copy()),
                "hist": torch.from_numpy(self.hist.copy()), "size": self.size, "next": self.next}

    @classmethod
    def from_state(cls, state: dict) -> ReplayBuffer:
        hist = state["hist"].numpy()
        buf = cls(hist.shape[0], hist.shape[1:])
        buf.track[:], buf.start[:], buf.hist[:] = state["track"].numpy(), state["start"].numpy(), hist
        buf.size, buf.next = int(state["size"]), int(state["next"])
        return buf


def refresh(buffer: ReplayBuffer, model, dataset, frames: int, gen, track_weights=None) -> int:
    """Roll ``model`` out ``frames`` frames on a random training window and store its windows.

    A track of ``dataset`` (:class:`drape.data.windows.WindowDataset`; every usable track alike, or
    in proportion to ``track_weights`` (one per track) when given) and a start frame s0 are
    drawn with ``gen``; the rollout starts from the simulated frames s0 .. s0+i. Every window
    start s with all of its history s .. s+i predicted and all of its ``dataset.max_unroll``
    targets in the track is added. Returns the number of windows added.
    """
    import torch

    from drape.rollout import rollout_from_truth

    n = dataset.window + 1
    usable = [k for k, g in enumerate(dataset.global_feats) if g is not None]
    if track_weights is None:
        k = usable[int(torch.randint(len(usable), (1,), generator=gen))]
    else:
        w = torch.as_tensor(np.asarray(track_weights, dtype=np.float64)[usable])
        k = usable[int(torch.multinomial(w, 1, generator=gen))]
    tr = dataset.tracks[k]
    F = tr.frame_count
    # Predicted frames s0+n .. s0+n+L-1; window starts s0+n .. s0+L need s + n + max_unroll <= F.
    L = min(int(frames), F - n - dataset.max_unroll)
    if L < n:
        return 0
    s0 = int(torch.randint(F - n - dataset.max_unroll - L + 1, (1,), generator=gen))
    # (n + L, V, 3): local frame f is track frame s0 + f.
    pred = rollout_from_truth(model, tr.verts[s0 : s0 + n], tr.transforms[s0 : s0 + n + L])
    added = 0
    for s in range(n, L + 1):
        buffer.add(k, s0 + s, pred[s : s + n])
        added += 1
    return added
