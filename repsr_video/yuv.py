"""YUV 4:2:0 planes <-> RGB with torch ops, so a GPU can do the pixel-format conversion.

A 4K 4:2:0 frame is half the bytes of the same frame in RGB: converting on the GPU halves what
crosses PCIe in each direction and takes swscale off the CPU. The matrix and range are the ones the
CPU path uses (repsr_video.colour: AVCOL_SPC_* matrix, AVCOL_RANGE_* range, untagged input resolved
there first), and the arithmetic follows swscale's:
- levels: limited range Y = 16 + 219 Y', C = 128 + 224 P (x4 at 10 bits); full range Y = 255 Y',
  C = 128 + 255 P (1023 and 512 at 10 bits);
- YUV -> RGB: chroma placed as swscale places it (measured): 8-bit input, whose rgb24 conversion
  runs swscale's unscaled converter, repeats each chroma sample over its 2x2 luma pixels; 10-bit
  input, which runs its scaler, repeats horizontally and interpolates rows linearly around the
  chroma site between rows 2k and 2k+1. RGB clamped to [0, 1]. The arithmetic is exact, where
  swscale's fixed-point converters come out about one level darker (measured mean -0.4 to -1.4
  levels per channel at 8 bits, up to -1.8 at 10 bits; at most 3 and 4 levels apart);
- RGB -> YUV: luma per pixel; chroma as swscale's default (bilinear) path makes it: the mean of
  each horizontal pair, then rows filtered 1-3-3-1 around the chroma site between rows 2k and
  2k+1 (edges repeated); rounded to the nearest level.
Measured against PyAV's reformat in tests/test_yuv.py: RGB -> YUV within one level at 8 bits (at
10 bits swscale reads 16-bit RGB as if full scale were 65280, so its luma is up to 0.4 % high:
4 levels at the top); YUV -> RGB within swscale's bias above.
Used by the YUV path (repsr_video/yuv_path.py decides when): the torch engine's `upscale_yuv` turns
the decoder's planes into RGB frames in the RGB path's wire dtype on its device (`planes_to_wire`), runs
its graphs, and turns the result back into planes (`wire_to_planes`). Decoded 10-bit frames differ from
swscale's conversion at sharp chroma edges: swscale's scaler places their chroma by the frame's chroma
location (identical planes in a fresh frame convert as modelled here), so the YUV and RGB paths differ
there by up to ~130 levels of 1023 on a saturated edge (0.6-0.8 % of samples past 16 levels on the
test clips, tests/test_yuv_path.py); 8-bit frames differ by at most 3 levels.

Works on any device; planes are integer tensors, (N,H,W) luma and (N,H/2,W/2) chroma (H and W even),
uint8 for 8-bit and int16 holding 0..1023 for 10-bit (torch's uint16 support is partial).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from repsr_video.backends.graph import WIRE_DTYPES, to_float, to_wire
from repsr_video.errors import InputError
from repsr_video.yuv_layout import YuvLayout

__all__ = ["YuvLayout", "integers_to_torch", "planes_to_host", "planes_to_wire", "rgb_to_yuv420", "wire_format",
           "wire_to_planes", "yuv420_to_rgb"]


def _plane_dtype(bits: int) -> torch.dtype:
    return torch.uint8 if bits == 8 else torch.int16


def _check_even(h: int, w: int) -> None:
    # swscale scales odd-sized chroma by a ratio other than 2 (its filter sites move); such rare
    # frames stay on the CPU path rather than come out slightly different here.
    if h % 2 or w % 2:
        raise InputError(f"YUV 4:2:0 conversion with torch needs an even width and height, got {w}x{h}")


def _upsample_rows(chroma: torch.Tensor, bits: int) -> torch.Tensor:
    """(N,C,h,w) -> (N,C,2h,w): repeated rows (8-bit), or linear around sites between rows (10-bit)."""
    if bits == 8:
        return chroma.repeat_interleave(2, dim=2)
    padded = F.pad(chroma, (0, 0, 1, 1), mode="replicate")
    above, centre, below = padded[:, :, :-2], padded[:, :, 1:-1], padded[:, :, 2:]
    even, odd = 0.75 * centre + 0.25 * above, 0.75 * centre + 0.25 * below
    return torch.stack([even, odd], dim=3).flatten(2, 3)


@functools.cache
def _row_taps(device: torch.device) -> torch.Tensor:
    """The 1-3-3-1 row filter, once per device (built per batch, it was a host-to-device copy each time)."""
    return torch.tensor([1.0, 3.0, 3.0, 1.0], device=device).div_(8).view(1, 1, 4, 1).expand(3, 1, 4, 1)


def _chroma_sites(rgb: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) -> (N,3,H/2,W/2): RGB filtered down to the 4:2:0 chroma sites."""
    pairs = (rgb[..., 0::2] + rgb[..., 1::2]) / 2
    padded = F.pad(pairs, (0, 0, 1, 1), mode="replicate")  # rows -1 .. H
    return F.conv2d(padded, _row_taps(rgb.device), stride=(2, 1), groups=3)


def yuv420_to_rgb(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, layout: YuvLayout) -> torch.Tensor:
    """Planes -> (N,3,H,W) float32 RGB in [0, 1] on the planes' device."""
    if y.dim() != 3 or u.shape != v.shape or u.shape[1:] != (y.shape[1] // 2, y.shape[2] // 2):
        raise InputError(f"YUV 4:2:0 planes do not fit together: Y {tuple(y.shape)}, U {tuple(u.shape)}, V {tuple(v.shape)}")
    _check_even(y.shape[1], y.shape[2])
    y_off, y_scale, c_off, c_scale = layout.levels()
    kr, kb = layout.weights()
    luma = (y.float() - y_off) / y_scale
    chroma = (torch.stack([u, v], dim=1).float() - c_off) / c_scale  # (N,2,h/2,w/2): Pb, Pr
    chroma = _upsample_rows(chroma, layout.bits).repeat_interleave(2, dim=3)
    pb, pr = chroma[:, 0], chroma[:, 1]
    r = luma + 2 * (1 - kr) * pr
    b = luma + 2 * (1 - kb) * pb
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return torch.stack([r, g, b], dim=1).clamp_(0.0, 1.0)


def rgb_to_yuv420(rgb: torch.Tensor, layout: YuvLayout) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N,3,H,W) float RGB in [0, 1] -> (Y, U, V) integer planes of `layout`'s depth."""
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise InputError(f"RGB for YUV conversion must be (N,3,H,W), got {tuple(rgb.shape)}")
    y_off, y_scale, c_off, c_scale = layout.levels()
    kr, kb = layout.weights()
    _check_even(rgb.shape[2], rgb.shape[3])
    rgb = rgb.float().clamp(0.0, 1.0)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    luma = kr * r + (1 - kr - kb) * g + kb * b
    mean = _chroma_sites(rgb)  # chroma is linear in RGB: filter RGB, then take its chroma
    mean_luma = kr * mean[:, 0] + (1 - kr - kb) * mean[:, 1] + kb * mean[:, 2]
    pb = (mean[:, 2] - mean_luma) / (2 * (1 - kb))
    pr = (mean[:, 0] - mean_luma) / (2 * (1 - kr))
    top = float((1 << layout.bits) - 1)
    dtype = _plane_dtype(layout.bits)

    def quantise(values: torch.Tensor, offset: float, scale: float) -> torch.Tensor:
        return torch.round(values * scale + offset).clamp_(0.0, top).to(dtype)

    return quantise(luma, y_off, y_scale), quantise(pb, c_off, c_scale), quantise(pr, c_off, c_scale)


# --- the engine's side of the YUV path (repsr_video/torch_engine.py, Engine.upscale_yuv) ---------------


def wire_format(layout: YuvLayout) -> tuple[torch.dtype, float]:
    """The RGB wire dtype and full scale the RGB path uses for this depth: uint8 (rgb24), 16-bit (rgb48)."""
    return WIRE_DTYPES["uint8" if layout.bits == 8 else "uint16"]


def integers_to_torch(arrays: tuple[np.ndarray, ...]) -> list[torch.Tensor]:
    """uint8 / uint16 numpy arrays as uint8 / int16 tensors (a bit-for-bit view, as on the wire), sharing memory."""
    return [torch.from_numpy(np.ascontiguousarray(a).view(np.int16) if a.dtype == np.uint16 else a) for a in arrays]


def planes_to_host(planes: tuple[torch.Tensor, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer plane tensors (any device) as uint8 / uint16 numpy arrays."""
    y, u, v = (p.cpu().numpy() for p in planes)
    return (y, u, v) if y.dtype == np.uint8 else (y.view(np.uint16), u.view(np.uint16), v.view(np.uint16))


def planes_to_wire(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, layout: YuvLayout) -> torch.Tensor:
    """Planes -> (N,H,W,3) RGB frames in the wire dtype, on the planes' device: what the engine's graphs take."""
    return to_wire(yuv420_to_rgb(y, u, v, layout), *wire_format(layout))


def wire_to_planes(frames: torch.Tensor, layout: YuvLayout) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(N,H,W,3) RGB frames in the wire dtype -> planes of `layout`, on the frames' device."""
    return rgb_to_yuv420(to_float(frames, wire_format(layout)[1]), layout)
