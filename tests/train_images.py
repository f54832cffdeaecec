"""Small generated photos for the training tests: smooth colour fields with edges and texture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def textured_image(seed: int, height: int = 96, width: int = 112) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.empty((height, width, 3))
    for c in range(3):
        fx, fy, phase = rng.uniform(0.05, 0.4, 2).tolist() + [rng.uniform(0, 6.28)]
        img[..., c] = 128 + 90 * np.sin(fx * x + fy * y + phase)
    # a few hard-edged rectangles, as photos have object boundaries
    for _ in range(4):
        y0, x0 = rng.integers(0, height - 16), rng.integers(0, width - 16)
        img[y0 : y0 + rng.integers(8, 30), x0 : x0 + rng.integers(8, 30)] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 2, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_images(folder: Path, count: int = 4, *, height: int = 96, width: int = 112) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(textured_image(i, height, width)).save(folder / f"photo{i}.png")
    return folder
