"""The end of a run: merge, check the merge, evaluate, and write the preset, report and plot."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from repsr_video.network import SRNet

from .checkpoint import History
from .data import DataSummary, Picture, detail_crop
from .evaluate import Evaluation, evaluate_pictures
from .merge import merge
from .settings import ADAM_BETAS, TrainError, TrainSettings

MERGE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class TrainResult:
    preset_path: Path
    report_path: Path
    plot_path: Path
    evaluation: Evaluation
    merge_error: float
    its_per_s: float
    train_seconds: float
    history: History


@torch.no_grad()
def merge_error(model: nn.Module, merged: SRNet, pictures: list[Picture], device: torch.device) -> float:
    """Max abs difference of multi-branch vs merged output, on validation crops and odd-sized noise."""
    model.eval()
    merged = merged.to(device)
    inputs = [torch.rand(1, 3, 37, 29, generator=torch.Generator().manual_seed(0))]
    inputs += [torch.from_numpy(np.array(p.lr, copy=True)).permute(2, 0, 1)[None].float() / 255.0 for p in pictures[:4]]
    worst = 0.0
    for x in inputs:
        x = x.to(device)
        worst = max(worst, float((model(x).float() - merged(x)).abs().max()))
    return worst


def finish(settings: TrainSettings, model: SRNet, val_pictures: list[Picture], summary: DataSummary,
           history: History, device: torch.device) -> TrainResult:
    from .preset import write_preset
    from .report import write_plot, write_report

    model = model.float()
    model.eval()
    merged = merge(model)
    error = merge_error(model, merged, [detail_crop(p, settings.val_crop, settings.scale) for p in val_pictures], device)
    if not error <= MERGE_TOLERANCE:
        raise TrainError(f"merged net differs from the trained net by {error:.3g} (> {MERGE_TOLERANCE:g}); "
                         "the preset was not written")
    merged = merged.cpu()
    evaluation = evaluate_pictures(merged, val_pictures, settings.scale)
    its = len(history.loss) / history.train_seconds if history.train_seconds > 0 else 0.0
    eval_set = (f"--val {' '.join(settings.val)}" if settings.val
                else f"held-out part of the training data ({len(evaluation.scores)} images)")
    recipe = _recipe(settings, history, device, error, its)
    description = settings.description or (
        f"{settings.size} x{settings.scale} trained with repsr-video train on {summary.images} images"
        + (f" and {summary.clips} clips" if summary.clips else "")
        + (" (video degradations)" if settings.degrade == "video" else "")
    )
    out_dir = settings.out_dir
    preset_path = write_preset(merged, out_dir, name=settings.name, description=description, recipe=recipe,
                               data=summary.as_table(), quality=evaluation.quality(eval_set), default=settings.default)
    plot_path = write_plot(out_dir / f"{settings.name}-curves.png", history, settings)
    report_path = write_report(out_dir / f"{settings.name}-report.md", settings=settings, summary=summary,
                               history=history, evaluation=evaluation, merge_error=error, its_per_s=its,
                               preset_path=preset_path, plot_path=plot_path, recipe=recipe)
    return TrainResult(preset_path, report_path, plot_path, evaluation, error, its, history.train_seconds, history)


def _recipe(settings: TrainSettings, history: History, device: torch.device, error: float, its: float) -> dict[str, Any]:
    """How the preset was made: the preset's [recipe] table and the report's last section."""
    return {
        "command": settings.command(),
        "size": settings.size,
        "trained_as": "plain" if settings.plain else f"repsr-{settings.norm}-e{settings.expansion}",
        "expansion": settings.expansion,
        "norm": "plain" if settings.plain else settings.norm,
        "iterations": settings.iterations,
        "batch_size": settings.batch_size,
        "patch": settings.hr_patch,
        "lr": settings.lr,
        "lr_schedule": f"cosine to {settings.schedule.final_fraction:.0%}",
        "loss": "L1",
        "optimizer": f"Adam{ADAM_BETAS}",
        "freeze_bn_at": settings.freeze_bn_at if (settings.norm == "bn" and not settings.plain) else None,
        "bn_frozen_at_iteration": history.bn_frozen_at,
        "degrade": settings.degrade,
        "seed": settings.seed,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "device": str(device.type),
        "train_seconds": round(history.train_seconds, 1),
        "its_per_s": round(its, 3),
        "merge_max_abs_error": float(f"{error:.3g}"),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
