"""The OpenVINO engine: a RepSR net on the CPU through OpenVINO, without torch (repsr_video/engine.py builds it).

Frames go to OpenVINO as the integer arrays the decoder gives and come back as integer arrays: the
conversions, the net, the skip and the rounding are one graph (repsr_video/backends/openvino.py).
bf16 (the default on CPUs with bf16 instructions) runs only the residual in bf16; a batch whose
residual is not finite everywhere is recomputed in fp32, as the torch engine does.
"""

from __future__ import annotations

import numpy as np

from .backends.openvino import OpenVINORunner, default_threads
from .budget import bytes_per_output_pixel
from .choices import PrecisionName
from .engine_base import TiledEngine
from .plain_net import PlainNet


class OpenVINOEngine(TiledEngine):
    """Satisfies the same interface as the torch Engine (see TiledEngine); batch 1 by default, as on CPU."""

    def __init__(self, net: PlainNet, precision: PrecisionName, key: str, batch: int = 1, tile: int | None = None,
                 threads: int | None = None) -> None:
        per_pixel = bytes_per_output_pixel(net.channels, net.scale)  # torch's measured bound; OpenVINO needs less
        super().__init__(net.scale, precision, key, batch, net.radius, per_pixel, tile)
        self._threads = threads or default_threads()
        self._runner = OpenVINORunner(net, precision, self._threads)
        self._net = net
        self._retry: OpenVINORunner | None = None  # fp32, built at the first batch that needs it

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def backend(self) -> str:
        return "openvino"

    def _upscale_batch(self, frames: np.ndarray) -> np.ndarray:
        out, finite = self._runner(frames)
        if not finite and self.precision != "fp32":
            self._retry = self._retry or OpenVINORunner(self._net, "fp32", self._threads)
            self.fp32_retries += frames.shape[0]
            out, _ = self._retry(frames)
        return out
