"""Inference backends for the engine: eager, torch.compile and torch-tensorrt.

Each backend turns a `FrameGraph` (integer frames in, integer frames out) into a callable that
satisfies `Backend`; the engine owns batching, host/device transfers and the fp32 retry of batches
that overflow in half precision.
"""

from .base import Backend

__all__ = ["Backend"]
