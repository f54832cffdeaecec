"""PSNR/SSIM on BT.601 Y agree with scikit-image on the same Y arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from repsr_video.train.data import bicubic_upscale, downscale
from repsr_video.train.metrics import psnr, psnr_y, rgb_to_y, shave, ssim, ssim_y


def test_y_is_bt601_studio_swing():
    assert rgb_to_y(np.zeros((1, 1, 3), np.uint8))[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(235.0)
    red = rgb_to_y(np.array([[[255, 0, 0]]], np.uint8))[0, 0]
    assert red == pytest.approx(16 + 65.481)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_psnr_matches_skimage_on_a_real_image(scale):
    hr = skdata.astronaut()[:252, :300]
    restored = bicubic_upscale(downscale(hr, scale), scale)
    ours = psnr_y(hr, restored, scale)
    ref_y, test_y = shave(rgb_to_y(hr), scale), shave(rgb_to_y(restored), scale)
    theirs = peak_signal_noise_ratio(ref_y, test_y, data_range=255)
    assert abs(ours - theirs) < 0.01
    assert 20 < ours < 40  # a real bicubic round trip, not a degenerate case


def test_psnr_matches_skimage_on_noise_and_detects_identity():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    theirs = peak_signal_noise_ratio(rgb_to_y(a), rgb_to_y(b), data_range=255)
    assert abs(psnr_y(a, b) - theirs) < 0.01
    assert math.isinf(psnr_y(a, a))
    assert psnr(np.zeros(4), np.full(4, 255.0)) == pytest.approx(0.0)


def test_ssim_matches_skimage_gaussian_ssim():
    hr = skdata.chelsea()[:200, :240]
    restored = bicubic_upscale(downscale(hr, 2), 2)
    ref_y, test_y = shave(rgb_to_y(hr), 2), shave(rgb_to_y(restored), 2)
    theirs = structural_similarity(ref_y, test_y, data_range=255, gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False)
    assert ssim(ref_y, test_y) == pytest.approx(theirs, abs=1e-6)
    assert ssim_y(hr, restored, 2) == pytest.approx(theirs, abs=1e-6)
    assert ssim_y(hr, hr) == pytest.approx(1.0)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="shape"):
        psnr_y(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
