"""The engine factory for presets: what worker processes and Ray tasks build their engine from."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

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
        """What about the model changes the output: the weights, and the precision this device kind runs.

        "cuda" and "cuda:N" are taken at their word (the GPUs may be on other hosts than this one)."""
        import torch

        from repsr_video.engine import default_precision, resolve_device
        from repsr_video.preset import read_preset

        preset = read_preset(self.preset)
        wants_cuda = self.settings.device.startswith("cuda")
        device = torch.device("cuda") if wants_cuda else resolve_device(self.settings.device)
        precision = default_precision(device)
        return {"weights_sha256": preset.sha256, "scale": preset.scale, "device": device.type, "precision": precision}
