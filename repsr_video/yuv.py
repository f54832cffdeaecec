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
Not yet wired into the engine's CUDA path: the decoder still hands over RGB from swscale.

Works on any device; planes are integer tensors, (N,H,W) luma and (N,H/2,W/2) chroma (H and W even),
uint8 for 8-bit and int16 holding 0..1023 for 10-bit (torch's uint16 support is partial).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from repsr_video.errors import InputError

# AVColorSpace -> (Kr, Kb): the luma weights of red and blue, as swscale's matrices use them.
_KR_KB = {
    1: (0.2126, 0.0722),  # BT.709
    4: (0.30, 0.11),  # FCC
    5: (0.299, 0.114),  # BT.470BG
    6: (0.299, 0.114),  # SMPTE 170M (BT.601)
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 NCL
    10: (0.2627, 0.0593),  # BT.2020 CL: swscale has only the NCL matrix
}
AVCOL_RANGE_JPEG = 2


@dataclass(frozen=True)
class YuvLayout:
    """How the integers of a 4:2:0 frame map to RGB: AVCOL_SPC matrix, AVCOL_RANGE range, bit depth."""

    matrix: int
    color_range: int
    bits: int = 8

    def __post_init__(self) -> None:
        if self.bits not in (8, 10):
            raise InputError(f"YUV conversion on the GPU handles 8- and 10-bit 4:2:0, not {self.bits}-bit")

    @property
    def full_range(self) -> bool:
        return self.color_range == AVCOL_RANGE_JPEG

    def levels(self) -> tuple[float, float, float, float]:
        """(luma offset, luma scale, chroma offset, chroma scale) in this depth's integer levels."""
        step = 1 << (self.bits - 8)
        if self.full_range:
            top = float((1 << self.bits) - 1)
            return 0.0, top, 128.0 * step, top
        return 16.0 * step, 219.0 * step, 128.0 * step, 224.0 * step

    def weights(self) -> tuple[float, float]:
        return _KR_KB.get(self.matrix, _KR_KB[1])  # like colour.sws_matrix: BT.709 where swscale has none


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


def _chroma_sites(rgb: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) -> (N,3,H/2,W/2): RGB filtered down to the 4:2:0 chroma sites."""
    pairs = (rgb[..., 0::2] + rgb[..., 1::2]) / 2
    padded = F.pad(pairs, (0, 0, 1, 1), mode="replicate")  # rows -1 .. H
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0], device=rgb.device).div_(8).view(1, 1, 4, 1).expand(3, 1, 4, 1)
    return F.conv2d(padded, taps, stride=(2, 1), groups=3)


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
