"""What the engine needs of a backend: one declared interface, so it never asks "which kind are you?"."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Backend(Protocol):
    """Runs the whole per-batch computation: integer NHWC frames -> (upscaled frames, all-finite flag).

    A backend that can fall back to another one (TensorRT -> compile -> eager) says so through
    `current_name()` and `notes()`, which include its fallback's; the engine reports only these.
    """

    name: str  # the backend this is ("eager", "compile", "tensorrt"), whatever it runs now
    note: str  # why this backend runs differently from what was asked ("" when it does not)

    def current_name(self) -> str:
        """The backend that actually runs the next batch (a failed backend names its fallback)."""
        ...

    def notes(self) -> list[str]:
        """This backend's note and its fallback's, the ones that are not empty."""
        ...

    def __call__(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...
