"""The artefacts a training run leaves beside its preset: a markdown report and a loss/PSNR plot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from repsr_video.output import atomic_write

from .export import MERGE_TOLERANCE

if TYPE_CHECKING:
    from .checkpoint import History
    from .data import DataSummary
    from .evaluate import Evaluation
    from .settings import TrainSettings


def smooth(values: list[float], window: int) -> np.ndarray:
    """Running mean over `window` (shorter at the start), for a readable loss curve."""
    data = np.asarray(values, dtype=np.float64)
    if len(data) == 0 or window <= 1:
        return data
    cumulative = np.concatenate([[0.0], np.cumsum(data)])
    index = np.arange(1, len(data) + 1)
    low = np.maximum(0, index - window)
    return (cumulative[index] - cumulative[low]) / (index - low)


def write_plot(path: Path, history: History, settings: TrainSettings) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(11, 4))
    iterations = np.arange(1, len(history.loss) + 1)
    ax_loss.plot(iterations, history.loss, color="#c8c8c8", linewidth=0.6, label="L1 per batch")
    ax_loss.plot(iterations, smooth(history.loss, max(1, len(history.loss) // 50)), color="#1f77b4", label="running mean")
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("L1 loss")
    ax_loss.set_yscale("log")
    ax_loss.set_title(f"{settings.name}: training loss")
    ax_psnr.plot(history.val_iterations, history.val_psnr, marker="o", markersize=3, label="model")
    if history.bicubic_psnr is not None:
        ax_psnr.axhline(history.bicubic_psnr, color="gray", linestyle="--", label="bicubic")
    ax_psnr.set_xlabel("iteration")
    ax_psnr.set_ylabel("validation PSNR-Y (dB)")
    ax_psnr.set_title("validation (central crops)")
    for ax in (ax_loss, ax_psnr):
        if history.bn_frozen_at is not None:
            ax.axvline(history.bn_frozen_at, color="#d62728", linestyle=":", label="BN frozen")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write(path) as partial:
            fig.savefig(partial, dpi=100)
    finally:
        plt.close(fig)
    return path


def write_report(path: Path, *, settings: TrainSettings, summary: DataSummary, history: History,
                 evaluation: Evaluation, merge_error: float, its_per_s: float, preset_path: Path,
                 plot_path: Path, recipe: dict) -> Path:
    lines = [
        f"# Training report: {settings.name}",
        "",
        f"- preset: `{preset_path}` ({settings.size} x{settings.scale})",
        f"- command: `{settings.command()}`",
        f"- iterations: {len(history.loss)} of {settings.iterations}, {history.train_seconds:.0f} s in training steps, "
        f"{its_per_s:.2f} it/s",
        "- BN switched to population statistics at iteration: "
        f"{'never' if history.bn_frozen_at is None else history.bn_frozen_at}",
        f"- merged vs multi-branch max abs error: {merge_error:.3g} (limit {MERGE_TOLERANCE:g})",
        "",
        "## Data",
        "",
        f"- {summary.images} images, {summary.clips} clips ({summary.frames} frames); prescale {summary.prescale:g}",
        f"- training: {summary.train_pictures} pictures, {summary.train_megapixels:.1f} megapixels",
        f"- validation: {', '.join(summary.validation) or '-'}",
        f"- skipped: {len(summary.skipped)}" + ("".join(f"\n  - {s}" for s in summary.skipped[:20])),
        "",
        "## Quality (PSNR/SSIM on BT.601 Y, scale pixels shaved)",
        "",
        "| image | bicubic PSNR | bicubic SSIM | preset PSNR | preset SSIM | gain (dB) |",
        "|---|---|---|---|---|---|",
    ]
    for s in evaluation.scores:
        lines.append(f"| {Path(s.name).name} | {s.bicubic_psnr:.2f} | {s.bicubic_ssim:.4f} | {s.psnr:.2f} | {s.ssim:.4f} "
                     f"| {s.gain:+.2f} |")
    lines += [
        f"| **mean** | {evaluation.mean_bicubic_psnr:.2f} | {evaluation.mean_bicubic_ssim:.4f} | {evaluation.mean_psnr:.2f} | "
        f"{evaluation.mean_ssim:.4f} | {evaluation.mean_gain:+.2f} (worst {evaluation.worst_gain:+.2f}) |",
        "",
        "## Curves",
        "",
        f"![loss and validation PSNR]({plot_path.name})",
        "",
        "## Recipe",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in recipe.items() if v is not None]
    with atomic_write(path) as partial:
        partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
