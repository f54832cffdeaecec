"""What every engine shares, whatever runs the net: input checks, exact tiling sized from the memory budget,
batching with the out-of-memory retry, and reporting. Free of torch, so an OpenVINO run never loads it.

A subclass runs one batch (`_upscale_batch`) and says where and how (`device`, `backend`, `_budget`,
`_runtime_notes`); repsr_video/torch_engine.py and repsr_video/openvino_engine.py are the two.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .budget import OomRetry, check_host_room, choose_tile, default_budget
from .choices import PrecisionName
from .errors import EngineError
from .tiling import upscale_tiled, window_shape

FRAME_DTYPES = ("uint8", "uint16")  # what engines take and return


class TiledEngine:
    """Upscales batches of frames. Attributes: scale, batch, device, backend, precision, weights_key, notes."""

    def __init__(self, scale: int, precision: PrecisionName, key: str, batch: int, halo: int | None, per_pixel: float,
                 tile: int | None, free_cache: Callable[[], None] | None = None,
                 out_of_memory: tuple[type[BaseException], ...] = ()) -> None:
        self.scale = scale
        self.precision = precision
        self.weights_key = key  # which weights (a preset's SHA-256): saved job state is matched on it
        self.fp32_retries = 0  # frames recomputed in fp32 because the low-precision residual overflowed
        self._notes: list[str] = []
        # owns the batch size: halved on the runtime's `out_of_memory` errors (budget.py)
        self._oom = OomRetry(self._run_tiled, batch, free_cache, out_of_memory)
        self._halo = halo  # the net's reach in input pixels (None: unknown, never tiled)
        self._tile_setting = tile
        self._per_pixel = per_pixel  # working bytes per output pixel (repsr_video/budget.py)
        self._tiles: dict[tuple[int, int], int] = {}

    # --- what a subclass provides -------------------------------------------------------------

    @property
    def device(self) -> str:
        raise NotImplementedError

    @property
    def backend(self) -> str:
        raise NotImplementedError

    def _budget(self) -> int:
        return default_budget(None)

    def _runtime_notes(self) -> list[str]:
        return []

    def _upscale_batch(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # --- reporting ----------------------------------------------------------------------------

    @property
    def batch(self) -> int:
        """Frames per call to the runtime (halved after a CUDA out-of-memory error)."""
        return self._oom.batch

    @property
    def notes(self) -> list[str]:
        """Why the engine runs differently from what was asked (fallbacks), for the CLI to show."""
        return self._notes + self._runtime_notes() + self._oom.notes

    def describe(self) -> str:
        return f"{self.backend} on {self.device}, {self.precision}, batch {self.batch}"

    # --- inference ----------------------------------------------------------------------------

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        """(N,H,W,3) uint8 or uint16 RGB -> (N,sH,sW,3) of the same dtype, any N >= 1."""
        if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
            shape = getattr(frames, "shape", None)
            raise EngineError(f"engine input must be an (N,H,W,3) RGB array with N >= 1, got shape {shape}")
        if frames.dtype.name not in FRAME_DTYPES:
            raise EngineError(f"engine input dtype {frames.dtype} is not one of {', '.join(FRAME_DTYPES)}")
        if frames.shape[1] < 1 or frames.shape[2] < 1:
            raise EngineError(f"engine input frames are empty: shape {frames.shape}")
        return self._oom(frames, self.tile_for(frames.shape[1], frames.shape[2]))

    def _run_tiled(self, frames: np.ndarray, tile: int) -> np.ndarray:
        return upscale_tiled(frames, self._upscale_batch, self.scale, tile, self._halo or 0)

    # --- memory -------------------------------------------------------------------------------

    def tile_for(self, height: int, width: int) -> int:
        """Tile side (input pixels) for frames of this size; 0 = whole frames. Raises EngineError
        (one line) when not even the smallest tile fits the memory budget."""
        if (height, width) not in self._tiles:
            self._tiles[height, width] = self._choose_tile(height, width)
        return self._oom.tile_for(self._tiles[height, width], height, width)

    def _choose_tile(self, height: int, width: int) -> int:
        if self._tile_setting is not None:
            if self._tile_setting > 0 and self._halo is None:
                raise EngineError("tiling needs a net whose receptive field is known (a RepSR preset); use --tile 0")
            return self._tile_setting
        if self._halo is None:
            return 0
        return choose_tile(self.batch, height, width, self.scale, self._halo, self._per_pixel, self._budget())

    def working_bytes(self, height: int, width: int) -> int:
        """Estimated working memory of one batch of frames of this size (one window when tiled)."""
        tile = self.tile_for(height, width)
        rows, cols = (height, width) if tile == 0 else window_shape(height, width, tile, self._halo or 0)
        return int(self.batch * rows * cols * self.scale**2 * self._per_pixel)

    def check_frame(self, height: int, width: int, itemsize: int, frames_in_flight: int = 1) -> None:
        """Refuse, before any work and in one line, frames that cannot be upscaled in this machine's memory:
        their pixels (input and output of `frames_in_flight` frames) or even their smallest tile."""
        working = self.working_bytes(height, width) if self.device == "cpu" else 0
        check_host_room(max(frames_in_flight, self.batch), height, width, self.scale, itemsize, working)
