"""Upscale still images: png, jpg, tif, webp, bmp in -> the same kind out (the kind follows OUTPUT's extension).

8-bit images go through Pillow. 16-bit PNG and TIFF are read and written with PyAV's image codecs,
because Pillow reduces 16-bit RGB to 8 bits; they stay 16-bit. Grey images come out grey, palette
images as RGB. An alpha channel is not seen by the network: it is resized with bicubic interpolation
(8-bit) or nearest neighbour (16-bit) and put back. EXIF and ICC profile are kept where the format
can hold them. Output goes through a temporary file and a rename, like video.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.error
import numpy as np
from PIL import Image, UnidentifiedImageError

from repsr_video.errors import InputError, OutputError, describe_error
from repsr_video.media import IMAGE_FORMATS
from repsr_video.output import FileResult, atomic_write, check_output_path, make_parent_folders, remove_stale_partials
from repsr_video.pipeline import ProgressCallback, ProgressEvent, Upscaler, check_frame_fits

_SIXTEEN_BIT_CODECS = {"PNG": ("png", "rgb48be", "rgba64be"), "TIFF": ("tiff", "rgb48le", "rgba64le")}


@dataclass
class Picture:
    rgb: np.ndarray  # (H,W,3) uint8 or uint16
    alpha: np.ndarray | None  # (H,W) same dtype
    grey: bool
    exif: bytes | None = None
    icc: bytes | None = None


def read_image(path: str | Path) -> Picture:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            info = dict(im.info)
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey
                levels = np.asarray(im, dtype=np.uint32).astype(np.uint16)
                return Picture(np.repeat(levels[..., None], 3, axis=2), None, True, info.get("exif"), info.get("icc_profile"))
            if im.format in _SIXTEEN_BIT_CODECS and mode in ("RGB", "RGBA"):
                deep = _read_sixteen_bit(path)
                if deep is not None:
                    return deep
            grey = mode in ("1", "L", "LA")
            has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in info)
            rgba = im.convert("RGBA" if has_alpha else "RGB")
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise InputError(f"{path}: not an image Pillow can read ({describe_error(error)})") from error
    pixels = np.array(rgba)  # writable: the engine may hand it to torch
    alpha = pixels[..., 3].copy() if has_alpha else None
    return Picture(np.ascontiguousarray(pixels[..., :3]), alpha, grey, info.get("exif"), info.get("icc_profile"))


def _read_sixteen_bit(path: Path) -> Picture | None:
    """16-bit RGB(A) PNG/TIFF through PyAV; None if the file is 8-bit after all."""
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
    except (av.error.FFmpegError, StopIteration):
        return None
    fmt = frame.format
    if max(c.bits for c in fmt.components) <= 8:
        return None
    if fmt.has_alpha if hasattr(fmt, "has_alpha") else "a" in fmt.name:
        rgba = frame.to_ndarray(format="rgba64le")
        return Picture(np.ascontiguousarray(rgba[..., :3]), rgba[..., 3].copy(), False)
    return Picture(frame.to_ndarray(format="rgb48le"), None, False)


def _resize_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    if alpha.dtype == np.uint8:
        h, w = alpha.shape
        return np.asarray(Image.fromarray(alpha, "L").resize((w * scale, h * scale), Image.Resampling.BICUBIC))
    return np.repeat(np.repeat(alpha, scale, axis=0), scale, axis=1)


def write_image(path: Path, picture: Picture, kind: str) -> None:
    """Write `picture` as `kind` (a Pillow format name) to `path`."""
    rgb, alpha = picture.rgb, picture.alpha
    if rgb.dtype == np.uint16:
        if kind in _SIXTEEN_BIT_CODECS:
            _write_sixteen_bit(path, picture, kind)
            return
        rgb = (rgb >> 8).astype(np.uint8)  # jpg/webp/bmp have no 16-bit variant
        alpha = None if alpha is None else (alpha >> 8).astype(np.uint8)
    if picture.grey:
        im = Image.fromarray(rgb[..., 0], "L")
        if alpha is not None:
            im = Image.merge("LA", (im, Image.fromarray(alpha, "L")))
    else:
        im = Image.fromarray(rgb, "RGB")
        if alpha is not None:
            im.putalpha(Image.fromarray(alpha, "L"))
    if kind in ("JPEG", "BMP") and im.mode in ("RGBA", "LA"):
        im = im.convert("RGB" if im.mode == "RGBA" else "L")  # these formats have no alpha
    options: dict[str, object] = {}
    if kind in ("JPEG", "WEBP"):
        options["quality"] = 95
    if picture.exif and kind in ("JPEG", "PNG", "TIFF", "WEBP"):
        options["exif"] = picture.exif
    if picture.icc and kind in ("JPEG", "PNG", "TIFF", "WEBP"):
        options["icc_profile"] = picture.icc
    im.save(path, format=kind, **options)


def _write_sixteen_bit(path: Path, picture: Picture, kind: str) -> None:
    codec, rgb_fmt, rgba_fmt = _SIXTEEN_BIT_CODECS[kind]
    if picture.grey and picture.alpha is None:
        im = Image.fromarray(picture.rgb[..., 0].astype(np.uint16), "I;16")
        im.save(path, format=kind)
        return
    if picture.alpha is not None:
        frame = av.VideoFrame.from_ndarray(np.dstack([picture.rgb, picture.alpha]), format="rgba64le").reformat(format=rgba_fmt)
    else:
        frame = av.VideoFrame.from_ndarray(picture.rgb, format="rgb48le").reformat(format=rgb_fmt)
    ctx = cast(av.VideoCodecContext, av.CodecContext.create(codec, "w"))  # png/tiff: image (video) codecs
    ctx.width, ctx.height, ctx.pix_fmt = frame.width, frame.height, frame.format.name
    ctx.time_base = Fraction(1)
    data = b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])
    path.write_bytes(data)


def upscale_image(
    input_path: str | Path,
    output: str | Path,
    engine: Upscaler,
    *,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> FileResult:
    input_path, output = Path(input_path), Path(output)
    start = time.perf_counter()
    kind = IMAGE_FORMATS.get(output.suffix.lower())
    if kind is None:
        suffix = output.suffix or "(none)"
        raise OutputError(f"{output}: unsupported image type {suffix!r}; use one of {', '.join(IMAGE_FORMATS)}")
    check_output_path(input_path, output, overwrite)
    picture = read_image(input_path)
    check_frame_fits(engine, picture.rgb.shape[0], picture.rgb.shape[1], picture.rgb.itemsize)
    if progress:
        progress(ProgressEvent(input_path, 0, 1, 0.0))
    big = engine.upscale(picture.rgb[None])[0]
    alpha = None if picture.alpha is None else _resize_alpha(picture.alpha, engine.scale)
    result = Picture(big, alpha, picture.grey, picture.exif, picture.icc)
    make_parent_folders(output)
    remove_stale_partials(output)
    with atomic_write(output, overwrite=overwrite) as tmp:
        try:
            write_image(tmp, result, kind)
        except (OSError, ValueError, av.error.FFmpegError) as error:
            raise OutputError(f"{output}: cannot be written ({describe_error(error)})") from error
    seconds = time.perf_counter() - start
    if progress:
        progress(ProgressEvent(input_path, 1, 1, seconds))
    return FileResult(input_path, output, "done", 1, seconds)


__all__ = ["Picture", "read_image", "upscale_image", "write_image"]
