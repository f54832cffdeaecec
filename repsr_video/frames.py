"""What travels between decoder, engine and encoder: pixels with their timestamps, and the stream facts.

Timestamps travel with the pixels, so batching can never reorder or drop them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import TypeAlias

import numpy as np

from repsr_video.yuv_layout import YuvLayout


@dataclass(frozen=True)
class ColorInfo:
    """Colour description of a video, as FFmpeg AVCOL_* integers (what codec contexts and frames carry).

    `matrix` and `range` are what the YUV<->RGB conversion uses; `guessed` says the input was untagged
    and the matrix/range came from the size policy in `colour.resolve_color`.
    """

    matrix: int  # AVColorSpace (1 BT.709, 5/6 BT.601, 9 BT.2020 NCL, 0 RGB, 2 unspecified)
    range: int  # AVColorRange (1 limited "tv"/MPEG, 2 full "pc"/JPEG)
    primaries: int  # AVColorPrimaries, copied as-is
    trc: int  # AVColorTransferCharacteristic, copied as-is
    guessed: bool = False


@dataclass(frozen=True)
class VideoInfo:
    """Facts about the input video stream, read once when the file opens and at its first frame."""

    path: str
    stream_index: int
    codec: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    time_base: Fraction
    rate: Fraction | None  # guessed frame rate (only a hint for encoders; pts are what count)
    frame_count: int | None  # container's count, or an estimate from duration*rate; None if unknown
    rotation: int  # counter-clockwise degrees from the display matrix (0 if none)
    color: ColorInfo
    sample_aspect_ratio: Fraction | None = None
    interlaced: bool = False  # the first frame is interlaced (deinterlaced with --deinterlace, else a note)
    notes: tuple[str, ...] = ()  # what reading the input noted for the user (e.g. its alpha cannot be read)

    @property
    def high_bit_depth(self) -> bool:
        return self.bit_depth > 8


@dataclass
class FrameBatch:
    """N consecutive frames as one (N,H,W,3) RGB array (uint8, or uint16 full range for >8-bit input).

    pts/durations are in `time_base`, one entry per frame, in presentation order. `alpha` is the
    (N,H,W) alpha plane of the same dtype when the output keeps the input's alpha, else None.
    """

    pixels: np.ndarray
    pts: list[int]
    durations: list[int]
    time_base: Fraction
    first_index: int  # index of the first frame in the whole video
    alpha: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.pixels.ndim != 4 or self.pixels.shape[-1] != 3:
            raise ValueError(f"pixels must be (N,H,W,3), got {self.pixels.shape}")
        _check_stamps(len(self.pixels), self.pts, self.durations)
        if self.alpha is not None and (self.alpha.shape != self.pixels.shape[:3] or self.alpha.dtype != self.pixels.dtype):
            want, got = f"{self.pixels.shape[:3]} {self.pixels.dtype}", f"{self.alpha.shape} {self.alpha.dtype}"
            raise ValueError(f"alpha must be {want}, got {got}")

    def __len__(self) -> int:
        return len(self.pixels)

    @property
    def height(self) -> int:
        return self.pixels.shape[1]

    @property
    def width(self) -> int:
        return self.pixels.shape[2]

    def with_pixels(self, pixels: np.ndarray, alpha: np.ndarray | None = None) -> FrameBatch:
        """The same frames (timestamps untouched) with new pixels and alpha, e.g. the upscaled ones."""
        if len(pixels) != len(self):
            raise ValueError(f"expected {len(self)} frames back, got {len(pixels)}")
        return replace(self, pixels=pixels, alpha=alpha)


def _check_stamps(frames: int, pts: list[int], durations: list[int]) -> None:
    if not (len(pts) == len(durations) == frames):
        raise ValueError("one pts and one duration per frame are required")


def planes_problem(y: np.ndarray, u: np.ndarray, v: np.ndarray, layout: YuvLayout) -> str | None:
    """What is wrong with these 4:2:0 planes for `layout` (see YuvFrameBatch), or None."""
    dtype = np.dtype(np.uint8 if layout.bits == 8 else np.uint16)
    planes = {"Y": y, "U": u, "V": v}
    if not all(isinstance(p, np.ndarray) for p in planes.values()):
        return "4:2:0 planes must be numpy arrays"
    if y.ndim != 3 or y.shape[0] < 1 or y.shape[1] % 2 or y.shape[2] % 2 or y.shape[1] < 2 or y.shape[2] < 2:
        return f"Y must be (N,H,W) with N >= 1 and H, W even, got {y.shape}"
    n, h, w = y.shape
    for name, plane in planes.items():
        shape = (n, h, w) if name == "Y" else (n, h // 2, w // 2)
        if plane.shape != shape or plane.dtype != dtype:
            return f"{name} must be {shape} {dtype} for {layout.bits}-bit 4:2:0, got {plane.shape} {plane.dtype}"
    return None


@dataclass
class YuvFrameBatch:
    """N consecutive frames as their 4:2:0 planes, as decoded (the YUV path, repsr_video/yuv_path.py).

    `y` is (N,H,W), `u` and `v` (N,H/2,W/2) with H and W even; uint8 for 8-bit `layout`, uint16 holding
    the 10-bit values for 10-bit. Timestamps as in FrameBatch; no alpha (the YUV path is not taken then).
    """

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    layout: YuvLayout
    pts: list[int]
    durations: list[int]
    time_base: Fraction
    first_index: int

    def __post_init__(self) -> None:
        problem = planes_problem(self.y, self.u, self.v, self.layout)
        if problem:
            raise ValueError(problem)
        _check_stamps(len(self.y), self.pts, self.durations)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def height(self) -> int:
        return self.y.shape[1]

    @property
    def width(self) -> int:
        return self.y.shape[2]

    def with_planes(self, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> YuvFrameBatch:
        """The same frames (timestamps and layout untouched) with new planes, e.g. the upscaled ones."""
        if len(y) != len(self):
            raise ValueError(f"expected {len(self)} frames back, got {len(y)}")
        return replace(self, y=y, u=u, v=v)


# What the stages pass on for video: RGB (the default path), or 4:2:0 planes (the YUV path).
Frames: TypeAlias = FrameBatch | YuvFrameBatch


@dataclass
class PacketGroup:
    """Packets of the streams that are copied, not decoded, in demux order."""

    packets: list = field(default_factory=list)


@dataclass
class DecodeReport:
    """What the decoder saw; filled in while decoding, final once the stream ends."""

    frames: int = 0
    corrupt_packets: int = 0  # packets the decoder rejected (their frames are lost; said in warnings)
    repaired_pts: int = 0  # frames with a missing or non-increasing pts that were given the next free one
    truncated: bool = False  # demuxing stopped on an error before the end of the file
    warnings: list[str] = field(default_factory=list)
