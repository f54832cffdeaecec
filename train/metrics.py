"""PSNR and SSIM on the Y channel of BT.601 YCbCr, `scale` pixels shaved: the SR literature's convention.

Inputs are RGB arrays (H, W, 3), uint8 or float in [0, 255]. Everything is computed in float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma of RGB in [0, 255]: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, float64."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
    return 16.0 + rgb.astype(np.float64) @ _Y_WEIGHTS


def shave(plane: np.ndarray, border: int) -> np.ndarray:
    return plane[border:-border, border:-border] if border > 0 else plane


def _pair_y(reference: np.ndarray, test: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    if reference.shape != test.shape:
        raise ValueError(f"images differ in shape: {reference.shape} vs {test.shape}")
    return shave(rgb_to_y(reference), border), shave(rgb_to_y(test), border)


def psnr_y(reference: np.ndarray, test: np.ndarray, border: int = 0) -> float:
    """PSNR in dB between the Y channels, peak 255 (the range of 8-bit RGB input)."""
    ref_y, test_y = _pair_y(reference, test, border)
    return psnr(ref_y, test_y)


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float = 255.0) -> float:
    mse = float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(reference: np.ndarray, test: np.ndarray, data_range: float = 255.0) -> float:
    """SSIM of Wang et al. (2004) on one plane: 11x11 Gaussian window, sigma 1.5, K1=0.01, K2=0.03.

    Statistics use the valid part of the filtered image only (no padding), the same as
    skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False).
    """
    window = _gaussian_window()
    x = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float64))[None, None]
    y = torch.from_numpy(np.ascontiguousarray(test, dtype=np.float64))[None, None]
    if x.shape[-1] < 11 or x.shape[-2] < 11:
        raise ValueError(f"image of {tuple(x.shape[-2:])} is too small for an 11x11 SSIM window")
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    var_x = F.conv2d(x * x, window) - mu_x**2
    var_y = F.conv2d(y * y, window) - mu_y**2
    cov = F.conv2d(x * y, window) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def ssim_y(reference: np.ndarray, test: np.ndarray, border: int = 0) -> float:
    ref_y, test_y = _pair_y(reference, test, border)
    return ssim(ref_y, test_y)
