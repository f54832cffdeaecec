"""`--degrade video`: make low-resolution patches look like real decoded video.

Mild Gaussian blur and noise, then a real H.264 or HEVC round trip through PyAV at a random CRF
(with 4:2:0 chroma, as nearly all delivered video is). A whole batch is tiled into one mosaic and
encoded once: opening an encoder costs more than encoding a small frame, so this keeps the data
workers ahead of the training step on a small CPU. Tiles are multiples of the codec's block size
where the patch allows, so little leaks across tile borders.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import cast

import av
import numpy as np
from PIL import Image, ImageFilter

# (encoder, decoder, CRF range): the CRFs span "good streaming" to "visibly compressed".
_CODECS = (("libx264", "h264", (18, 36)), ("libx265", "hevc", (20, 36)))
_H264_SHARE = 0.6


def blur_and_noise(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur (sigma 0.2-1.2) with probability 1/2, Gaussian noise (sigma 0-4 of 255) with 1/2."""
    out = patch
    if rng.random() < 0.5:
        radius = float(rng.uniform(0.2, 1.2))
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(radius)))
    if rng.random() < 0.5:
        sigma = float(rng.uniform(0.0, 4.0))
        noisy = out.astype(np.float32) + rng.normal(0.0, sigma, out.shape).astype(np.float32)
        out = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
    return out


def _mosaic(patches: list[np.ndarray]) -> tuple[np.ndarray, int]:
    count = len(patches)
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    h, w = patches[0].shape[:2]
    # 4:2:0 needs even frame sizes and libx265 refuses very small frames (16x8 fails): pad the
    # mosaic by edge replication to even sizes of at least 64.
    height, width = max(64, rows * h + (rows * h) % 2), max(64, columns * w + (columns * w) % 2)
    canvas = np.zeros((height, width, 3), np.uint8)
    for i, patch in enumerate(patches):
        r, c = divmod(i, columns)
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = patch
    canvas[rows * h :, :] = canvas[rows * h - 1 : rows * h, :]
    canvas[:, columns * w :] = canvas[:, columns * w - 1 : columns * w]
    return canvas, columns


def codec_round_trip(image: np.ndarray, encoder: str, decoder: str, crf: int) -> np.ndarray:
    """Encode one RGB frame as yuv420p with `encoder` at `crf`, decode it back to RGB."""
    context = cast(av.VideoCodecContext, av.CodecContext.create(encoder, "w"))
    context.width, context.height = image.shape[1], image.shape[0]
    context.pix_fmt = "yuv420p"
    context.time_base = Fraction(1, 25)
    options = {"crf": str(crf), "preset": "veryfast"}
    if encoder == "libx265":
        options["x265-params"] = "log-level=error"
    context.options = options
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(format="yuv420p")
    packets = list(context.encode(frame)) + list(context.encode(None))
    decoding = cast(av.VideoCodecContext, av.CodecContext.create(decoder, "r"))
    frames = []
    for packet in packets:
        frames.extend(decoding.decode(packet))
    frames.extend(decoding.decode(None))
    if len(frames) != 1:
        raise RuntimeError(f"{encoder} round trip gave {len(frames)} frames instead of 1")
    return frames[0].to_ndarray(format="rgb24")


def degrade_video_batch(patches: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Blur/noise each LR patch, then compress the batch with one codec at one random CRF."""
    patches = [blur_and_noise(p, rng) for p in patches]
    encoder, decoder, (low, high) = _CODECS[0] if rng.random() < _H264_SHARE else _CODECS[1]
    crf = int(rng.integers(low, high + 1))
    canvas, columns = _mosaic(patches)
    decoded = codec_round_trip(canvas, encoder, decoder, crf)
    h, w = patches[0].shape[:2]
    out = []
    for i in range(len(patches)):
        r, c = divmod(i, columns)
        out.append(np.ascontiguousarray(decoded[r * h : (r + 1) * h, c * w : (c + 1) * w]))
    return out
