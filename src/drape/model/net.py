"""The convolutional regressor: a small U-Net over the UV feature map with FiLM skeleton conditioning.

Input: the rasterized, normalised per-vertex features plus the mask channel, (B, C_in, H, W),
and the normalised global skeleton vector (B, G). Output: (B, 3, H, W), the normalised
per-vertex offset change (see :mod:`drape.model.features`), sampled back at the vertices.

Layout (``widths = (w0, w1, ..., wL)``; level k works at H / 2^(k+1))::

    skip0  1x1 conv C_in -> s0                                (H x W, keeps per-pixel detail)
    stem   3x3 conv stride 2 C_in -> w0, 3x3 conv w0 -> w0, FiLM             (H/2)
    down k 3x3 conv stride 2 w_{k-1} -> w_k, 3x3 conv w_k -> w_k, FiLM       (H/2^(k+1))
    up k   bilinear x2, 1x1 conv w_k -> w_{k-1}, add skip, 3x3 conv, FiLM
    head   bilinear x2 to H x W, concat skip0, 1x1 conv -> hidden, 1x1 conv -> 3
           (last conv zero-initialised: a fresh model predicts the mean change)

FiLM: an MLP maps the skeleton vector to per-channel (gamma, beta) for every FiLM'd block,
``h <- h * (1 + gamma) + beta``; its last layer is zero-initialised. No normalisation layers,
so batch size 1 at inference behaves like training. All 3x3 convolutions run at half
resolution or below; the full-resolution work is 1x1 only. This keeps a 64x64 forward at a
few ms on one CPU thread (see ``benchmarks/model_step.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class NetConfig:
    """Network shape (saved with the model)."""

    widths: tuple[int, ...] = (24, 48, 96)
    """Channels per level; level k works at 1 / 2^(k+1) of the image size."""
    skip_channels: int = 8
    """Channels of the full-resolution 1x1 skip path."""
    head_channels: int = 16
    """Hidden channels of the full-resolution 1x1 head."""
    film_hidden: int = 128
    """Hidden width of the FiLM MLP."""
    out_channels: int = 3
    """Output channels (3: offset change)."""


def _conv(cin, cout, k=3, stride=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def _up(x):
    return nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class FiLMUNet(nn.Module):
    """U-Net with FiLM conditioning. forward(x (B, C_in, H, W), g (B, G)) -> (B, out, H, W).

    H and W must be divisible by 2 ** len(widths).
    """

    def __init__(self, in_channels: int, global_channels: int, config: NetConfig = NetConfig()):
        super().__init__()
        w = tuple(config.widths)
        self.config = config
        self.levels = len(w)
        self.skip0 = _conv(in_channels, config.skip_channels, 1)
        self.down_a = nn.ModuleList([_conv(in_channels if k == 0 else w[k - 1], w[k], 3, 2) for k in range(len(w))])
        self.down_b = nn.ModuleList([_conv(w[k], w[k]) for k in range(len(w))])
        self.up_proj = nn.ModuleList([_conv(w[k], w[k - 1], 1) for k in range(1, len(w))])
        self.up_conv = nn.ModuleList([_conv(w[k - 1], w[k - 1]) for k in range(1, len(w))])
        self.head_a = _conv(w[0] + config.skip_channels, config.head_channels, 1)
        self.head_b = _conv(config.head_channels, config.out_channels, 1)
        nn.init.zeros_(self.head_b.weight)
        nn.init.zeros_(self.head_b.bias)
        # FiLM sites: each down level (w[k]) then each up level (w[k-1]).
        self.film_sizes = list(w) + [w[k - 1] for k in range(1, len(w))]
        self.film = nn.Sequential(
            nn.Linear(global_channels, config.film_hidden),
            nn.ReLU(),
            nn.Linear(config.film_hidden, 2 * sum(self.film_sizes)),
        )
        nn.init.zeros_(self.film[-1].weight)
        nn.init.zeros_(self.film[-1].bias)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        params = self.film(g)
        films = []
        o = 0
        for n in self.film_sizes:
            films.append((params[:, o : o + n, None, None], params[:, o + n : o + 2 * n, None, None]))
            o += 2 * n
        act = self.act
        skip0 = act(self.skip0(x))
        h = x
        skips = []
        for k in range(self.levels):
            h = act(self.down_b[k](act(self.down_a[k](h))))
            gm, bt = films[k]
            h = h * (1 + gm) + bt
            skips.append(h)
        for k in reversed(range(1, self.levels)):
            h = self.up_proj[k - 1](_up(h)) + skips[k - 1]
            h = act(self.up_conv[k - 1](h))
            gm, bt = films[self.levels + k - 1]
            h = h * (1 + gm) + bt
        h = torch.cat([_up(h), skip0], 1)
        return self.head_b(act(self.head_a(h)))


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
