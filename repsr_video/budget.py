"""Memory budget: how large a window the engine may run at once, and what to do when a GPU runs out.

Working memory of one window grows with its output pixels. Measured peak bytes per output pixel of
the eager engine on CPU (benchmarks/tile_memory.py per-pixel, torch 2.13, 2-core AMD EPYC with
avx512_bf16; uint8 frames, the integer conversions and the fp32 skip included; two runs on a shared
machine, which differ by up to a third because of what the allocator keeps):

    net     x2 fp32   x2 bf16   x4 fp32  x4 bf16
    M4C16   97-111    91-127    56-58    56-61
    M8C32   87-96     81-100    60       57-58

`bytes_per_output_pixel` bounds these from above: 80 bytes for the fp32 tail (residual, upsampled
skip, sum and the rounding temporaries) plus four fp32 feature maps of C channels at 1/s^2 of the
output pixels (M4C16 x2: 144, x4: 96; M8C32 x2: 208, x4: 112). Compiled backends fuse the tail and
need less; half precision needs less on the feature side. The benchmark prints measured against
estimated for the device at hand (CUDA: not measured here, no GPU was available).

Budget: CPU, half of the memory available now (cgroup limit included) and at most CPU_BUDGET_CAP;
the rest is for the decoder, the encoder, the queued frames and other programs. Beyond ~2k x 2k input
pixels a larger window is not faster on a CPU (the halo is then under 2 % of it). CUDA: GPU_BUDGET_SHARE
of the free GPU memory, less a reserve for cuDNN's workspaces.

A CUDA out-of-memory error is not fatal: `OomRetry` halves the batch, then the tile, and runs the
same frames again; it gives up with one line only when a MIN_TILE-pixel tile does not fit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import EngineError

if TYPE_CHECKING:  # torch only where a CUDA device is asked about: an OpenVINO run never loads it
    import torch

CPU_BUDGET_SHARE = 0.5
CPU_BUDGET_CAP = 2 << 30
GPU_BUDGET_SHARE = 0.8
GPU_RESERVE = 512 << 20  # cuDNN workspaces and allocator slack
MIN_TILE = 16  # input pixels; below this the halo dominates and a frame is better refused
_GB = 1e9


def bytes_per_output_pixel(channels: int, scale: int) -> float:
    """Peak working bytes per output pixel of one frame of a window (an upper bound, see above)."""
    return 80.0 + 4 * 4 * channels / scale**2


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cgroup_room() -> int | None:
    """Bytes this process's cgroup may still allocate (v2 or v1); None when unlimited or unknown."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, where = line.split(":", 2)
        v2 = controllers == ""
        if not v2 and "memory" not in controllers.split(","):
            continue
        root = Path("/sys/fs/cgroup") if v2 else Path("/sys/fs/cgroup/memory")
        limit_file, usage_file = ("memory.max", "memory.current") if v2 else ("memory.limit_in_bytes", "memory.usage_in_bytes")
        for folder in (root / where.lstrip("/"), root):  # inside a container the path is often not mounted
            limit, usage = _read_int(folder / limit_file), _read_int(folder / usage_file)
            if limit is not None and usage is not None and limit < 1 << 60:
                return max(0, limit - usage)
    return None


def free_host_memory() -> int:
    """Bytes that can be allocated without swapping: MemAvailable, or the cgroup's room if smaller."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    if available is None:  # not Linux: physical memory as the best guess
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    room = _cgroup_room()
    return available if room is None else min(available, room)


def free_device_memory(device: torch.device) -> int:
    """Free bytes on a CUDA device, counting what torch's caching allocator holds but does not use."""
    import torch

    free, _total = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def default_budget(device: torch.device | None) -> int:
    """Working memory the engine may use for one window of a batch (None: the CPU)."""
    if device is not None and device.type == "cuda":
        return max(0, int(GPU_BUDGET_SHARE * free_device_memory(device)) - GPU_RESERVE)
    return min(CPU_BUDGET_CAP, int(CPU_BUDGET_SHARE * free_host_memory()))


def choose_tile(frames: int, height: int, width: int, scale: int, halo: int, per_pixel: float, budget: int) -> int:
    """Input tile side whose window fits `budget`: 0 when the whole frame fits, else a multiple of 8
    >= MIN_TILE. Raises EngineError (one line, before any work) when not even MIN_TILE fits."""
    if frames * height * width * scale * scale * per_pixel <= budget:
        return 0
    side = math.isqrt(int(budget / (frames * per_pixel))) // scale  # largest square window, input pixels
    tile = (side - 2 * halo) // 8 * 8
    if tile < MIN_TILE:
        smallest = frames * ((MIN_TILE + 2 * halo) * scale) ** 2 * per_pixel
        raise EngineError(
            f"a {width}x{height} frame cannot be upscaled x{scale} here: even a {MIN_TILE}-pixel tile needs "
            f"{smallest / _GB:.2f} GB of working memory and the budget is {budget / _GB:.2f} GB"
        )
    return tile


def check_host_room(frames_in_flight: int, height: int, width: int, scale: int, itemsize: int, working: int) -> None:
    """Refuse (one line, before any work) frames whose input and output alone do not fit in memory."""
    pixels = frames_in_flight * height * width * 3 * itemsize * (1 + scale * scale)
    free = free_host_memory()
    if pixels + working > free:
        raise EngineError(
            f"a {width}x{height} frame upscaled x{scale} needs {pixels / _GB:.1f} GB of memory for its pixels "
            f"and {working / _GB:.1f} GB to work in, but {free / _GB:.1f} GB is available"
            + ("; smaller tiles (--tile N) need less" if working > pixels else "")
        )


class OomRetry:
    """Runs frames through `run(frames, tile)` in batches of `batch`; on a CUDA out-of-memory error it
    halves the batch (down to 1), then caps the tile at half of what failed, and runs the same frames
    again. No frame is dropped or repeated in the result. The reduced batch and tile cap stay for later
    calls (memory does not come back mid-video); `notes` says what changed and why.
    """

    def __init__(
        self, run: Callable[[np.ndarray, int], np.ndarray], batch: int, free_cache: Callable[[], None] | None = None,
        out_of_memory: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.run = run
        self.batch = max(1, batch)
        self.tile_cap: int | None = None  # input pixels; None until an out-of-memory error sets one
        self.notes: list[str] = []
        self._free_cache = free_cache or (lambda: None)
        self._out_of_memory = out_of_memory  # the runtime's out-of-memory errors (torch.cuda.OutOfMemoryError)

    def tile_for(self, tile: int, height: int, width: int) -> int:
        """`tile` (0 = whole frame) limited by the cap; 0 again when that still covers the frame."""
        side = tile if 0 < tile < max(height, width) else max(height, width)
        side = min(side, self.tile_cap or side)
        return 0 if side >= max(height, width) else side

    def __call__(self, frames: np.ndarray, tile: int) -> np.ndarray:
        parts, done = [], 0
        height, width = frames.shape[1:3]
        while done < frames.shape[0]:
            chunk = frames[done : done + self.batch]
            current = self.tile_for(tile, height, width)
            try:
                parts.append(self.run(chunk, current))
                done += chunk.shape[0]
                continue
            except self._out_of_memory:
                pass
            # Outside the except block: the error's traceback no longer holds the failed call's tensors.
            self._free_cache()
            self._shrink(current, height, width)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _shrink(self, tile: int, height: int, width: int) -> None:
        if self.batch > 1:
            self.notes.append(f"out of GPU memory: batch {self.batch} -> {self.batch // 2}")
            self.batch //= 2
            return
        current = tile or max(height, width)
        smaller = current // 2
        if smaller < MIN_TILE:
            raise EngineError(
                f"out of GPU memory for a {width}x{height} frame even in {current}-pixel tiles; "
                "use --device cpu or free GPU memory"
            )
        self.notes.append(f"out of GPU memory: tiles of {smaller} pixels (was {tile or 'the whole frame'})")
        self.tile_cap = smaller


__all__ = [
    "MIN_TILE", "OomRetry", "bytes_per_output_pixel", "check_host_room", "choose_tile", "default_budget",
    "free_device_memory", "free_host_memory",
]
