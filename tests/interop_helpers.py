"""Random-weight community models built from spandrel's own architecture classes, and real photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def spandrel_or_skip():
    """spandrel through repsr-video's importer (which works without torchvision), or a skip saying why."""
    from repsr_video.errors import DependencyError
    from repsr_video.interop.spandrel_support import spandrel_module

    try:
        return spandrel_module()
    except DependencyError as error:
        pytest.skip(f"spandrel unavailable: {error}")


def random_compact(scale: int, features: int = 16, convs: int = 3, seed: int = 0, act_type: str = "prelu"):
    """spandrel's SRVGGNetCompact with random weights, PReLU slopes included (they default to 0.25)."""
    spandrel_or_skip()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    net = Compact(num_feat=features, num_conv=convs, upscale=scale, act_type=act_type).eval()
    with torch.no_grad():
        for name, tensor in net.named_parameters():
            if tensor.ndim == 1 and "weight" in name:  # PReLU slopes
                tensor.uniform_(-0.3, 0.6)
        net.body[-1].weight.mul_(0.5)  # a modest residual, like a trained net
    return net


def photo(height: int, width: int, name: str = "astronaut") -> np.ndarray:
    """(1,H,W,3) uint8: a crop of one of scikit-image's real photos."""
    data = pytest.importorskip("skimage.data", reason="scikit-image (test extra) provides the photos")
    image = getattr(data, name)()
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return np.ascontiguousarray(image[top : top + height, left : left + width])[None]


def to_uint8(y: torch.Tensor) -> np.ndarray:
    """(N,3,H,W) float -> (N,H,W,3) uint8, clamped and rounded as the engine does."""
    return y.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def to_float(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


def max_level_diff(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape, (a.shape, b.shape)
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def random_span(scale: int, features: int = 8, seed: int = 0, channels: int = 3):
    """spandrel's SPAN (a foreign architecture: attention blocks, no global skip) with random weights."""
    spandrel_or_skip()
    from spandrel.architectures.SPAN import SPAN

    torch.manual_seed(seed)
    return SPAN(num_in_ch=channels, num_out_ch=channels, feature_channels=features, upscale=scale).eval()


def random_esrgan(scale: int, features: int = 8, blocks: int = 1, seed: int = 0):
    """spandrel's ESRGAN (RRDBNet) with random weights."""
    spandrel_or_skip()
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(seed)
    return ESRGAN(in_nc=3, out_nc=3, num_filters=features, num_blocks=blocks, scale=scale).eval()


def tame(model, gain: float = 0.02):
    """Scale a random net's last conv so its output sits around 0.5 with visible structure (random
    SPAN weights put most values far outside [0, 1], where clamping would hide every difference)."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.mul_(gain)
        if last.bias is not None:
            last.bias.fill_(0.5)
    return model
