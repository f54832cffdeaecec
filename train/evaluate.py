"""Score a deploy net (or a preset) against bicubic on high-resolution images: PSNR/SSIM on BT.601 Y.

For each image: crop to a multiple of the scale, downscale with PIL's antialiased bicubic, upscale
with bicubic and with the net, compare both with the original, `scale` pixels shaved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from repsr_video.errors import InputError, OutputError
from repsr_video.output import atomic_write
from repsr_video.preset import Quality

from .data import Degrade, Picture, bicubic_upscale, busiest_window, find_media, make_picture, media_kind, read_image
from .metrics import psnr_y, ssim_y


@dataclass(frozen=True)
class ImageScore:
    name: str
    bicubic_psnr: float
    bicubic_ssim: float
    psnr: float
    ssim: float

    @property
    def gain(self) -> float:
        return self.psnr - self.bicubic_psnr


@dataclass(frozen=True)
class Evaluation:
    scale: int
    scores: tuple[ImageScore, ...]

    @property
    def mean_gain(self) -> float:
        return float(np.mean([s.gain for s in self.scores]))

    @property
    def worst_gain(self) -> float:
        return float(min(s.gain for s in self.scores))

    @property
    def mean_psnr(self) -> float:
        return float(np.mean([s.psnr for s in self.scores]))

    @property
    def mean_ssim(self) -> float:
        return float(np.mean([s.ssim for s in self.scores]))

    @property
    def mean_bicubic_psnr(self) -> float:
        return float(np.mean([s.bicubic_psnr for s in self.scores]))

    @property
    def mean_bicubic_ssim(self) -> float:
        return float(np.mean([s.bicubic_ssim for s in self.scores]))

    def quality(self, eval_set: str) -> Quality:
        return Quality(
            eval_set=eval_set,
            mean_gain_db=round(self.mean_gain, 3),
            worst_gain_db=round(self.worst_gain, 3),
            mean_psnr_y=round(self.mean_psnr, 3),
            mean_ssim_y=round(self.mean_ssim, 4),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "scale": self.scale,
            "images": [asdict(s) | {"gain": s.gain} for s in self.scores],
            "mean": {
                "bicubic_psnr": self.mean_bicubic_psnr,
                "bicubic_ssim": self.mean_bicubic_ssim,
                "psnr": self.mean_psnr,
                "ssim": self.mean_ssim,
                "gain": self.mean_gain,
                "worst_gain": self.worst_gain,
            },
        }


@torch.no_grad()
def upscale(net: nn.Module, lr: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """Run `net` on one uint8 RGB image; returns uint8 RGB (rounded, clamped), as a user would see it."""
    x = torch.from_numpy(np.array(lr, dtype=np.uint8, copy=True)).to(device).permute(2, 0, 1)[None].float().div_(255.0)
    y = net(x)[0].clamp_(0.0, 1.0).mul_(255.0).round_()
    return y.permute(1, 2, 0).to(torch.uint8).cpu().numpy()


def score_picture(net: nn.Module, picture: Picture, scale: int, *, device="cpu", with_ssim: bool = True) -> ImageScore:
    bicubic = bicubic_upscale(picture.lr, scale)
    output = upscale(net, picture.lr, device)
    return ImageScore(
        name=picture.name,
        bicubic_psnr=psnr_y(picture.hr, bicubic, scale),
        bicubic_ssim=ssim_y(picture.hr, bicubic, scale) if with_ssim else math.nan,
        psnr=psnr_y(picture.hr, output, scale),
        ssim=ssim_y(picture.hr, output, scale) if with_ssim else math.nan,
    )


def evaluate_pictures(net: nn.Module, pictures: Sequence[Picture], scale: int, *, device="cpu", with_ssim=True) -> Evaluation:
    if not pictures:
        raise InputError("nothing to evaluate: no images")
    was_training = net.training
    net.eval()
    try:
        scores = tuple(score_picture(net, p, scale, device=device, with_ssim=with_ssim) for p in pictures)
    finally:
        net.train(was_training)
    return Evaluation(scale=scale, scores=scores)


EVAL_CODEC_CRF = 28  # "--degrade video": a typical streaming quality
EVAL_DEGRADE: Degrade = "bicubic"  # `repsr-video eval`'s default: clean bicubic downscales


def compressed(picture: Picture) -> Picture:
    """The picture with its LR input H.264-compressed (4:2:0, CRF 28), as delivered video is.

    Fixed codec and CRF, no random blur or noise: the score is reproducible and comparable.
    """
    from dataclasses import replace

    from .degrade import codec_round_trip

    return replace(picture, lr=codec_round_trip(picture.lr, "libx264", "h264", EVAL_CODEC_CRF), lr_t=None)


def load_eval_pictures(paths: Sequence[Path | str], scale: int, degrade: Degrade = EVAL_DEGRADE) -> list[Picture]:
    """High-resolution images to score (images only; video clips are not ground truth here).

    degrade="video" compresses each LR input (see `compressed`); bicubic then upscales the same input.
    """
    pictures = []
    for path in find_media(paths):
        if media_kind(path) != "image":
            continue
        rgb = read_image(path)
        if min(rgb.shape[:2]) < 12 * scale:
            raise InputError(f"{path}: image of {rgb.shape[1]}x{rgb.shape[0]} is too small to evaluate at x{scale}")
        if degrade == "video":  # 4:2:0 needs an even LR size
            rgb = rgb[: rgb.shape[0] // (2 * scale) * 2 * scale, : rgb.shape[1] // (2 * scale) * 2 * scale]
        picture = make_picture(str(path), str(path), rgb, scale)
        pictures.append(compressed(picture) if degrade == "video" else picture)
    if not pictures:
        raise InputError(f"{', '.join(map(str, paths))}: no image to evaluate")
    return pictures


def evaluate_preset(preset_name: str, paths: Sequence[Path | str],
                    degrade: Degrade = EVAL_DEGRADE) -> tuple[Evaluation, nn.Module, list[Picture]]:
    from repsr_video.preset import load_preset

    preset = load_preset(preset_name)
    net = preset.build_network()
    pictures = load_eval_pictures(paths, preset.scale, degrade)
    return evaluate_pictures(net, pictures, preset.scale), net, pictures


def write_compare(net: nn.Module, picture: Picture, scale: int, out: Path | str, *, crop: int = 192, zoom: int = 2) -> Path:
    """Side-by-side PNG: bicubic | net | original, of the most detailed crop, enlarged `zoom` x (nearest)."""
    from PIL import Image, ImageDraw

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise OutputError(f"{out}: the comparison is written as PNG; give a .png path")
    bicubic = bicubic_upscale(picture.lr, scale)
    output = upscale(net, picture.lr)
    crop = min(crop, *picture.hr.shape[:2])
    y, x = busiest_window(picture.hr, crop)
    panels = [img[y : y + crop, x : x + crop] for img in (bicubic, output, picture.hr)]
    label_height, gap = 18, 4
    width = 3 * crop * zoom + 2 * gap
    canvas = Image.new("RGB", (width, crop * zoom + label_height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for i, (panel, label) in enumerate(zip(panels, ("bicubic", "preset", "original"), strict=True)):
        left = i * (crop * zoom + gap)
        canvas.paste(Image.fromarray(panel).resize((crop * zoom, crop * zoom), Image.Resampling.NEAREST), (left, label_height))
        draw.text((left + 4, 3), label, fill=(0, 0, 0))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(out) as partial:
            canvas.save(partial, format="PNG")
    except OSError as error:
        raise OutputError(f"{out}: cannot write ({error.strerror or error})") from None
    return out
