"""The YUV path (repsr_video/yuv_path.py): 4:2:0 planes from the decoder through Engine.upscale_yuv into the
encoder, forced on here on CPU; compared with an independent reference built from repsr_video/yuv.py and
the net's own forward, and with the RGB path (swscale on both sides).

Measured on these clips (64x48 x2, FFV1 so nothing is lost after the engine; tiny random net, fp32):
YUV path against the reference 0 levels (the bound is 1). Against the RGB path, 8-bit: at most 3 levels,
mean 0.6-0.7 (yuv.py's exact YUV->RGB against swscale's fixed point, ~1 level darker, and back).
10-bit: mean 1.3-2.4 levels (of 1023), but up to 132 at the saturated square's edges (0.6-0.8 % of the
samples more than 16 apart): for decoded 10-bit
frames swscale places chroma by the frame's chroma location (its scaler path; identical planes in a fresh
frame convert differently), while yuv.py repeats chroma horizontally. The 10-bit bounds below are
therefore on the mean and on the share of samples more than 16 levels apart.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from engine_helpers import fp16_overflowing_net, reference_upscale, tiny_net
from media_factory import NearestEngine, make_video
from repsr_video.decoder import VideoDecoder
from repsr_video.engine import EngineSettings, create_engine_for_network
from repsr_video.errors import EngineError, OutputError
from repsr_video.frames import FrameBatch, YuvFrameBatch
from repsr_video.output_plan import EncodeSettings, plan_output
from repsr_video.pipeline import upscale_video
from repsr_video.yuv import YuvLayout, rgb_to_yuv420, yuv420_to_rgb
from repsr_video.yuv_path import refusal, yuv_layout

# name -> (make_video arguments, the layout colour.py resolves for it)
CLIPS = {
    "untagged-8bit": ({}, YuvLayout(6, 1, 8)),  # small and untagged: BT.601, limited
    "bt709-full-8bit": ({"color": (1, 2, 1, 1)}, YuvLayout(1, 2, 8)),
    "yuvj420p": ({"pix_fmt": "yuvj420p"}, YuvLayout(6, 2, 8)),
    "bt2020-10bit": ({"pix_fmt": "yuv420p10le", "color": (9, 1, 9, 16)}, YuvLayout(9, 1, 10)),
    "bt601-full-10bit": ({"pix_fmt": "yuv420p10le", "color": (6, 2, 6, 6)}, YuvLayout(6, 2, 10)),
}
FRAMES = 7  # batches of 2: the last one is partial


class Counting:
    """The engine, counting which path each batch took."""

    def __init__(self, engine) -> None:
        self.engine, self.scale, self.batch, self.device = engine, engine.scale, engine.batch, engine.device
        self.rgb_calls = self.yuv_calls = 0

    def tile_for(self, height: int, width: int) -> int:
        return self.engine.tile_for(height, width)

    def upscale(self, frames):
        self.rgb_calls += 1
        return self.engine.upscale(frames)

    def upscale_yuv(self, y, u, v, layout):
        self.yuv_calls += 1
        return self.engine.upscale_yuv(y, u, v, layout)


@pytest.fixture(scope="module")
def net():
    return tiny_net()


@pytest.fixture(scope="module")
def engine(net):
    return create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", batch=2), precision="fp32")


def _planes(frame: av.VideoFrame) -> list[np.ndarray]:
    dtype = np.uint16 if frame.format.name.endswith("10le") else np.uint8
    return [np.frombuffer(memoryview(p), dtype).reshape(p.height, -1)[:, : p.width].copy() for p in frame.planes]


def _read(path: Path) -> tuple[tuple, list[int], list[list[np.ndarray]]]:
    """(pix_fmt and colour tags of the video stream, pts, planes of every frame)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        tags = (ctx.pix_fmt, ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc)
        frames = list(container.decode(stream))
    return tags, [f.pts for f in frames], [_planes(f) for f in frames]


def _reference(net, planes: list[np.ndarray], layout: YuvLayout) -> list[np.ndarray]:
    """yuv.py to RGB in the RGB path's wire depth, the net's own fp32 forward, yuv.py back."""
    deep = layout.bits == 10
    y, u, v = (torch.from_numpy(p.astype(np.int16) if deep else p)[None] for p in planes)
    full = 65535 if deep else 255
    rgb = torch.round(yuv420_to_rgb(y, u, v, layout) * full).permute(0, 2, 3, 1).numpy().astype(np.uint16 if deep else np.uint8)
    big = torch.from_numpy(reference_upscale(net, rgb).astype(np.float32) / full).permute(0, 3, 1, 2)
    return [p[0].numpy().astype(np.uint16 if deep else np.uint8) for p in rgb_to_yuv420(big, layout)]


def _differences(a: list[list[np.ndarray]], b: list[list[np.ndarray]]) -> np.ndarray:
    return np.concatenate([np.abs(x.astype(np.int64) - y.astype(np.int64)).ravel() for fa, fb in zip(a, b, strict=True)
                           for x, y in zip(fa, fb, strict=True)])


@pytest.mark.parametrize("name", CLIPS)
def test_yuv_path_against_reference_and_rgb_path(name, net, engine, tmp_path):
    arguments, layout = CLIPS[name]
    src = make_video(tmp_path / "in.mkv", frames=FRAMES, **arguments)
    runs = {}
    for mode in ("on", "off"):
        counting = Counting(engine)
        out = tmp_path / f"{mode}.mkv"
        result = upscale_video(src, out, counting, encode=EncodeSettings(codec="ffv1", yuv_path=mode))
        assert result.frames == FRAMES
        assert (counting.yuv_calls > 0, counting.rgb_calls > 0) == (mode == "on", mode == "off")
        runs[mode] = _read(out)
    (tags, pts, planes), (rgb_tags, rgb_pts, rgb_planes) = runs["on"], runs["off"]
    _, in_pts, in_planes = _read(src)
    assert pts == rgb_pts == in_pts and len(planes) == FRAMES
    assert tags == rgb_tags and tags[1:3] == (layout.matrix, layout.color_range)
    assert planes[0][0].shape == (96, 128) and planes[0][1].shape == (48, 64)
    reference = [_reference(net, p, layout) for p in in_planes]
    assert _differences(planes, reference).max() <= 1
    versus_rgb = _differences(planes, rgb_planes)
    if layout.bits == 8:
        assert versus_rgb.max() <= 4 and versus_rgb.mean() <= 1
    else:  # see the module docstring: swscale sites 10-bit chroma by the frame's chroma location
        assert versus_rgb.mean() <= 4 and np.mean(versus_rgb > 16) < 0.02


def test_one_pass_with_the_ffmpeg_encoder_writes_the_planes(net, engine, tmp_path):
    _, layout = CLIPS["bt2020-10bit"]
    src = make_video(tmp_path / "in.mkv", frames=5, pix_fmt="yuv420p10le", color=(9, 1, 9, 16))
    counting = Counting(engine)
    upscale_video(src, tmp_path / "out.mkv", counting, encode=EncodeSettings(codec="ffv1", encoder="ffmpeg", yuv_path="on"))
    tags, pts, planes = _read(tmp_path / "out.mkv")
    _, in_pts, in_planes = _read(src)
    assert counting.yuv_calls > 0 and counting.rgb_calls == 0
    assert pts == in_pts and tags[:3] == ("yuv420p10le", 9, 1)
    assert _differences(planes, [_reference(net, p, layout) for p in in_planes]).max() <= 1


def test_decoder_hands_over_the_planes_with_the_same_timestamps(tmp_path):
    src = make_video(tmp_path / "vfr.mkv", frames=5, pts=[0, 40, 90, 100, 300], time_base=Fraction(1, 1000))
    layout = YuvLayout(6, 1, 8)
    with VideoDecoder(src, copy_streams=False) as decoder:
        rgb = [b for b in decoder.batches(2) if isinstance(b, FrameBatch)]
    with VideoDecoder(src, copy_streams=False) as decoder:
        decoder.yuv_layout = layout
        yuv = [b for b in decoder.batches(2) if isinstance(b, YuvFrameBatch)]
    assert [(b.pts, b.durations, b.first_index, b.time_base) for b in yuv] == [
        (b.pts, b.durations, b.first_index, b.time_base) for b in rgb
    ]
    _, _, planes = _read(src)
    assert all(b.layout == layout for b in yuv)
    for got, want in zip((p for b in yuv for p in zip(b.y, b.u, b.v, strict=True)), planes, strict=True):
        assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


def _plan(src: Path, out: Path, **settings):
    with VideoDecoder(src, copy_streams=False) as decoder:
        info = decoder.info
    return info, plan_output(info, 2, out, EncodeSettings(**settings))


def test_the_path_is_taken_only_where_the_formats_allow(engine, tmp_path):
    plain = make_video(tmp_path / "plain.mkv", frames=2)
    info, plan = _plan(plain, tmp_path / "o.mkv", yuv_path="on")
    assert refusal(engine, info, plan) is None and yuv_layout(engine, info, plan) == YuvLayout(6, 1, 8)
    info, auto = _plan(plain, tmp_path / "o.mkv")
    assert "CUDA" in refusal(engine, info, auto) and yuv_layout(engine, info, auto) is None  # default on a CPU engine
    _, off = _plan(plain, tmp_path / "o.mkv", yuv_path="off")
    assert refusal(engine, info, off) == "yuv_path is off"
    assert "upscale_yuv" in refusal(NearestEngine(2, 2), info, plan)
    tiled = create_engine_for_network(tiny_net(), EngineSettings(device="cpu", backend="eager", tile=16))
    assert "tiles" in refusal(tiled, info, plan)
    _, other = _plan(plain, tmp_path / "o.mkv", yuv_path="on", pix_fmt="yuv444p")
    assert "yuv444p" in refusal(engine, info, other)
    for pix_fmt in ("yuv422p", "yuv444p"):
        src = make_video(tmp_path / f"{pix_fmt}.mkv", frames=2, pix_fmt=pix_fmt)
        info, plan = _plan(src, tmp_path / "o.mkv", yuv_path="on")
        assert plan.pix_fmt == pix_fmt and "not 4:2:0" in refusal(engine, info, plan)
    deep = make_video(tmp_path / "deep.mkv", frames=2, pix_fmt="yuv420p10le")
    info, eight_bit = _plan(deep, tmp_path / "o.mp4", yuv_path="on")  # H.264 in .mp4: written as 8-bit
    assert eight_bit.pix_fmt == "yuv420p" and "not yuv420p10le" in refusal(engine, info, eight_bit)
    # auto on a GPU engine: 8-bit takes the path, 10-bit only when forced on (its chroma siting differs)
    on_gpu = Counting(engine)
    on_gpu.device = "cuda"
    info, auto = _plan(plain, tmp_path / "o.mkv")
    assert refusal(on_gpu, info, auto) is None
    info, auto = _plan(deep, tmp_path / "o.mkv", codec="ffv1")
    assert auto.pix_fmt == "yuv420p10le" and "10-bit" in refusal(on_gpu, info, auto)
    assert refusal(on_gpu, info, _plan(deep, tmp_path / "o.mkv", codec="ffv1", yuv_path="on")[1]) is None


def test_alpha_keeps_the_rgb_path(engine, tmp_path):
    src = make_video(tmp_path / "alpha.mkv", frames=3, codec="ffv1", pix_fmt="yuva420p")
    info, plan = _plan(src, tmp_path / "o.mkv", codec="ffv1", yuv_path="on")
    assert plan.alpha and refusal(engine, info, plan) is not None
    counting = Counting(engine)
    upscale_video(src, tmp_path / "out.mkv", counting, encode=EncodeSettings(codec="ffv1", yuv_path="on"))
    assert counting.yuv_calls == 0 and counting.rgb_calls > 0


def test_bad_planes_and_settings_are_one_line_errors(engine):
    layout = YuvLayout(1, 1, 8)
    y, c = np.zeros((1, 4, 6), np.uint8), np.zeros((1, 2, 3), np.uint8)
    assert [p.shape for p in engine.upscale_yuv(y, c, c, layout)] == [(1, 8, 12), (1, 4, 6), (1, 4, 6)]
    with pytest.raises(EngineError, match="U must be"):
        engine.upscale_yuv(y, np.zeros((1, 2, 2), np.uint8), c, layout)
    with pytest.raises(EngineError, match="for 10-bit"):
        engine.upscale_yuv(y, c, c, YuvLayout(1, 1, 10))  # 10-bit planes are uint16
    with pytest.raises(OutputError, match="--yuv-path 'gpu'"):
        EncodeSettings(yuv_path="gpu")  # type: ignore[arg-type]




def _plane_set(n: int, h: int, w: int, layout: YuvLayout, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    step, dtype = (1, np.uint8) if layout.bits == 8 else (4, np.uint16)
    y = rng.integers(16 * step, 236 * step, (n, h, w))
    u, v = (rng.integers(16 * step, 241 * step, (n, h // 2, w // 2)) for _ in range(2))
    return y.astype(dtype), u.astype(dtype), v.astype(dtype)


@pytest.mark.parametrize("bits", [8, 10])
def test_fp16_overflow_is_recomputed_in_fp32_on_the_yuv_path(bits):
    net = fp16_overflowing_net()
    layout = YuvLayout(1, 1, bits)
    planes = _plane_set(3, 8, 10, layout)
    fp16 = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", batch=2), precision="fp16")
    fp32 = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", batch=2), precision="fp32")
    out = fp16.upscale_yuv(*planes, layout)
    assert fp16.fp32_retries == 3
    assert _differences([list(out)], [list(fp32.upscale_yuv(*planes, layout))]).max() <= 1


def test_out_of_memory_on_the_yuv_path_keeps_every_frame(net, monkeypatch):
    """A batch that runs out of GPU memory goes through `upscale`, which halves the batch; the frames after
    it must still all come back (simulated on CPU: the device path and one host batch raise OOM)."""
    layout = YuvLayout(1, 1, 8)
    planes = _plane_set(8, 8, 10, layout)
    small = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", batch=4), precision="fp32")
    expected = small.upscale_yuv(*planes, layout)
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", batch=4), precision="fp32")
    real_batch = engine._upscale_batch
    calls = {"n": 0}

    def device_out_of_memory(*args):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")

    def host_out_of_memory_once(frames):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
        return real_batch(frames)

    monkeypatch.setattr(engine, "_upscale_planes", device_out_of_memory)
    monkeypatch.setattr(engine, "_upscale_batch", host_out_of_memory_once)
    out = engine.upscale_yuv(*planes, layout)
    assert engine.batch == 2 and [len(p) for p in out] == [8, 8, 8]
    assert all(np.array_equal(a, b) for a, b in zip(out, expected, strict=True))


@pytest.mark.cuda
@pytest.mark.parametrize("bits", [8, 10])
def test_cuda_yuv_path(bits, net, engine, tmp_path):
    """On a GPU: upscale_yuv against the CPU engine, and a default (auto) run takes the path."""
    layout = YuvLayout(1, 1, bits)
    planes = _plane_set(5, 36, 50, layout)
    gpu = create_engine_for_network(net, EngineSettings(device="cuda", backend="eager", batch=2))
    out = gpu.upscale_yuv(*planes, layout)
    assert _differences([list(out)], [list(engine.upscale_yuv(*planes, layout))]).max() <= 2  # fp16 residual
    src = make_video(tmp_path / "in.mkv", frames=FRAMES, **({"pix_fmt": "yuv420p10le"} if bits == 10 else {}))
    for backend in ("eager", "compile"):
        counting = Counting(create_engine_for_network(net, EngineSettings(device="cuda", backend=backend, batch=2)))
        upscale_video(src, tmp_path / f"{backend}.mkv", counting, encode=EncodeSettings(codec="ffv1"))
        # auto takes it for 8-bit input only (10-bit chroma siting differs from swscale's; yuv_path.py)
        assert (counting.yuv_calls > 0 and counting.rgb_calls == 0) if bits == 8 else counting.yuv_calls == 0
        _, pts, _ = _read(tmp_path / f"{backend}.mkv")
        assert pts == _read(src)[1]
