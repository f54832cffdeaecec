"""Tiling: windows cover the frame with enough halo, and tiled results equal untiled ones bit for bit (CPU fp32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine_helpers import random_frames
from repsr_video import tiling
from repsr_video.engine import EngineSettings, create_engine_for_network
from repsr_video.network import SRNet
from repsr_video.tiling import MIN_WINDOW_PIXELS, axis_spans, receptive_radius, tile_grid, upscale_tiled


def random_net(scale: int, blocks: int, channels: int, seed: int = 0) -> SRNet:
    """Random weights with 32+ channels: oneDNN then sums input channels in blocks, the case where
    a kernel chosen per shape could change the order of the sums."""
    torch.manual_seed(seed)
    net = SRNet(scale, blocks, channels).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.PReLU):
                module.weight.uniform_(-0.5, 0.5)  # a real non-linearity, not the default 0.25 everywhere
    return net


def float_runner(net: SRNet):
    """SRNet's own fp32 forward on (N,H,W,3) float arrays: no rounding hides a last-bit difference."""

    def run(frames: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            return net(x).permute(0, 2, 3, 1).contiguous().numpy()

    return run


def test_receptive_radius_counts_the_3x3_convs():
    assert receptive_radius(SRNet(2, 4, 16)) == 6  # head + 4 body + tail
    assert receptive_radius(SRNet(3, 0, 8)) == 2
    assert receptive_radius(torch.nn.Conv2d(3, 3, 3)) is None  # not a net we know the reach of


@pytest.mark.parametrize("length", [1, 7, 31, 100, 257])
@pytest.mark.parametrize("tile", [1, 3, 16, 64])
@pytest.mark.parametrize("halo", [0, 2, 6])
def test_axis_spans_cover_once_with_halo(length, tile, halo):
    window = 40
    spans = axis_spans(length, tile, halo, window)
    covered = np.zeros(length, int)
    for span in spans:
        covered[span.core_start : span.core_stop] += 1
        assert 0 <= span.window_start <= span.core_start < span.core_stop <= span.window_stop <= length
        assert span.window_stop - span.window_start == min(length, max(window, tile + 2 * halo))  # one size
        assert span.core_start - span.window_start >= halo or span.window_start == 0
        assert span.window_stop - span.core_stop >= halo or span.window_stop == length
    assert (covered == 1).all()


@pytest.mark.parametrize("shape", [(97, 131), (300, 29), (13, 900)])
def test_windows_are_never_smaller_than_the_minimum(shape):
    grid = tile_grid(*shape, tile=4, halo=1)
    assert len(grid) > 1
    sizes = {((r.window_stop - r.window_start), (c.window_stop - c.window_start)) for r, c in grid}
    assert len(sizes) == 1
    rows, cols = sizes.pop()
    assert rows * cols >= MIN_WINDOW_PIXELS


@pytest.mark.parametrize(
    ("scale", "tile", "frames", "shape", "channels"),
    [
        (2, 40, 1, (97, 131), 32),
        (3, 32, 2, (97, 131), 32),
        (4, 56, 1, (97, 131), 32),
        (2, 5, 1, (40, 101), 16),  # tiles smaller than the halo (4)
    ],
)
def test_tiled_float_output_is_bit_identical(scale, tile, frames, shape, channels, monkeypatch):
    if channels <= 16:  # one block of input channels: no kernel choice can reorder the sums (measured),
        monkeypatch.setattr(tiling, "MIN_WINDOW_PIXELS", 1)  # so small windows keep hundreds of tiles fast
    net = random_net(scale, blocks=2, channels=channels)
    halo = receptive_radius(net)
    rng = np.random.default_rng(scale)
    x = rng.random((frames, *shape, 3), dtype=np.float32)  # odd sizes; tiles do not divide them
    run = float_runner(net)
    assert len(tile_grid(*shape, tile, halo)) > 1
    assert np.array_equal(upscale_tiled(x, run, scale, tile, halo), run(x))


def test_a_halo_below_the_radius_is_detected():
    """The check above can fail: one pixel less halo than the net's reach changes the seams."""
    net = random_net(2, blocks=2, channels=32)
    x = np.random.default_rng(0).random((1, 97, 131, 3), dtype=np.float32)
    run = float_runner(net)
    assert not np.array_equal(upscale_tiled(x, run, 2, 40, receptive_radius(net) - 1), run(x))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_engine_frames_tiled_equal_untiled(scale, dtype):
    net = random_net(scale, blocks=2, channels=32, seed=scale)
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager"), precision="fp32")
    frames = random_frames(1, 101, 89, dtype=dtype, seed=scale)
    tiled = upscale_tiled(frames, engine.upscale, scale, 32, receptive_radius(net))
    assert tiled.dtype == dtype and tiled.shape == (1, 101 * scale, 89 * scale, 3)
    assert np.array_equal(tiled, engine.upscale(frames))


def test_tiling_off_or_one_tile_runs_the_whole_frame():
    calls = []

    def run(frames):
        calls.append(frames.shape)
        return np.repeat(np.repeat(frames, 2, axis=1), 2, axis=2)

    frames = random_frames(1, 20, 30)
    upscale_tiled(frames, run, 2, 0, 4)
    upscale_tiled(frames, run, 2, 64, 4)
    assert calls == [(1, 20, 30, 3), (1, 20, 30, 3)]
