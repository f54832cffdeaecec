"""Alpha (transparency) of a video: which pixel formats carry it, which output format keeps it, and how
the alpha plane is upscaled.

The network only sees RGB: it was trained on RGB content, and a matte is smooth, so a classical filter
does as well at a fraction of the cost. Alpha is upscaled with bicubic interpolation, clamped to the
dtype's range since bicubic overshoots at hard edges (images use PIL's bicubic for 8-bit alpha,
repsr_video.images).
"""

from __future__ import annotations

import av
import numpy as np

# Alpha variants of the formats the output plan picks without alpha (the first the codec supports wins).
_WITH_ALPHA = {
    "yuv420p": "yuva420p", "yuv422p": "yuva422p", "yuv444p": "yuva444p", "nv12": "yuva420p",
    "yuv420p10le": "yuva420p10le", "yuv422p10le": "yuva422p10le", "yuv444p10le": "yuva444p10le",
    "p010le": "yuva420p10le", "gbrp": "gbrap", "gbrp10le": "gbrap10le", "rgb24": "rgba", "bgr24": "bgra",
    "rgb48le": "rgba64le", "rgb48be": "rgba64be",
}


def has_alpha(pix_fmt: str) -> bool:
    return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)


def alpha_pix_fmt(pix_fmt: str, supported: list[str]) -> str | None:
    """The format with alpha closest to `pix_fmt` (its alpha variant, else the first of the codec's
    formats with alpha of the same depth class, else any with alpha); None if the codec has none."""
    if has_alpha(pix_fmt):
        return pix_fmt
    with_alpha = [name for name in supported if has_alpha(name)]
    variant = _WITH_ALPHA.get(pix_fmt)
    if variant in with_alpha:
        return variant
    deep = max(c.bits for c in av.VideoFormat(pix_fmt).components) > 8
    same_depth = [n for n in with_alpha if (max(c.bits for c in av.VideoFormat(n).components) > 8) == deep]
    candidates = same_depth or with_alpha
    return candidates[0] if candidates else None


def upscale_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    """(N,H,W) uint8/uint16 alpha -> (N,sH,sW) of the same dtype, bicubic, clamped and rounded."""
    import torch  # here, not at the top: a run without alpha on OpenVINO never loads torch
    import torch.nn.functional as F

    top = float(np.iinfo(alpha.dtype).max)
    planes = torch.from_numpy(alpha.astype(np.float32))[:, None]  # float32 holds 16-bit values exactly
    big = F.interpolate(planes, scale_factor=scale, mode="bicubic", align_corners=False, antialias=False)
    return big[:, 0].clamp_(0, top).round_().numpy().astype(alpha.dtype)


def read_alpha(frame: av.VideoFrame, deep: bool) -> np.ndarray:
    """The frame's alpha plane as (H,W) uint8, or uint16 full range for >8-bit input (as the RGB is)."""
    return frame.to_ndarray(format="rgba64le" if deep else "rgba")[..., 3].copy()
