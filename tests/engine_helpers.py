"""Tiny nets, random frames and the reference upscale shared by the engine and TensorRT backend tests."""

from __future__ import annotations

import numpy as np
import torch

from repsr_video.network import SRNet


def tiny_net(scale=2, blocks=1, channels=4, seed=0) -> SRNet:
    torch.manual_seed(seed)
    net = SRNet(scale, blocks, channels).eval()
    with torch.no_grad():  # small random residual, like a trained net
        net.tail.weight.mul_(0.3)
    return net


def fp16_overflowing_net() -> SRNet:
    """A net whose fp32 output is ordinary but whose hidden activations exceed fp16's 65504."""
    net = tiny_net(blocks=1, channels=4)
    with torch.no_grad():
        net.head.weight.fill_(400.0)  # 27 taps x 400 x ~0.5 = ~5400 in the head
        net.head.bias.zero_()
        net.body[0].weight.fill_(20.0)  # 36 taps x 20 x ~5400 = ~3.9e6 in the body: inf in fp16
        net.body[0].bias.zero_()
        net.tail.weight.fill_(1e-8)  # ... brought back to ~1e-1 by the tail
        net.tail.bias.zero_()
    return net


def reference_upscale(net: SRNet, frames: np.ndarray) -> np.ndarray:
    """SRNet's own forward in fp32, clamped and rounded: what every engine must reproduce."""
    full = 65535.0 if frames.dtype == np.uint16 else 255.0
    x = torch.from_numpy(frames.astype(np.float32)).permute(0, 3, 1, 2) / full
    with torch.no_grad():
        y = net(x).clamp(0, 1).mul(full).round().permute(0, 2, 3, 1).numpy()
    return y.astype(frames.dtype)


def random_frames(n, h, w, dtype=np.uint8, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = 65536 if dtype == np.uint16 else 256
    return rng.integers(0, top, (n, h, w, 3)).astype(dtype)


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


def failing_compile(message: str):
    """A stand-in for torch.compile whose compiled function raises `message` when called, as a C++ or
    Inductor error does at the first call."""

    def compile_(module, **kwargs):
        def run(*args):
            raise RuntimeError(message)

        return run

    return compile_
