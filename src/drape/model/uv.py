"""Differentiable torch versions of :func:`drape.geometry.uv_raster.rasterize` and ``sample``.

Both are gathers with fixed indices and weights taken from a
:class:`~drape.geometry.uv_raster.RasterMap`, so gradients flow to the vertex features
(rasterize) and to the image (sample). They accept any leading batch dimensions.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from drape.geometry.uv_raster import RasterMap, padded_sample_taps
from drape.types import DrapeError


def _torch_csr(matrix) -> torch.Tensor:
    """A scipy.sparse matrix as a float32 CPU torch sparse CSR tensor."""
    a = matrix.tocsr().astype(np.float32)
    a.sum_duplicates()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
        return torch.sparse_csr_tensor(torch.from_numpy(a.indptr.astype(np.int64)), torch.from_numpy(a.indices.astype(np.int64)),
                                       torch.from_numpy(a.data), a.shape, check_invariants=True)


class UVMapper(torch.nn.Module):
    """Holds a raster map's index and weight tensors as buffers (they follow ``.to(device)``)."""

    def __init__(self, raster_map: RasterMap):
        super().__init__()
        m = raster_map
        self.height, self.width, self.vert_count = m.height, m.width, m.vert_count
        filled = m.filled
        bary = np.where(filled[..., None], m.bary, 0.0).astype(np.float32)
        self.register_buffer("tri_verts", torch.from_numpy(m.tri_verts.reshape(-1).astype(np.int64)), persistent=False)
        self.register_buffer("bary", torch.from_numpy(bary.reshape(-1, 3)), persistent=False)
        self.register_buffer("mask", torch.from_numpy(m.mask.astype(np.float32)), persistent=False)
        # Sampling taps regrouped per vertex (V, K), zero-weight padding: one gather, one weighted sum.
        pixel, weight = padded_sample_taps(m)
        self.taps = pixel.shape[1]
        self.register_buffer("tap_pixel", torch.from_numpy(pixel.reshape(-1)), persistent=False)
        self.register_buffer("tap_weight", torch.from_numpy(weight), persistent=False)
        # The same two gathers as fixed sparse matrices (CSR, float32, CPU) for single-frame inference:
        # rasterize (H*W, V) with each filled pixel's barycentrics, sample (V, H*W) with the bilinear taps.
        self._raster_csr = _torch_csr(m.raster_matrix)
        self._sample_csr = _torch_csr(m.sample_matrix)
        self._mask_column = torch.from_numpy(m.mask.astype(np.float32).reshape(-1, 1))

    def rasterize(self, vertex_features: torch.Tensor) -> torch.Tensor:
        """(..., V, C) -> (..., C, H, W); empty pixels are 0."""
        x = vertex_features
        if x.ndim < 2 or x.shape[-2] != self.vert_count:
            raise DrapeError(f"UVMapper.rasterize: expected (..., {self.vert_count}, C), got {tuple(x.shape)}")
        vals = x.index_select(-2, self.tri_verts)  # (..., H*W*3, C)
        vals = vals.reshape(*x.shape[:-2], self.height * self.width, 3, x.shape[-1])
        img = (vals * self.bary.to(x.dtype)[..., None]).sum(-2)  # (..., H*W, C)
        img = img.transpose(-1, -2).reshape(*x.shape[:-2], x.shape[-1], self.height, self.width)
        return img

    def sample(self, image: torch.Tensor) -> torch.Tensor:
        """(..., C, H, W) -> (..., V, C), bilinear at each vertex UV, averaged over a vertex's UVs."""
        if image.ndim < 3 or tuple(image.shape[-2:]) != (self.height, self.width):
            raise DrapeError(f"UVMapper.sample: expected (..., C, {self.height}, {self.width}), got {tuple(image.shape)}")
        lead, C = image.shape[:-3], image.shape[-3]
        # Pixel-major (..., H*W, C): a free view of a channels-last image, then row gathers.
        flat = image.movedim(-3, -1).reshape(*lead, self.height * self.width, C)
        taps = flat.index_select(-2, self.tap_pixel).reshape(*lead, self.vert_count, self.taps, C)
        return (taps * self.tap_weight.to(image.dtype)[..., None]).sum(-2)  # (..., V, C)

    def feature_map_frame(self, vertex_features: torch.Tensor) -> torch.Tensor:
        """One frame's network input without autograd: vertex features (V, C) float32 (CPU) ->
        (1, C + 1, H, W) in channels-last memory (the rasterized features, then the mask channel).
        The values of :meth:`rasterize` plus the mask, up to float rounding (one sparse product)."""
        x = vertex_features
        if x.ndim != 2 or x.shape[0] != self.vert_count:
            raise DrapeError(f"UVMapper.feature_map_frame: expected ({self.vert_count}, C), got {tuple(x.shape)}")
        pixels = torch.cat([self._raster_csr @ x, self._mask_column], 1)  # (H*W, C + 1)
        return pixels.reshape(1, self.height, self.width, x.shape[1] + 1).permute(0, 3, 1, 2)

    def sample_frame(self, image: torch.Tensor) -> torch.Tensor:
        """One frame's :meth:`sample` without autograd: (1, C, H, W) -> (V, C) (one sparse product)."""
        if image.ndim != 4 or image.shape[0] != 1 or tuple(image.shape[-2:]) != (self.height, self.width):
            raise DrapeError(f"UVMapper.sample_frame: expected (1, C, {self.height}, {self.width}), got {tuple(image.shape)}")
        flat = image[0].permute(1, 2, 0).reshape(self.height * self.width, image.shape[1])
        return self._sample_csr @ flat
