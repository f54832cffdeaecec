"""Memory budget: tile sizes from a budget, refusals before any work, and CUDA out-of-memory retries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine_helpers import random_frames
from repsr_video import budget
from repsr_video.budget import MIN_TILE, OomRetry, bytes_per_output_pixel, check_host_room, choose_tile, free_host_memory
from repsr_video.errors import EngineError
from repsr_video.tiling import upscale_tiled


def nearest(frames: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(frames, 2, axis=1), 2, axis=2)


def test_free_host_memory_is_positive_and_at_most_the_total():
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total = next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemTotal:"))
    assert 0 < free_host_memory() <= total


def test_a_cgroup_limit_below_memavailable_wins(monkeypatch):
    monkeypatch.setattr(budget, "_cgroup_room", lambda: 123 << 20)
    assert free_host_memory() == 123 << 20


def test_the_estimate_grows_with_channels_and_shrinks_with_scale():
    assert bytes_per_output_pixel(32, 2) > bytes_per_output_pixel(16, 2) > bytes_per_output_pixel(16, 4) >= 64


def test_a_frame_that_fits_is_not_tiled():
    assert choose_tile(1, 1080, 1920, 2, 6, 100.0, budget=1080 * 1920 * 4 * 100) == 0


@pytest.mark.parametrize(("frames", "scale", "halo"), [(1, 2, 6), (4, 2, 10), (1, 4, 6), (2, 3, 3)])
def test_the_chosen_window_fits_the_budget(frames, scale, halo):
    per_pixel, limit = 128.0, 300 << 20
    tile = choose_tile(frames, 8000, 8000, scale, halo, per_pixel, limit)
    assert tile >= MIN_TILE and tile % 8 == 0
    window_bytes = frames * ((tile + 2 * halo) * scale) ** 2 * per_pixel
    assert window_bytes <= limit
    assert frames * ((tile + 8 + 2 * halo) * scale) ** 2 * per_pixel > limit  # and is not needlessly small


def test_a_frame_that_cannot_fit_even_tiled_is_one_line_error():
    with pytest.raises(EngineError, match=r"8000x6000 frame cannot be upscaled x4 here") as caught:
        choose_tile(1, 6000, 8000, 4, 10, 128.0, budget=1 << 20)
    assert "\n" not in str(caught.value)


def test_pixels_that_do_not_fit_in_memory_are_refused_before_any_work(monkeypatch):
    monkeypatch.setattr(budget, "free_host_memory", lambda: 4 << 30)
    check_host_room(1, 8000, 8000, 2, 1, 1 << 30)  # 0.96 GB of pixels + 1 GB: fits
    with pytest.raises(EngineError, match=r"100000x100000 frame upscaled x4 needs 510\.0 GB"):
        check_host_room(1, 100000, 100000, 4, 1, 1 << 30)


class FakeGpu:
    """A runner that raises CUDA's out-of-memory error when a call holds more than `limit` input pixels."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.calls: list[tuple[int, ...]] = []
        self.freed = 0

    def __call__(self, frames: np.ndarray, tile: int) -> np.ndarray:
        return upscale_tiled(frames, self._window, 2, tile, 2)

    def _window(self, frames: np.ndarray) -> np.ndarray:
        self.calls.append(frames.shape)
        if frames.shape[0] * frames.shape[1] * frames.shape[2] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return nearest(frames)

    def free(self) -> None:
        self.freed += 1


def test_out_of_memory_halves_the_batch_and_keeps_every_frame():
    gpu = FakeGpu(limit=2 * 60 * 80)
    frames = random_frames(7, 60, 80)
    retry = OomRetry(gpu, batch=4, free_cache=gpu.free, out_of_memory=(torch.cuda.OutOfMemoryError,))
    out = retry(frames, 0)
    assert np.array_equal(out, nearest(frames))  # all 7 frames, in order
    assert retry.batch == 2 and retry.tile_cap is None
    assert gpu.freed == 1 and retry.notes == ["out of GPU memory: batch 4 -> 2"]


def test_out_of_memory_at_batch_one_tiles_the_frame():
    gpu = FakeGpu(limit=9000)  # a whole 120x160 frame (19200 px) does not fit, a 60-pixel window does
    frames = random_frames(3, 120, 160)
    retry = OomRetry(gpu, batch=2, free_cache=gpu.free, out_of_memory=(torch.cuda.OutOfMemoryError,))
    out = retry(frames, 0)
    assert np.array_equal(out, nearest(frames))
    assert retry.batch == 1 and 0 < retry.tile_cap < 160
    assert all(n * h * w <= 9000 for n, h, w, _ in gpu.calls[-4:])  # the last calls ran in windows that fit
    second = retry(frames, 0)  # the smaller settings stay: no new failure
    assert np.array_equal(second, out) and gpu.freed == len(retry.notes)


def test_out_of_memory_even_in_the_smallest_tile_is_one_line_error():
    gpu = FakeGpu(limit=10)
    retry = OomRetry(gpu, batch=1, free_cache=gpu.free, out_of_memory=(torch.cuda.OutOfMemoryError,))
    with pytest.raises(EngineError, match="out of GPU memory for a 160x120 frame even in") as caught:
        retry(random_frames(1, 120, 160), 0)
    assert "\n" not in str(caught.value)


def test_a_cap_limits_requested_tiles_and_whole_frames():
    retry = OomRetry(lambda frames, tile: frames, batch=1, free_cache=lambda: None)
    assert retry.tile_for(0, 100, 200) == 0 and retry.tile_for(64, 100, 200) == 64
    retry.tile_cap = 50
    assert retry.tile_for(0, 100, 200) == 50 and retry.tile_for(64, 100, 200) == 50 and retry.tile_for(32, 100, 200) == 32
    assert retry.tile_for(0, 40, 30) == 0  # the cap covers the whole frame


def test_other_errors_are_not_retried():
    def broken(frames, tile):
        raise RuntimeError("not memory")

    with pytest.raises(RuntimeError, match="not memory"):
        retry = OomRetry(broken, batch=4, free_cache=lambda: None, out_of_memory=(torch.cuda.OutOfMemoryError,))
        retry(random_frames(2, 8, 8), 0)
