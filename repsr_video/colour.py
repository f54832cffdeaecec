"""Colour policy: which YUV<->RGB matrix and range a video uses, and how swscale is told about it.

The decoder converts to RGB with the matrix and range read from the input; the encoders convert back
with the plan's and tag the output with the same values, so players do not re-guess from the (larger)
output size. Values are FFmpeg's AVCOL_* integers, what codec contexts and frames carry.

Untagged input: matrix BT.709 when the frame is HD (width >= 1280 or height >= 720), otherwise BT.601;
range limited, except full for the yuvj* formats. RGB input written as YUV gets the matrix the same
rule picks for the upscaled size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from repsr_video.frames import ColorInfo, Frames, VideoInfo, YuvFrameBatch
from repsr_video.yuv_path import planes_to_frames

AVCOL_SPC_RGB, AVCOL_SPC_BT709, AVCOL_SPC_SMPTE170M, AVCOL_SPC_UNSPECIFIED = 0, 1, 6, 2
AVCOL_RANGE_UNSPECIFIED, AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG = 0, 1, 2

# AVColorSpace -> the swscale matrix that implements it.
_SWS_MATRIX = {
    1: Colorspace.ITU709,
    4: Colorspace.FCC,
    5: Colorspace.ITU601,  # BT470BG
    6: Colorspace.ITU601,  # SMPTE170M
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,  # BT2020 NCL
    10: Colorspace.BT2020,  # BT2020 CL (swscale has only the NCL matrix)
}


def sws_matrix(matrix: int) -> Colorspace:
    """The swscale matrix for an AVColorSpace value (BT.709 for ones swscale lacks, e.g. YCgCo)."""
    return _SWS_MATRIX.get(matrix, Colorspace.ITU709)


def sws_range(color_range: int) -> ColorRange:
    return ColorRange.JPEG if color_range == AVCOL_RANGE_JPEG else ColorRange.MPEG


def conversion_args(color: ColorInfo, side: Literal["src", "dst"]) -> dict[str, Any]:
    """swscale's arguments for the YUV side ("src" when decoding, "dst" when encoding) of an RGB
    conversion with `color`'s matrix and range; none for RGB video, which needs no matrix."""
    if color.matrix == AVCOL_SPC_RGB:
        return {}
    return {f"{side}_colorspace": sws_matrix(color.matrix), f"{side}_color_range": sws_range(color.range)}


def rgb_format(high_bit_depth: bool) -> str:
    """The packed RGB format frames travel in between the stages: 8 or 16 bits per channel."""
    return "rgb48le" if high_bit_depth else "rgb24"


def to_output_frames(batch: Frames, pix_fmt: str, color: ColorInfo) -> Iterator[av.VideoFrame]:
    """The batch's RGB (and alpha, if any) frames in `pix_fmt`, converted with `color`'s matrix and range,
    timestamps kept; 4:2:0 planes (the YUV path) are written into the frames as they are."""
    if isinstance(batch, YuvFrameBatch):
        yield from planes_to_frames(batch, pix_fmt, color)
        return
    deep = batch.pixels.dtype == np.uint16
    rgb = rgb_format(deep)
    args = conversion_args(color, "dst")
    for i in range(len(batch)):
        if batch.alpha is None:
            frame = av.VideoFrame.from_ndarray(batch.pixels[i], format=rgb)
        else:  # the same conversion, with the alpha plane carried along
            rgba = np.dstack([batch.pixels[i], batch.alpha[i]])
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba64le" if deep else "rgba")
        frame = frame.reformat(format=pix_fmt, **args)
        frame.pts, frame.duration, frame.time_base = batch.pts[i], batch.durations[i], batch.time_base
        yield frame


def is_rgb_format(pix_fmt: str) -> bool:
    return av.VideoFormat(pix_fmt).is_rgb or pix_fmt.startswith(("gbr", "rgb", "bgr"))


def bit_depth(pix_fmt: str) -> int:
    return max(c.bits for c in av.VideoFormat(pix_fmt).components)


def resolve_color(pix_fmt: str, width: int, height: int, matrix: int, color_range: int, primaries: int, trc: int) -> ColorInfo:
    """Apply the policy for untagged input (see the module docstring) and return what to use."""
    if is_rgb_format(pix_fmt):
        return ColorInfo(AVCOL_SPC_RGB, AVCOL_RANGE_JPEG, primaries, trc)
    guessed = False
    if matrix not in _SWS_MATRIX:
        matrix = AVCOL_SPC_BT709 if (width >= 1280 or height >= 720) else AVCOL_SPC_SMPTE170M
        guessed = True
    if color_range not in (AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG):
        color_range = AVCOL_RANGE_JPEG if pix_fmt.startswith("yuvj") else AVCOL_RANGE_MPEG
        guessed = True
    return ColorInfo(matrix, color_range, primaries, trc, guessed)


def output_color(info: VideoInfo, rgb_output: bool) -> ColorInfo:
    """What the output is converted with and tagged as: the input's colour, RGB for an RGB codec, and
    for RGB input into YUV the matrix the untagged-input rule picks at twice the input size."""
    if rgb_output:
        return ColorInfo(AVCOL_SPC_RGB, AVCOL_RANGE_JPEG, info.color.primaries, info.color.trc)
    if info.color.matrix == AVCOL_SPC_RGB:
        return resolve_color(
            "yuv444p", info.width * 2, info.height * 2, AVCOL_SPC_UNSPECIFIED, AVCOL_RANGE_UNSPECIFIED,
            info.color.primaries, info.color.trc,
        )
    return info.color
