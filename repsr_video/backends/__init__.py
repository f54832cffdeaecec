"""Inference backends: eager, torch.compile and torch-tensorrt for the torch engine, and OpenVINO.

Each torch backend turns a `FrameGraph` (integer frames in, integer frames out) into a callable that
satisfies `Backend`; the engine owns batching, host/device transfers and the fp32 retry of batches
that overflow in half precision. openvino.py builds the same computation as an OpenVINO graph and
imports no torch, so this package loads torch only when a torch backend is asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Backend"]


def __getattr__(name: str) -> Any:
    if name == "Backend":
        from .base import Backend

        return Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
