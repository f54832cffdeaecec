"""What only runs on a CUDA GPU: pinned transfers, fp16 overflow retry in compiled graphs, uint16
frames, channels_last, CUDA graphs with a short last batch. Skipped without a GPU (marker `cuda`);
benchmarks/gpu_check.sh runs them on a GPU machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine_helpers import fp16_overflowing_net, max_diff, random_frames, reference_upscale, tiny_net
from repsr_video.backends import compiled
from repsr_video.engine import EngineSettings, create_engine_for_network

pytestmark = pytest.mark.cuda


def _smooth(n: int, h: int = 20, w: int = 28, dtype=np.uint8) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    full = 65535 if dtype == np.uint16 else 255
    base = np.stack([x / w, y / h, (x + y) / (w + h)], axis=-1)
    return np.stack([(base * full * (0.4 + 0.6 * i / max(n, 1))).round() for i in range(n)]).astype(dtype)




def test_transfers_use_pinned_host_buffers():
    engine = create_engine_for_network(tiny_net(), EngineSettings(device="cuda", backend="eager", batch=2))
    frames = _smooth(3)
    out = engine.upscale(frames)
    buffers = engine._buffers
    assert buffers is not None and buffers.input.is_pinned() and buffers.output.is_pinned()
    # The result is the caller's own array, not a view of the reused pinned buffer.
    assert not np.shares_memory(out, buffers.output.numpy())
    assert max_diff(out, reference_upscale(tiny_net(), frames)) <= 2


@pytest.mark.parametrize("backend", ["eager", "compile"])
def test_fp16_overflow_is_recomputed_in_fp32(backend, monkeypatch):
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)
    net = fp16_overflowing_net()
    frames = _smooth(3) // 2 + 64
    engine = create_engine_for_network(net, EngineSettings(device="cuda", backend=backend, batch=2))
    out = engine.upscale(frames)
    assert engine.fp32_retries == len(frames)
    assert max_diff(out, reference_upscale(net, frames)) <= 1


@pytest.mark.parametrize("backend", ["eager", "compile"])
def test_uint16_frames_keep_16_bits(backend, monkeypatch):
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)
    net = tiny_net(blocks=2, channels=8)
    frames = _smooth(2, 19, 23, np.uint16)
    frames[0, 0, 0] = 65535  # the top of the range survives the int16 wire format
    engine = create_engine_for_network(net, EngineSettings(device="cuda", backend=backend, batch=2))
    out = engine.upscale(frames)
    assert out.dtype == np.uint16 and out.shape == (2, 38, 46, 3)
    assert max_diff(out, reference_upscale(net, frames)) <= 2 * 257
    assert len(np.unique(out)) > 1024, "16-bit output collapsed to 8-bit levels"


def test_weights_and_activations_run_channels_last():
    engine = create_engine_for_network(tiny_net(blocks=2, channels=8), EngineSettings(device="cuda", backend="eager"))
    convs = [m for m in engine._residual.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert all(c.weight.dtype == torch.float16 and c.weight.is_cuda for c in convs)
    frames = random_frames(2, 17, 13)
    assert max_diff(engine.upscale(frames), reference_upscale(tiny_net(blocks=2, channels=8), frames)) <= 2


def test_cuda_graphs_with_a_short_last_batch_and_earlier_results_kept(monkeypatch):
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)
    net = tiny_net(blocks=2, channels=8)
    engine = create_engine_for_network(net, EngineSettings(device="cuda", backend="compile", batch=4))
    first = _smooth(10)  # batches of 4, 4 and a padded 2
    second = random_frames(3, 20, 28, seed=5)  # same shape, another short batch
    out_first = engine.upscale(first)
    kept = out_first.copy()
    out_second = engine.upscale(second)
    assert engine.backend == "compile", engine.notes
    assert out_first.shape == (10, 40, 56, 3) and out_second.shape == (3, 40, 56, 3)
    np.testing.assert_array_equal(out_first, kept)  # graph replay did not overwrite returned frames
    assert max_diff(out_first, reference_upscale(net, first)) <= 2
    assert max_diff(out_second, reference_upscale(net, second)) <= 2
    third = random_frames(5, 12, 16, seed=6)  # a new frame size: a second graph
    assert max_diff(engine.upscale(third), reference_upscale(net, third)) <= 2


def test_cuda_compiles_after_the_frame_threshold_alone(monkeypatch):
    """The CPU-seconds threshold is for CPU inference: a thread waiting on the GPU accrues little."""
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 4)
    monkeypatch.setattr(compiled, "COMPILE_AFTER_SECONDS", 3600.0)
    net = tiny_net(blocks=2, channels=8)
    engine = create_engine_for_network(net, EngineSettings(device="cuda", backend="compile", batch=2))
    frames = _smooth(2)
    for _ in range(3):
        out = engine.upscale(frames)
    assert engine._runner._ready, engine.notes
    assert max_diff(out, reference_upscale(net, frames)) <= 2
