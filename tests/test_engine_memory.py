"""The engine's tiling, memory budget and out-of-memory retries, and device names."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine_helpers import random_frames, tiny_net
from repsr_video import torch_engine as engine_module
from repsr_video.engine import EngineSettings, create_engine_for_network, resolve_device
from repsr_video.errors import EngineError
from repsr_video.network import SRNet
from repsr_video.pipeline import check_frame_fits


def eager_fp32(net: SRNet, **settings) -> engine_module.Engine:
    return create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", **settings), precision="fp32")


def test_tile_setting_gives_the_untiled_result():
    net = tiny_net(2, blocks=2, channels=32, seed=3)
    frames = random_frames(2, 121, 97)
    tiled, whole = eager_fp32(net, tile=24), eager_fp32(net, tile=0)
    assert tiled.tile_for(121, 97) == 24 and whole.tile_for(121, 97) == 0
    assert np.array_equal(tiled.upscale(frames), whole.upscale(frames))


def test_the_budget_decides_the_tile(monkeypatch):
    net = tiny_net(4, blocks=1, channels=8)
    monkeypatch.setattr(engine_module, "default_budget", lambda device: 40 << 20)
    engine = eager_fp32(net)
    assert engine.tile_for(100, 100) == 0  # 160000 output pixels fit 40 MB
    tile = engine.tile_for(2000, 3000)
    assert 16 <= tile < 2000 and engine.working_bytes(2000, 3000) <= 40 << 20
    frames = random_frames(1, 150, 90)
    monkeypatch.setattr(engine_module, "default_budget", lambda device: 8 << 20)
    small = eager_fp32(net)
    assert 0 < small.tile_for(150, 90) < 150
    assert np.array_equal(small.upscale(frames), eager_fp32(net, tile=0).upscale(frames))


def test_a_frame_that_cannot_fit_is_refused_before_any_work(monkeypatch):
    monkeypatch.setattr(engine_module, "default_budget", lambda device: 1000)
    engine = eager_fp32(tiny_net(2))
    with pytest.raises(EngineError, match=r"a 640x480 frame cannot be upscaled x2 here"):
        check_frame_fits(engine, 480, 640, 1)


def test_a_segmented_run_refuses_such_a_frame_before_any_work(monkeypatch, tmp_path):
    from media_factory import make_video
    from repsr_video.jobs import job_dir_for
    from repsr_video.pipeline import upscale_video

    clip = make_video(tmp_path / "in.mkv", frames=4, width=64, height=48)
    monkeypatch.setattr(engine_module, "default_budget", lambda device: 1000)
    with pytest.raises(EngineError, match=r"a 64x48 frame cannot be upscaled x2 here"):
        upscale_video(clip, tmp_path / "out.mkv", eager_fp32(tiny_net(2)))
    assert not (tmp_path / "out.mkv").exists() and not job_dir_for(tmp_path / "out.mkv").exists()


def test_pixels_beyond_free_memory_are_refused(monkeypatch):
    from repsr_video import budget

    monkeypatch.setattr(budget, "free_host_memory", lambda: 1 << 30)
    engine = eager_fp32(tiny_net(4), tile=256)
    engine.check_frame(1000, 1000, 1)
    with pytest.raises(EngineError, match=r"a 20000x20000 frame upscaled x4 needs 20\.4 GB of memory for its pixels"):
        engine.check_frame(20000, 20000, 1)


def test_out_of_memory_in_the_engine_halves_and_keeps_every_frame(monkeypatch):
    net = tiny_net(2, blocks=1, channels=8)
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", batch=4, tile=0), precision="fp32")
    reference = eager_fp32(net, tile=0)
    real = engine._upscale_batch

    def small_gpu(frames):
        if frames.shape[0] * frames.shape[1] * frames.shape[2] > 100 * 100:  # windows never go below ~91x91
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
        return real(frames)

    monkeypatch.setattr(engine, "_upscale_batch", small_gpu)
    monkeypatch.setattr(engine._oom, "_free_cache", lambda: None)
    frames = random_frames(5, 150, 200)
    assert np.array_equal(engine.upscale(frames), reference.upscale(frames))
    assert engine.batch == 1 and engine.tile_for(150, 200) > 0
    assert any("out of GPU memory" in note for note in engine.notes)


def test_a_net_of_unknown_reach_is_never_tiled(monkeypatch):
    monkeypatch.setattr(engine_module, "receptive_radius", lambda net: None)  # as for a foreign architecture
    monkeypatch.setattr(engine_module, "default_budget", lambda device: 1 << 20)
    assert eager_fp32(tiny_net(2)).tile_for(10000, 10000) == 0
    with pytest.raises(EngineError, match="tiling needs a net whose receptive field is known"):
        eager_fp32(tiny_net(2), tile=64).tile_for(1000, 1000)


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "cuda:-1", "cpu:0", 1])
def test_device_names(bad):
    with pytest.raises(EngineError, match="is not one of 'auto', 'cpu', 'cuda' or 'cuda:N'"):
        EngineSettings(device=bad)
    EngineSettings(device="cuda:1")  # valid as a name; resolving checks the GPU


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_a_cuda_index_without_a_gpu_is_one_line():
    with pytest.raises(EngineError, match=r"device 'cuda:1' was requested but torch .* sees no CUDA GPU; use --device cpu"):
        resolve_device("cuda:1")


@pytest.mark.cuda
def test_a_cuda_index_beyond_the_gpus_is_refused():
    count = torch.cuda.device_count()
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(EngineError, match=f"torch sees {count} CUDA GPU"):
        resolve_device(f"cuda:{count}")


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_tile_values(bad):
    with pytest.raises(EngineError, match="tile .* must be a whole number >= 0"):
        EngineSettings(tile=bad)
