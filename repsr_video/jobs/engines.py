"""The engine factory for presets: what worker processes and Ray tasks build their engine from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from repsr_video.engine import EngineSettings
from repsr_video.jobs.work import Upscaler


@dataclass(frozen=True)
class PresetEngine:
    """The engine of a preset file, built where it runs (`device` like "cuda:1" picks that GPU)."""

    preset: str  # path of the preset's TOML
    settings: EngineSettings = field(default_factory=EngineSettings)

    def __call__(self, device: str | None = None) -> Upscaler:
        from repsr_video.engine import create_engine
        from repsr_video.preset import read_preset

        settings = self.settings if device is None else replace(self.settings, device=device)
        return create_engine(read_preset(self.preset), settings)

    def fingerprint(self) -> dict:
        """What about the model changes the output: the weights, the precision this device kind runs, and
        the runtime (OpenVINO and torch round differently in their last bits).

        "cuda" and "cuda:N" are taken at their word (the GPUs may be on other hosts than this one)."""
        from repsr_video.engine import default_precision, device_kind, uses_openvino
        from repsr_video.preset import read_preset

        preset = read_preset(self.preset)
        kind = "cuda" if self.settings.device.startswith("cuda") else device_kind(self.settings.device)
        runtime = "openvino" if uses_openvino(self.settings.backend, kind, None, preset.is_foreign) else "torch"
        precision = default_precision(kind, runtime)
        return {"weights_sha256": preset.sha256, "scale": preset.scale, "device": kind, "precision": precision,
                "runtime": runtime}


class LazyEngine:
    """An engine built from `factory` only when this process first upscales with it.

    For a video whose segments all run in worker processes or Ray tasks, the main process then holds
    no model (no GPU memory on a device a worker uses, and a driver without CUDA can send CUDA tasks).
    """

    def __init__(self, factory: PresetEngine, where: str) -> None:
        self._factory = factory
        self._engine: Upscaler | None = None
        from repsr_video.preset import read_preset

        self.scale: int = read_preset(factory.preset).scale  # the TOML only: no model, and no torch, here
        self.where = where  # e.g. "2 worker processes", "Ray (auto)"

    def describe(self) -> str:
        return f"built in each of {self.where}"

    def _built(self) -> Upscaler:
        if self._engine is None:
            self._engine = self._factory()
        return self._engine

    @property
    def batch(self) -> int:
        return self._built().batch

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        return self._built().upscale(frames)
