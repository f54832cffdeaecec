"""Exact tiling: upscale a frame batch window by window and stitch the centres, equal to the untiled result.

An output pixel of the deploy net depends on input pixels at most `radius` away (one per 3x3 conv; the
PReLUs, the pixel shuffle and the nearest-neighbour skip are pointwise). A window therefore reproduces
the untiled values of every pixel at least `radius` from its cut edges (at the frame's own edges both
see the same zero padding), and we keep only those: the *core* of each window.

Every window of a frame has one size (windows at the far edges are shifted inward, not shrunk), so a
compiled or TensorRT backend builds one graph per frame size, not one per tile.

Bit-identical on CPU fp32, with one more rule: oneDNN picks another convolution kernel for small
problems (measured, torch 2.13, AVX-512: a 32->32 conv on a single image under ~640 pixels sums in
another order, ~1e-7 apart), so a window never has fewer than MIN_WINDOW_PIXELS pixels unless it is
the whole frame. On CUDA cuDNN chooses kernels per shape, so tiles may differ from the untiled result
in the last bit of fp16/fp32 before rounding to integers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Smallest window (pixels per frame) that runs the same oneDNN kernels as a large frame; the measured
# switch is at ~640 pixels for 32 channels and ~320 for 64, this keeps a wide margin.
MIN_WINDOW_PIXELS = 8192

Runner = Callable[[np.ndarray], np.ndarray]  # (N,h,w,C) -> (N,s*h,s*w,C)


def receptive_radius(net: Any) -> int | None:
    """How many input pixels on each side an output pixel of the torch module `net` depends on; None if not known.

    Known for SRNet (a plain conv stack): the sum of each conv's reach, dilation * (kernel - 1) / 2.
    (repsr_video/plain_net.py gives the same for a net outside torch.)
    """
    from torch import nn

    from .network import SRNet

    if not isinstance(net, SRNet):
        return None
    radius = 0
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            radius += max(d * (k - 1) // 2 for k, d in zip(module.kernel_size, module.dilation, strict=True))
    return radius


@dataclass(frozen=True)
class Span:
    """One tile along one axis, in input pixels: the window that is run and the core that is kept."""

    window_start: int
    window_stop: int
    core_start: int
    core_stop: int


def axis_spans(length: int, tile: int, halo: int, window: int) -> list[Span]:
    """Cores of `tile` pixels covering [0, length), each inside a window of `window` pixels that
    reaches at least `halo` past the core on both sides, or to the frame's edge."""
    window = min(length, max(window, tile + 2 * halo))
    spans = []
    for core_start in range(0, length, tile):
        core_stop = min(core_start + tile, length)
        start = min(max(core_start - halo, 0), length - window)
        span = Span(start, start + window, core_start, core_stop)
        assert (core_start - start >= halo or start == 0) and (span.window_stop - core_stop >= halo or span.window_stop == length)
        spans.append(span)
    return spans


def window_shape(height: int, width: int, tile: int, halo: int) -> tuple[int, int]:
    """The one window size for this frame: core plus halo on each side, at least MIN_WINDOW_PIXELS."""
    side = tile + 2 * halo
    rows = min(height, max(side, math.isqrt(MIN_WINDOW_PIXELS - 1) + 1))
    cols = min(width, max(side, -(-MIN_WINDOW_PIXELS // rows)))
    rows = min(height, max(rows, -(-MIN_WINDOW_PIXELS // cols)))
    return rows, cols


def tile_grid(height: int, width: int, tile: int, halo: int) -> list[tuple[Span, Span]]:
    """(row span, column span) of every tile; a single whole-frame tile when tiling is off (tile <= 0)
    or the frame fits in one tile."""
    if tile <= 0 or (height <= tile and width <= tile):
        return [(Span(0, height, 0, height), Span(0, width, 0, width))]
    rows, cols = window_shape(height, width, tile, halo)
    return [(r, c) for r in axis_spans(height, tile, halo, rows) for c in axis_spans(width, tile, halo, cols)]


def upscale_tiled(frames: np.ndarray, run: Runner, scale: int, tile: int, halo: int) -> np.ndarray:
    """`run(frames)` computed tile by tile: (N,H,W,C) -> (N,sH,sW,C), the same values when
    halo >= the net's receptive radius. tile <= 0 runs the whole frame at once."""
    n, height, width = frames.shape[:3]
    grid = tile_grid(height, width, tile, halo)
    if len(grid) == 1:
        return run(frames)
    out: np.ndarray | None = None
    s = scale
    for rows, cols in grid:
        part = run(frames[:, rows.window_start : rows.window_stop, cols.window_start : cols.window_stop])
        if out is None:
            out = np.empty((n, s * height, s * width, *part.shape[3:]), dtype=part.dtype)
        top, left = rows.core_start - rows.window_start, cols.core_start - cols.window_start
        h, w = rows.core_stop - rows.core_start, cols.core_stop - cols.core_start
        out[:, s * rows.core_start : s * rows.core_stop, s * cols.core_start : s * cols.core_stop] = (
            part[:, s * top : s * (top + h), s * left : s * (left + w)]
        )
    assert out is not None
    return out


__all__ = ["MIN_WINDOW_PIXELS", "Span", "axis_spans", "receptive_radius", "tile_grid", "upscale_tiled", "window_shape"]
