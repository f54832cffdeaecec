"""repsr_video.yuv against FFmpeg's swscale (PyAV's reformat, with the decoder's/encoders' colour
arguments): 4:2:0 at 8 and 10 bits, BT.601 / BT.709 / BT.2020, limited and full range.

RGB -> YUV agrees within one level at 8 bits (at 10 bits within swscale's 0.4 % luma gain).
YUV -> RGB: swscale's fixed-point converters come out about a level darker than the exact formulas
(measured, see repsr_video/yuv.py), so there the torch code is held to an exact float64 reference
written here, and to swscale within that bias. A wrong matrix, range or chroma placement is off by
tens of levels in either."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from repsr_video.colour import conversion_args
from repsr_video.errors import InputError
from repsr_video.frames import ColorInfo
from repsr_video.yuv import YuvLayout, rgb_to_yuv420, yuv420_to_rgb

LAYOUTS = [(1, 1), (6, 1), (1, 2), (9, 1), (6, 2)]  # (AVCOL_SPC matrix, AVCOL_RANGE range)


def _formats(bits: int) -> tuple[str, str, np.dtype]:
    return ("yuv420p", "rgb24", np.uint8) if bits == 8 else ("yuv420p10le", "rgb48le", np.uint16)


def _picture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus noise and a few saturated patches: values over the whole RGB cube."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / w, y / h, 1 - (x + y) / (w + h)], axis=-1)
    image = np.clip(base + rng.normal(0, 0.15, (h, w, 3)), 0, 1)
    image[: h // 4, : w // 4] = [1.0, 0.0, 0.0]
    image[-h // 4 :, -w // 4 :] = [0.0, 0.0, 1.0]
    return image


def _planes(frame: av.VideoFrame, dtype) -> list[np.ndarray]:
    out = []
    for plane in frame.planes:
        width = plane.line_size // np.dtype(dtype).itemsize
        out.append(np.frombuffer(plane, dtype=dtype).reshape(plane.height, width)[:, : plane.width].copy())
    return out


def _sws_args(matrix: int, color_range: int, side: str) -> dict:
    return conversion_args(ColorInfo(matrix, color_range, 2, 2), side)


@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize("matrix, color_range", LAYOUTS)
@pytest.mark.parametrize("h, w", [(48, 64), (36, 22)])
def test_rgb_to_yuv_matches_swscale(bits, matrix, color_range, h, w):
    if bits == 10 and w % 16:
        # swscale's rgb48 -> yuv420p10 reads past the row for widths that are not a multiple of 16:
        # the same frame converted 300 times gave 3 different outputs at 22 and 24 px, 1 at 32 and 64.
        w = w + 16 - w % 16
    yuv_fmt, rgb_fmt, dtype = _formats(bits)
    full = np.iinfo(dtype).max
    rgb = np.round(_picture(h, w) * full).astype(dtype)
    frame = av.VideoFrame.from_ndarray(rgb, format=rgb_fmt).reformat(format=yuv_fmt, **_sws_args(matrix, color_range, "dst"))
    expected = _planes(frame, dtype)
    x = torch.from_numpy(rgb.astype(np.float32) / full).permute(2, 0, 1)[None]
    ours = rgb_to_yuv420(x, YuvLayout(matrix, color_range, bits))
    # 10-bit: swscale scales 16-bit RGB as if its full scale were 65280 (measured luma gain 1.004),
    # so its luma is up to 4 levels high at the top of the range.
    tolerance = 1 if bits == 8 else 5
    for name, mine, theirs in zip("YUV", ours, expected, strict=True):
        difference = mine[0].numpy().astype(np.int64) - theirs.astype(np.int64)
        assert difference.shape == theirs.shape, name
        assert np.abs(difference).max() <= tolerance, f"{name} plane differs by more than {tolerance} level(s)"
        assert abs(difference.mean()) <= 2


@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize("matrix, color_range", LAYOUTS)
@pytest.mark.parametrize("h, w", [(48, 64), (36, 22)])
def test_yuv_to_rgb_matches_swscale(bits, matrix, color_range, h, w):
    yuv_fmt, rgb_fmt, dtype = _formats(bits)
    # Planes as a real decoder gives them: a picture converted by swscale, so chroma is plausible.
    source = np.round(_picture(h, w, seed=1) * np.iinfo(dtype).max).astype(dtype)
    args = _sws_args(matrix, color_range, "dst")
    frame = av.VideoFrame.from_ndarray(source, format=rgb_fmt).reformat(format=yuv_fmt, **args)
    back = frame.reformat(format=rgb_fmt, **_sws_args(matrix, color_range, "src")).to_ndarray()
    y, u, v = (torch.from_numpy(p.astype(np.int16 if bits == 10 else np.uint8))[None] for p in _planes(frame, dtype))
    ours = yuv420_to_rgb(y, u, v, YuvLayout(matrix, color_range, bits))
    levels = 255 if bits == 8 else 1023
    mine = ours[0].permute(1, 2, 0).double().numpy() * levels
    assert mine.shape == back.shape
    exact = _exact_rgb(*(p.astype(np.float64) for p in _planes(frame, dtype)), matrix, color_range, bits)
    assert np.abs(mine - exact).max() <= 1e-3
    swscale = back.astype(np.float64) * levels / np.iinfo(dtype).max
    difference = mine - swscale
    assert np.abs(difference).max() <= (3 if bits == 8 else 4)
    assert 0 <= difference.mean() <= 2  # swscale is darker by its rounding bias, never lighter


def _exact_rgb(y, u, v, matrix, color_range, bits) -> np.ndarray:
    """The BT formulas in float64 with swscale's chroma placement (see repsr_video/yuv.py)."""
    kr, kb = {1: (0.2126, 0.0722), 6: (0.299, 0.114), 9: (0.2627, 0.0593)}[matrix]
    step = 2 ** (bits - 8)
    top = 2**bits - 1
    y_off, y_scale, c_scale = (0, top, top) if color_range == 2 else (16 * step, 219 * step, 224 * step)
    if bits == 8:
        u, v = (np.repeat(c, 2, axis=0) for c in (u, v))
    else:
        def rows(c):
            p = np.pad(c, ((1, 1), (0, 0)), mode="edge")
            out = np.empty((2 * c.shape[0], c.shape[1]))
            out[0::2], out[1::2] = 0.75 * c + 0.25 * p[:-2], 0.75 * c + 0.25 * p[2:]
            return out
        u, v = rows(u), rows(v)
    u, v = np.repeat(u, 2, axis=1), np.repeat(v, 2, axis=1)
    luma, pb, pr = (y - y_off) / y_scale, (u - 128 * step) / c_scale, (v - 128 * step) / c_scale
    r, b = luma + 2 * (1 - kr) * pr, luma + 2 * (1 - kb) * pb
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 1) * top


def test_round_trip_stays_close_on_smooth_pictures():
    layout = YuvLayout(1, 1, 8)
    rgb = torch.from_numpy(_picture(32, 32, seed=2).astype(np.float32)).permute(2, 0, 1)[None]
    rgb = torch.nn.functional.avg_pool2d(rgb, 5, stride=1, padding=2, count_include_pad=False)  # smooth: chroma survives 4:2:0
    back = yuv420_to_rgb(*rgb_to_yuv420(rgb, layout), layout)
    assert (back - rgb).abs().mean() < 0.02


def test_bad_planes_sizes_and_depths_are_one_line_errors():
    y = torch.zeros(1, 4, 6, dtype=torch.uint8)
    with pytest.raises(InputError, match="do not fit"):
        yuv420_to_rgb(y, torch.zeros(1, 2, 2, dtype=torch.uint8), torch.zeros(1, 2, 3, dtype=torch.uint8), YuvLayout(1, 1))
    with pytest.raises(InputError, match="even width and height, got 5x4"):
        rgb_to_yuv420(torch.zeros(1, 3, 4, 5), YuvLayout(1, 1))
    with pytest.raises(InputError, match="12-bit"):
        YuvLayout(1, 1, 12)


@pytest.mark.cuda
def test_gpu_conversion_equals_cpu():
    layout = YuvLayout(1, 1, 10)
    rgb = torch.from_numpy(_picture(36, 50).astype(np.float32)).permute(2, 0, 1)[None]
    cpu = rgb_to_yuv420(rgb, layout)
    gpu = rgb_to_yuv420(rgb.cuda(), layout)
    for a, b in zip(cpu, gpu, strict=True):
        assert (a.int() - b.cpu().int()).abs().max() <= 1
    back_cpu, back_gpu = yuv420_to_rgb(*cpu, layout), yuv420_to_rgb(*(p.cuda() for p in cpu), layout)
    assert (back_cpu - back_gpu.cpu()).abs().max() < 1e-5
