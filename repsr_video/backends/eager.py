"""Plain PyTorch execution of a FrameGraph: no warm-up, works on every device and shape."""

from __future__ import annotations

import torch

from .graph import FrameGraph


class EagerBackend:
    """Satisfies `Backend`; never falls back, so its note stays empty."""

    name = "eager"

    def __init__(self, graphs: dict[torch.dtype, FrameGraph]) -> None:
        self.graphs = graphs  # one FrameGraph per wire dtype (uint8, int16)
        self.note = ""

    def current_name(self) -> str:
        return self.name

    def notes(self) -> list[str]:
        return [self.note] if self.note else []

    def __call__(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.inference_mode():
            return self.graphs[raw.dtype](raw)
