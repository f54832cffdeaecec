"""Training data: images and video frames decoded once into memory as HR/LR picture pairs.

The low-resolution image is PIL's antialiased bicubic downscale (the MATLAB-imresize convention SR
papers report against), computed once per whole image. Flips and 90-degree rotations commute with
that downscale, so a batch (train/patches.py) is only slicing plus the augmentation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from PIL import Image

from repsr_video.errors import InputError
from repsr_video.frames import FrameBatch
from repsr_video.media import is_image, is_video

Degrade = Literal["bicubic", "video"]
DEGRADES: tuple[Degrade, ...] = get_args(Degrade)


@dataclass(frozen=True)
class Picture:
    """One high-resolution ground-truth image (a photo, or one frame of a clip) and its LR version."""

    name: str  # source file, plus "#frame" for video frames
    source: str  # the file it came from (frames of one clip share it)
    hr: np.ndarray  # (H, W, 3) uint8, H and W multiples of the scale
    lr: np.ndarray  # (H/s, W/s, 3) uint8
    # The downscale of the transposed HR: PIL resizes one axis after the other with 8-bit
    # rounding and clipping in between, so transposing does not commute with it exactly
    # (flips do). Kept so rotated patches are exact too.
    lr_t: np.ndarray | None = None


@dataclass
class DataSummary:
    """What a run was trained on, for the preset's [data] table and the report."""

    sources: list[str] = field(default_factory=list)
    images: int = 0
    clips: int = 0
    frames: int = 0
    skipped: list[str] = field(default_factory=list)  # unreadable or too small, with the reason
    prescale: float = 1.0
    train_pictures: int = 0
    train_megapixels: float = 0.0
    validation: list[str] = field(default_factory=list)

    def as_table(self) -> dict[str, object]:
        return {
            "images": self.images,
            "clips": self.clips,
            "video_frames": self.frames,
            "prescale": self.prescale,
            "train_pictures": self.train_pictures,
            "train_megapixels": round(self.train_megapixels, 2),
            "sources": [str(s) for s in self.sources][:200],
            "skipped": len(self.skipped),
            "validation": self.validation[:50],
        }


# --- finding and decoding media -------------------------------------------------------------


def media_kind(path: Path) -> Literal["image", "video"] | None:
    """By suffix, with the lists the upscaler uses (repsr_video.media)."""
    if is_image(path):
        return "image"
    if is_video(path):
        return "video"
    return None


def find_media(paths: Iterable[Path | str]) -> list[Path]:
    """Expand folders (recursively, sorted) into image and video files; files given are taken as is."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and media_kind(p) is not None)
            if not inside:
                raise InputError(f"{path}: folder holds no image or video file")
            found.extend(inside)
        elif path.is_file():
            if media_kind(path) is None:
                raise InputError(f"{path}: not an image or video file repsr-video trains on "
                                 f"(unknown suffix {path.suffix or 'none'})")
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return found


def read_image(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3); raises InputError naming the file if it cannot be decoded."""
    try:
        with Image.open(path) as opened:
            opened.load()
            image: Image.Image = opened
            if image.mode not in ("RGB", "L"):
                image = image.convert("RGBA") if "A" in image.getbands() or image.mode == "P" else image
                if image.mode == "RGBA":
                    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                    image = Image.alpha_composite(background, image)
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise InputError(f"{path}: cannot read image ({error})") from None


def sample_video_frames(path: Path, count: int) -> list[np.ndarray]:
    """`count` RGB uint8 frames spread evenly over the clip (fewer if it is shorter), via the project's decoder."""
    from repsr_video.decoder import VideoDecoder

    with VideoDecoder(path, copy_streams=False) as decoder:
        total = decoder.info.frame_count
        if not total:
            total = _count_video_packets(path)
        wanted = set(np.linspace(0, max(0, total - 1), min(count, total)).round().astype(int).tolist())
        frames: list[np.ndarray] = []
        last = None
        for batch in decoder.batches(8):
            if not isinstance(batch, FrameBatch):  # other streams' packets (none here: copy_streams=False)
                continue
            for offset, rgb in enumerate(batch.pixels):
                if batch.first_index + offset in wanted:
                    frames.append(_to_uint8(rgb))
                last = rgb
        if len(frames) < min(count, total) and last is not None and not any(f is last for f in frames):
            frames.append(_to_uint8(last))  # the container over-stated its length: keep the true last frame
    if not frames:
        raise InputError(f"{path}: no frame could be decoded")
    return frames


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype == np.uint16:  # >8-bit sources come as full-range 16-bit
        return ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return np.ascontiguousarray(rgb)


def _count_video_packets(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for p in container.demux(stream) if p.size > 0)


def downscale(image: np.ndarray, factor: float) -> np.ndarray:
    """Antialiased bicubic downscale by `factor` (PIL resize, the MATLAB imresize convention)."""
    h, w = image.shape[:2]
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    h, w = lr.shape[:2]
    return np.asarray(Image.fromarray(lr).resize((w * scale, h * scale), Image.Resampling.BICUBIC))


def make_picture(name: str, source: str, rgb: np.ndarray, scale: int) -> Picture:
    """Crop to a multiple of the scale and pair the HR image with its bicubic LR downscale."""
    h, w = (rgb.shape[0] // scale) * scale, (rgb.shape[1] // scale) * scale
    hr = np.ascontiguousarray(rgb[:h, :w])
    lr_t = downscale(np.ascontiguousarray(hr.transpose(1, 0, 2)), scale)
    return Picture(name=name, source=source, hr=hr, lr=downscale(hr, scale), lr_t=lr_t)


def load_pictures(
    paths: Sequence[Path | str],
    *,
    scale: int,
    min_size: int,
    frames_per_clip: int = 16,
    prescale: float = 1.0,
    summary: DataSummary | None = None,
) -> list[Picture]:
    """Decode every usable image and sampled video frame under `paths` into memory.

    `prescale` > 1 downscales each picture first (bicubic, antialiased) so that JPEG noise of
    large photos does not become a target. Files that cannot be read or are smaller than `min_size`
    after prescaling are skipped and listed in the summary; a path that yields nothing is an error.
    """
    summary = summary if summary is not None else DataSummary()
    summary.prescale = prescale
    pictures: list[Picture] = []
    for raw in paths:
        files = find_media([raw])
        before = len(pictures)
        for path in files:
            kind = media_kind(path)
            try:
                if kind == "image":
                    rgbs = [read_image(path)]
                else:
                    rgbs = sample_video_frames(path, frames_per_clip)
            except InputError as error:
                if len(files) == 1 and Path(raw).is_file():
                    raise
                summary.skipped.append(str(error))
                continue
            found = _usable_pictures(path, kind, rgbs, scale=scale, min_size=min_size, prescale=prescale)
            if not found:
                summary.skipped.append(f"{path}: smaller than {min_size} pixels")
                continue
            pictures += found
            summary.sources.append(str(path))
            if kind == "image":
                summary.images += 1
            else:
                summary.clips += 1
                summary.frames += len(found)
        if len(pictures) == before:
            what = "folder" if Path(raw).is_dir() else "file"
            raise InputError(f"{raw}: {what} holds no usable image or clip (need at least {min_size}x{min_size} pixels"
                             + (f" after downscaling by {prescale:g})" if prescale > 1 else ")"))
    return pictures


def _usable_pictures(path: Path, kind: str | None, rgbs: list[np.ndarray], *, scale: int, min_size: int,
                     prescale: float) -> list[Picture]:
    """The pictures of one file (its image, or a clip's frames "path#i") at least `min_size` after prescaling."""
    pictures = []
    for index, rgb in enumerate(rgbs):
        if prescale > 1.0:
            rgb = downscale(rgb, prescale)
        if min(rgb.shape[:2]) >= min_size:
            pictures.append(make_picture(str(path) if kind == "image" else f"{path}#{index}", str(path), rgb, scale))
    return pictures


def split_validation(
    pictures: list[Picture], *, fraction: float = 0.1, limit: int = 8, min_size: int = 48
) -> tuple[list[Picture], list[Picture]]:
    """Hold out whole sources (all frames of a clip together), chosen by a stable hash of the name.

    With a single source there is nothing to hold out whole, so its bottom fifth becomes the
    validation part and the rest stays for training.
    """
    sources = sorted({p.source for p in pictures}, key=lambda s: hashlib.sha1(s.encode()).hexdigest())
    if len(sources) >= 2:
        count = min(limit, max(1, round(fraction * len(sources))))
        held = set(sources[:count])
        return [p for p in pictures if p.source not in held], [p for p in pictures if p.source in held]
    train, val = [], []
    for p in pictures:
        h = p.hr.shape[0]
        cut = h - max(min_size, h // 5)
        if cut < min_size:
            train.append(p)
            val.append(p)  # too small to split: validate on what it trains on, better than nothing
            continue
        s = p.hr.shape[0] // p.lr.shape[0]
        cut -= cut % s
        train.append(make_picture(p.name, p.source, p.hr[:cut], s))
        val.append(make_picture(p.name + " (bottom)", p.source, p.hr[cut:], s))
    return train, val


def busiest_window(hr: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left of the `size` window with the most detail (gradient energy), where SR differs most."""
    gray = hr.astype(np.float32).mean(axis=2)
    energy = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1, :]
    h, w = energy.shape
    if h <= size or w <= size:
        return 0, 0
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, size // 8)
    best, best_at = -1.0, (0, 0)
    for y in range(0, h - size + 1, step):
        for x in range(0, w - size + 1, step):
            total = integral[y + size, x + size] - integral[y, x + size] - integral[y + size, x] + integral[y, x]
            if total > best:
                best, best_at = total, (y, x)
    return best_at


def detail_crop(picture: Picture, size: int, scale: int) -> Picture:
    """Bound validation cost: the `size` x `size` HR crop with the most detail (multiple of the scale).

    Not the centre: clip art and screenshots often have flat centres, where bicubic is already
    exact (infinite PSNR) and nothing is learned about the net.
    """
    h, w = picture.hr.shape[:2]
    size -= size % scale
    if h <= size and w <= size:
        return picture
    ch, cw = min(h, size), min(w, size)
    top, left = busiest_window(picture.hr, max(ch, cw)) if ch == cw else ((h - ch) // 2, (w - cw) // 2)
    top, left = top // scale * scale, left // scale * scale
    return make_picture(picture.name, picture.source, picture.hr[top : top + ch, left : left + cw], scale)


def pictures_megapixels(pictures: Iterable[Picture]) -> float:
    return sum(p.hr.shape[0] * p.hr.shape[1] for p in pictures) / 1e6

