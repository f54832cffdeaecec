"""The OpenVINO engine: what `auto` picks on CPU where OpenVINO is installed, the same frames as torch, no torch loaded."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
import torch

from engine_helpers import max_diff, random_frames, reference_upscale
from interop_helpers import photo
from media_factory import make_video, video_frames
from repsr_video.backends import openvino as ov_backend
from repsr_video.engine import EngineSettings, create_engine_for_network, uses_openvino
from repsr_video.errors import EngineError
from repsr_video.network import SRNet

needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO not installed")


def trained_like_net(scale: int = 2, blocks: int = 3, channels: int = 32, seed: int = 0) -> SRNet:
    """Random weights with real non-linearities (per-channel PReLU slopes of both signs) and a small
    residual, like a trained net; 32 channels so oneDNN's blocked kernels are the ones that run."""
    torch.manual_seed(seed)
    net = SRNet(scale, blocks, channels).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.PReLU):
                module.weight.uniform_(-0.5, 0.5)
        net.tail.weight.mul_(0.3)
    return net


def engine(net: SRNet, backend: str = "auto", precision: str = "fp32", tile: int | None = None):
    return create_engine_for_network(net, EngineSettings(device="cpu", backend=backend, batch=1, tile=tile),
                                     precision=precision)


@needs_openvino
@pytest.mark.parametrize("scale", [2, 4])
def test_auto_runs_openvino_and_matches_torch_fp32_on_a_photo(scale):
    net = trained_like_net(scale)
    frames = photo(96, 128)
    eng = engine(net)
    assert eng.backend == "openvino" and not eng.notes
    out = eng.upscale(frames)
    ref = reference_upscale(net, frames)
    assert out.shape == ref.shape and out.dtype == np.uint8
    assert max_diff(out, ref) <= 1  # float sums in another order: a last-bit difference may round the other way
    assert np.mean(out != ref) < 1e-3


@needs_openvino
def test_uint16_frames_keep_16_bits():
    net = trained_like_net()
    frames = random_frames(2, 40, 56, dtype=np.uint16)
    out = engine(net).upscale(frames)
    assert out.dtype == np.uint16
    assert max_diff(out, reference_upscale(net, frames)) <= 1
    # the full 16-bit range survives (an int16 wire read as signed would fold the top half negative)
    assert out.max() > 60000


@needs_openvino
def test_bf16_keeps_the_skip_exact_and_the_residual_close():
    net = trained_like_net()
    frames = photo(64, 96, "chelsea")
    eng = engine(net, precision="bf16")
    assert eng.backend == "openvino" and eng.precision == "bf16"
    out = eng.upscale(frames)
    ref = reference_upscale(net, frames)
    assert max_diff(out, ref) <= 3  # as the torch backends in bf16 (benchmarks/bf16_quality.py)
    # only the residual is in bf16: with a zero residual the output is the exact nearest-neighbour upscale
    with torch.no_grad():
        net.tail.weight.zero_()
        net.tail.bias.zero_()
    flat = engine(net, precision="bf16").upscale(frames)
    assert np.array_equal(flat, frames.repeat(2, axis=1).repeat(2, axis=2))


@needs_openvino
def test_tiled_equals_untiled():
    net = trained_like_net(blocks=2)
    frames = photo(150, 170)
    whole = engine(net, backend="openvino", tile=0).upscale(frames)
    tiled = engine(net, backend="openvino", tile=48).upscale(frames)
    assert max_diff(whole, tiled) == 0


@needs_openvino
def test_one_compiled_graph_per_shape_and_dtype():
    eng = engine(trained_like_net(channels=8))
    for shape in [(1, 20, 30, 3), (1, 20, 30, 3), (1, 22, 30, 3)]:
        eng.upscale(np.zeros(shape, np.uint8))
    eng.upscale(np.zeros((1, 20, 30, 3), np.uint16))
    assert len(eng._runner._requests) == 3


def test_auto_falls_back_to_torch_without_openvino(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(ov_backend.importlib.util, "find_spec", lambda name: None if name == "openvino" else real(name))
    eng = engine(trained_like_net(channels=8))
    assert eng.backend in ("compile", "eager")
    with pytest.raises(EngineError, match=r"OpenVINO is not installed .*repsr-video\[openvino\]"):
        engine(trained_like_net(channels=8), backend="openvino")


def test_openvino_refuses_what_it_cannot_run():
    net = trained_like_net(channels=8)
    with pytest.raises(EngineError, match="runs fp32 or bf16, not fp16"):
        engine(net, backend="openvino", precision="fp16")
    # auto with fp16 on CPU is not an error: torch runs it
    assert engine(net, precision="fp16").backend in ("compile", "eager")
    with pytest.raises(EngineError, match="runs on the CPU, not cuda"):
        uses_openvino("openvino", "cuda")
    with pytest.raises(EngineError, match="RepSR presets only"):
        uses_openvino("openvino", "cpu", foreign=True)
    assert not uses_openvino("auto", "cuda") and not uses_openvino("auto", "cpu", foreign=True)


@needs_openvino
def test_a_batch_that_is_not_finite_is_recomputed_in_fp32(monkeypatch):
    net = trained_like_net(channels=8)
    eng = engine(net, precision="bf16")
    frames = photo(32, 48)
    real_runner = eng._runner

    def overflowing(batch):
        out, _ = real_runner(batch)
        return np.zeros_like(out), False  # what an overflowed low-precision residual reports

    monkeypatch.setattr(eng, "_runner", overflowing)
    out = eng.upscale(frames)
    assert eng.fp32_retries == 1
    assert np.array_equal(out, engine(net, backend="openvino", precision="fp32").upscale(frames))


NO_TORCH_RUN = """
import sys
import numpy as np
from repsr_video.engine import EngineSettings, create_engine
from repsr_video.preset import load_preset
engine = create_engine(load_preset("general-x2-fast"), EngineSettings(device="auto"))
out = engine.upscale(np.zeros((1, 24, 32, 3), np.uint8))
print(engine.backend, out.shape, "torch" in sys.modules)
"""

NO_TORCH_CLI = """
import sys
from repsr_video.cli import main
code = main([sys.argv[1], sys.argv[2], "--quiet"])
print(code, "torch" in sys.modules)
"""


@needs_openvino
@pytest.mark.skipif(any(__import__("os").path.exists(f) for f in ("/dev/nvidiactl", "/dev/kfd", "/dev/dxg")),
                    reason="a GPU machine asks torch whether the GPU is usable")
def test_a_cpu_run_on_openvino_never_imports_torch(tmp_path):
    """import torch alone costs 1.5-2 s here: more than upscaling an image on OpenVINO."""
    ran = subprocess.run([sys.executable, "-c", NO_TORCH_RUN], capture_output=True, text=True, check=True)
    assert ran.stdout.split() == ["openvino", "(1,", "48,", "64,", "3)", "False"], ran.stderr
    from PIL import Image

    Image.fromarray(photo(40, 60)[0]).save(tmp_path / "in.png")
    ran = subprocess.run([sys.executable, "-c", NO_TORCH_CLI, str(tmp_path / "in.png"), str(tmp_path / "out.png")],
                         capture_output=True, text=True, check=True)
    assert ran.stdout.split() == ["0", "False"], ran.stderr
    assert Image.open(tmp_path / "out.png").size == (120, 80)
    # a video too: decoder, engine, encoder and the segmented job around them
    clip = make_video(tmp_path / "in.mkv", frames=6, audio_tracks=1)
    ran = subprocess.run([sys.executable, "-c", NO_TORCH_CLI, str(clip), str(tmp_path / "out.mkv")],
                         capture_output=True, text=True, check=True)
    assert ran.stdout.split() == ["0", "False"], ran.stderr
    assert len(video_frames(tmp_path / "out.mkv")[0]) == 6


@needs_openvino
def test_an_openvino_failure_is_one_engine_error_line(monkeypatch):
    eng = engine(trained_like_net(channels=8))

    def failing(shape, frame_type):
        raise RuntimeError("Exception from src/inference/src/cpp/core.cpp:112:\nstd::bad_alloc\n")

    monkeypatch.setattr(eng._runner, "_request", failing)
    with pytest.raises(EngineError, match=r"^OpenVINO could not upscale 1 48x32 frame\(s\): Exception from .*--tile N") as caught:
        eng.upscale(np.zeros((1, 32, 48, 3), np.uint8))
    assert "\n" not in str(caught.value)


SIGNAL_AFTER_ENGINES = """
import gc, signal
import numpy as np
from repsr_video.engine import EngineSettings, create_engine_for_network
from repsr_video.network import SRNet
engines = [create_engine_for_network(SRNet(2, 1, 4).eval(), EngineSettings(device="cpu", backend="openvino")) for _ in range(2)]
for engine in engines:
    engine.upscale(np.zeros((1, 16, 16, 3), np.uint8))
first, second = engines
del engines, engine
del first; gc.collect()  # destroyed in creation order, not the reverse
del second; gc.collect()
signal.signal(signal.SIGUSR1, lambda *_: print("handled"))
signal.raise_signal(signal.SIGUSR1)
print("alive")
"""


@needs_openvino
def test_signals_still_work_after_engines_come_and_go():
    """Each OpenVINO Core's CPU plugin swaps the thread's alternate signal stack; with a Core per engine,
    engines freed in creation order left an unmapped stack and the next signal handler was a SIGSEGV."""
    ran = subprocess.run([sys.executable, "-c", SIGNAL_AFTER_ENGINES], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and ran.stdout.split() == ["handled", "alive"], (ran.returncode, ran.stderr[-1000:])
