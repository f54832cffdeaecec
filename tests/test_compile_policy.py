"""The compile backend's warm-up policy: nothing of Inductor for short inputs, compilation in the
background while frames flow eagerly, weights really frozen, failures in the background handled."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from engine_helpers import failing_compile, max_diff, random_frames, reference_upscale, tiny_net
from repsr_video.backends import compiled
from repsr_video.engine import EngineSettings, create_engine_for_network


def _needs_compiler():
    problem = compiled.compiler_problem(torch.device("cpu"))
    if problem:
        pytest.skip(f"no C++ compiler for torch.compile: {problem}")


def test_an_image_neither_compiles_nor_imports_inductor():
    """Importing Inductor alone costs seconds: a single frame must not pay for it."""
    code = (
        "import sys, numpy as np\n"
        "from repsr_video.engine import EngineSettings, create_engine_for_network\n"
        "from repsr_video.network import SRNet\n"
        "engine = create_engine_for_network(SRNet(2, 1, 4).eval(), EngineSettings(device='cpu'))\n"
        "engine.upscale(np.zeros((1, 8, 8, 3), np.uint8))\n"
        "print(engine.backend, 'torch._inductor' in sys.modules, 'torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout + out.stderr


def test_short_streams_stay_eager(monkeypatch):
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 3)
    monkeypatch.setattr(compiled, "COMPILE_AFTER_SECONDS", 3600.0)  # never earned within this test
    monkeypatch.setattr(compiled, "_Job", lambda *a, **k: pytest.fail("a compile was started"))
    engine = create_engine_for_network(tiny_net(), EngineSettings(device="cpu", backend="compile"), precision="fp32")
    for _ in range(6):
        engine.upscale(random_frames(1, 6, 6))
    assert engine.backend == "compile" and not engine.notes


def _upscale_until_ready(engine, frames, reference, limit_s=300.0) -> int:
    """Upscale until the background compile took over; every result along the way must be right."""
    calls, start = 0, time.perf_counter()
    while not engine._runner._ready:
        assert time.perf_counter() - start < limit_s, "the background compile did not finish"
        assert max_diff(engine.upscale(frames), reference) <= 1
        calls += 1
        if engine._runner.failed:
            break
        time.sleep(0.05)
    return calls


def test_background_compile_takes_over_and_freezes_the_weights(monkeypatch):
    _needs_compiler()
    from torch._dynamo.utils import counters

    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 2)
    monkeypatch.setattr(compiled, "COMPILE_AFTER_SECONDS", 0.0)
    net = tiny_net(blocks=2, channels=8)
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile"), precision="fp32")
    frames = random_frames(1, 12, 10)
    reference = reference_upscale(net, frames)
    import torch._inductor.config as inductor_config

    before = counters["inductor"]["pattern_matcher_count"]
    with inductor_config.patch(force_disable_caches=True):  # a cache hit would skip the passes counted below
        calls = _upscale_until_ready(engine, frames, reference)
    assert calls >= 3, "frames did not keep flowing while compiling"
    assert not engine.notes and engine.backend == "compile"
    assert max_diff(engine.upscale(frames), reference) <= 1  # now through the compiled graph
    # Freezing ran: its weight-packing patterns matched (without it none of them fire).
    assert counters["inductor"]["pattern_matcher_count"] > before


def test_a_failing_background_compile_falls_back_with_a_note(monkeypatch):
    monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 1)
    monkeypatch.setattr(compiled, "COMPILE_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(torch, "compile", failing_compile("InductorError: C++ compile error (test)"))
    net = tiny_net()
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile"), precision="fp32")
    frames = random_frames(1, 7, 9)
    reference = reference_upscale(net, frames)
    for _ in range(50):
        assert max_diff(engine.upscale(frames), reference) <= 1
        if engine._runner.failed:
            break
        time.sleep(0.02)
    assert engine.backend == "eager"
    assert any("C++ compile error" in note for note in engine.notes)


def test_a_process_that_ends_during_a_background_compile_exits_cleanly(tmp_path):
    """Exiting mid-compile aborted the process (SIGABRT) before compiles were cancelled at exit."""
    _needs_compiler()
    code = (
        "import numpy as np\n"
        "from repsr_video.backends import compiled\n"
        "from repsr_video.engine import EngineSettings, create_engine_for_network\n"
        "from repsr_video.network import SRNet\n"
        "compiled.COMPILE_AFTER_FRAMES, compiled.COMPILE_AFTER_SECONDS = 1, 0.0\n"
        "engine = create_engine_for_network(SRNet(2, 2, 8).eval(), EngineSettings(device='cpu', backend='compile'))\n"
        "for _ in range(3):\n"
        "    engine.upscale(np.zeros((1, 24, 24, 3), np.uint8))\n"
        "print('jobs running at exit:', len(compiled._running))\n"
    )
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path)}  # cold: the compile is still running at exit
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "terminate called" not in done.stderr
    assert "jobs running at exit: 1" in done.stdout


def test_inductor_cache_follows_the_repsr_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("REPSR_VIDEO_CACHE", str(tmp_path))
    assert compiled.inductor_cache_dir() == tmp_path / "inductor"
