"""Which files are videos and which are images, by suffix: the one list every part of the tool uses.

Upscaling (files and folders), training data and the folder walk all read these sets, so a suffix
accepted in one place is accepted everywhere.
"""

from __future__ import annotations

from pathlib import Path

# Pillow's format names for the image suffixes we read and write.
IMAGE_FORMATS: dict[str, str] = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP", ".bmp": "BMP",
}
IMAGE_SUFFIXES = frozenset(IMAGE_FORMATS)
VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mkv", ".mov", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg",
    ".ogv", ".ogg", ".flv", ".wmv", ".y4m", ".3gp",
})


def is_image(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES
