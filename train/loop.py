"""The training loop behind `repsr-video train`: data -> RepSR net -> merge -> checked preset.

L1 loss, Adam, cosine learning-rate decay, and the frozen-BN switch of RepSR. Everything a resumed
run needs is in the checkpoint or is a pure function of the iteration (schedule, data batches), so
`resume` continues exactly. Under `torchrun` the same loop runs DistributedDataParallel (gloo on
CPU, NCCL on CUDA); only rank 0 validates, checkpoints and writes.

The library never prints: progress goes to an `on_event` callback that the CLI renders.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from repsr_video.errors import InputError, RepsrError
from repsr_video.network import SCALES, SRNet, parse_size

from .blocks import NORMS, Norm, is_bn_frozen, recalibrate_bn, set_bn_frozen
from .data import (
    DEGRADES,
    DataSummary,
    Degrade,
    PatchBatches,
    Picture,
    batch_loader,
    centre_crop,
    load_pictures,
    pictures_megapixels,
    split_validation,
    to_float,
)
from .evaluate import Evaluation, evaluate_pictures
from .merge import merge
from .net import RepSRNet
from .schedule import Schedule

CHECKPOINT_VERSION = 1
MERGE_TOLERANCE = 1e-4
CALIBRATION_BATCHES = 32
# Switch BN to population statistics after 80 % of the iterations. Measured (docs/ablation.md,
# M4C16 x2, 1500 iterations, 8 held-out photos): frozen at 0.8 +1.320 dB over bicubic, at 0.5
# +1.296, never +1.285 (and never leaves the merged net on lagging running averages). The margins
# are small, but the order matches the RepSR paper's "switch late": mini-batch statistics help the
# optimization most of the way, and 20 % of the run is enough for the affine parameters to adapt
# to the fixed statistics.
DEFAULT_FREEZE_BN_AT = 0.8
TAIL_INIT_GAIN = 0.1


class TrainError(RepsrError):
    """Training cannot go on (bad settings, a checkpoint that does not fit, a failed merge check)."""


@dataclass(frozen=True)
class TrainSettings:
    data: tuple[str, ...]
    scale: int
    name: str
    size: str = "M4C16"
    expansion: int = 2
    norm: Norm = "bn"
    plain: bool = False  # train the deploy net directly (the ablation's baseline)
    iterations: int = 20000
    batch_size: int = 16
    patch: int | None = None  # HR patch side; default 48 LR pixels x scale
    lr: float = 5e-4
    freeze_bn_at: float | None = DEFAULT_FREEZE_BN_AT  # fraction of iterations; None or >= 1: never
    degrade: Degrade = "bicubic"
    val: tuple[str, ...] = ()
    device: Literal["auto", "cpu", "cuda"] = "auto"
    resume: bool = False
    out: str | None = None  # default runs/<name>
    workers: int | None = None  # default: 0 for bicubic (slicing is cheaper than IPC), 1 for video
    seed: int = 0
    val_every: int | None = None  # default iterations / 20
    checkpoint_every: int | None = None  # default iterations / 10
    default: bool = False
    prescale: float = 1.0  # downscale training pictures first (JPEG photos: 2)
    frames_per_clip: int = 16
    val_crop: int = 256  # periodic validation on central crops of this size (the final eval: whole images)
    description: str = ""

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise TrainError(f"scale {self.scale} is not supported; choose one of {SCALES}")
        if self.norm not in NORMS:
            raise TrainError(f"norm {self.norm!r} is not one of {', '.join(NORMS)}")
        if self.degrade not in DEGRADES:
            raise TrainError(f"degrade {self.degrade!r} is not one of {', '.join(DEGRADES)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise TrainError(f"device {self.device!r} is not one of auto, cpu, cuda")
        parse_size(self.size)
        for label, value in (("iterations", self.iterations), ("batch size", self.batch_size), ("expansion", self.expansion)):
            if value < 1:
                raise TrainError(f"{label} must be at least 1, not {value}")
        if self.patch is not None and (self.patch % self.scale or self.patch < 4 * self.scale):
            raise TrainError(f"patch {self.patch} must be a multiple of the scale {self.scale} and at least {4 * self.scale}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise TrainError(f"learning rate must be > 0, not {self.lr}")
        if self.freeze_bn_at is not None and not 0.0 <= self.freeze_bn_at:
            raise TrainError(f"freeze-bn-at must be a fraction in [0, 1] (1 = never), not {self.freeze_bn_at}")
        if self.prescale < 1.0:
            raise TrainError(f"prescale must be >= 1 (a downscale factor), not {self.prescale}")

    def command(self) -> str:
        """The `repsr-video train` command that reproduces these settings (recorded in the recipe)."""
        import shlex

        defaults = TrainSettings(data=self.data, scale=self.scale, name=self.name)
        flags = {"size": "--size", "expansion": "--expansion", "norm": "--norm", "iterations": "--iters",
                 "batch_size": "--batch-size", "patch": "--patch", "lr": "--lr", "freeze_bn_at": "--freeze-bn-at",
                 "degrade": "--degrade", "seed": "--seed", "prescale": "--prescale",
                 "frames_per_clip": "--frames-per-clip", "description": "--description"}
        words = ["repsr-video", "train", "--data", *self.data, "--scale", str(self.scale), "--name", self.name]
        if self.plain:
            words.append("--plain")
        for key, flag in flags.items():
            value = getattr(self, key)
            if value != getattr(defaults, key):
                words += [flag, "1" if value is None else f"{value:g}" if isinstance(value, float) else str(value)]
        if self.val:
            words += ["--val", *self.val]
        if self.default:
            words.append("--default")
        return shlex.join(words)

    @property
    def hr_patch(self) -> int:
        return self.patch if self.patch is not None else 48 * self.scale

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / self.name

    @property
    def schedule(self) -> Schedule:
        uses_bn = self.norm == "bn" and not self.plain
        return Schedule(self.iterations, self.lr, self.freeze_bn_at if uses_bn else None)

    def identity(self) -> dict[str, object]:
        """What a checkpoint must agree on to be resumed (anything else may change)."""
        keys = ("scale", "size", "expansion", "norm", "plain", "iterations", "batch_size", "lr", "freeze_bn_at",
                "degrade", "seed", "prescale", "frames_per_clip", "data", "val")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items() if k in keys} | {
            "patch": self.hr_patch
        }


@dataclass(frozen=True)
class Event:
    """A progress report: kind is loading, start, step, validation, bn_frozen, checkpoint, finishing or done."""

    kind: str
    iteration: int = 0
    total: int = 0
    loss: float | None = None
    its_per_s: float | None = None
    lr: float | None = None
    psnr: float | None = None
    bicubic_psnr: float | None = None
    message: str = ""


@dataclass
class History:
    loss: list[float] = field(default_factory=list)  # per iteration (rank 0's batch)
    val_iterations: list[int] = field(default_factory=list)
    val_psnr: list[float] = field(default_factory=list)
    bicubic_psnr: float | None = None
    bn_frozen_at: int | None = None
    train_seconds: float = 0.0  # time spent in training steps only


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


def _noop(_event: Event) -> None:
    pass


# --- set-up ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: torch.device) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if device.type == "cpu":
        # each process would otherwise start one thread per core: N processes x N threads thrash
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def _pick_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise TrainError("--device cuda asked for, but torch sees no CUDA GPU here")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        return torch.device("cuda", local)
    return torch.device("cpu")


def build_model(settings: TrainSettings) -> SRNet:
    blocks, channels = parse_size(settings.size)
    if settings.plain:
        model = SRNet(settings.scale, blocks, channels)
    else:
        model = RepSRNet(settings.scale, blocks, channels, expansion=settings.expansion, norm=settings.norm)
    # Start as the nearest-neighbour skip plus a small residual: with the default init the residual
    # is as large as the image and short runs spend their first thousand steps unlearning it.
    with torch.no_grad():
        model.tail.weight.mul_(TAIL_INIT_GAIN)
        model.tail.bias.zero_()
    return model


def _data_fingerprint(pictures: list[Picture]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for p in pictures:
        digest.update(f"{p.name}:{p.hr.shape}".encode())
    return digest.hexdigest()[:16]


def prepare_data(settings: TrainSettings, summary: DataSummary) -> tuple[list[Picture], list[Picture]]:
    """Training pictures and validation pictures (the --val paths, or a held-out part of the data)."""
    patch = settings.hr_patch
    pictures = load_pictures(
        settings.data, scale=settings.scale, min_size=patch, frames_per_clip=settings.frames_per_clip,
        prescale=settings.prescale, summary=summary,
    )
    if settings.val:
        val_summary = DataSummary()
        # --val images are scored as given (no prescale), as `repsr-video eval` scores them
        val = load_pictures(settings.val, scale=settings.scale, min_size=12 * settings.scale,
                            frames_per_clip=4, summary=val_summary)
        train = pictures
    else:
        train, val = split_validation(pictures, min_size=max(patch, 12 * settings.scale))
        if not [p for p in train if min(p.hr.shape[:2]) >= patch]:
            raise InputError(f"{', '.join(settings.data)}: nothing left to train on after holding out validation; add data or pass --val")
    summary.train_pictures = len(train)
    summary.train_megapixels = pictures_megapixels(train)
    summary.validation = sorted({p.source for p in val}) if settings.val or len({p.source for p in pictures}) > 1 else [v.name for v in val]
    return train, val


# --- checkpoints ----------------------------------------------------------------------------


def checkpoint_path(settings: TrainSettings) -> Path:
    return settings.out_dir / f"{settings.name}.ckpt"


def _unwrap(model: nn.Module) -> SRNet:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model  # type: ignore[return-value]


def save_checkpoint(path: Path, *, settings: TrainSettings, model: nn.Module, optimizer: torch.optim.Optimizer,
                    iteration: int, history: History, fingerprint: str) -> None:
    state = {
        "version": CHECKPOINT_VERSION,
        "identity": json.dumps(settings.identity(), sort_keys=True),
        "fingerprint": fingerprint,
        "iteration": iteration,
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": json.dumps(dataclasses.asdict(history)),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    partial.replace(path)


def load_checkpoint(path: Path, settings: TrainSettings, fingerprint: str) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as error:
        raise TrainError(f"{path}: cannot read checkpoint ({error})") from None
    if state.get("version") != CHECKPOINT_VERSION:
        raise TrainError(f"{path}: checkpoint format {state.get('version')} is not {CHECKPOINT_VERSION}")
    saved = json.loads(state["identity"])
    current = settings.identity()
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if changed:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed[:4])
        raise TrainError(f"{path}: checkpoint was made with other settings ({detail}); resume with the same ones or use another --name/--out")
    if state["fingerprint"] != fingerprint:
        raise TrainError(f"{path}: the training data changed since the checkpoint (files or sizes differ)")
    return state


# --- the loop -------------------------------------------------------------------------------


def _validate(model: nn.Module, val: list[Picture], scale: int, device: torch.device) -> float:
    evaluation = evaluate_pictures(model, val, scale, device=device, with_ssim=False)
    return evaluation.mean_psnr


def _calibration_batches(dataset: PatchBatches, device: torch.device, channels_last: bool):
    # Their own seed stream, so the training batches (and a resumed run) are unaffected.
    calibration = PatchBatches(dataset.pictures, scale=dataset.scale, patch=dataset.patch,
                               batch_size=dataset.batch_size, seed=dataset.seed + 7919,
                               length=CALIBRATION_BATCHES, degrade=dataset.degrade)
    for index in range(CALIBRATION_BATCHES):
        lr, _hr = calibration[index]
        x = to_float(lr.to(device))
        yield x.contiguous(memory_format=torch.channels_last) if channels_last else x


def default_workers(settings: TrainSettings) -> int:
    if settings.workers is not None:
        return settings.workers
    # A bicubic batch is ~1.5 ms of slicing; a video batch adds one small encode (tens of ms),
    # which one worker keeps ahead of a training step on a 2-core CPU.
    return 1 if settings.degrade == "video" else 0


def train(settings: TrainSettings, on_event: Callable[[Event], None] = _noop, *,
          prepared: tuple[list[Picture], list[Picture], DataSummary] | None = None) -> TrainResult | None:
    """Run (or resume) training and write the preset. Returns None on ranks other than 0.

    `prepared` is the result of `prepare_data(settings, summary)` with its summary, for callers
    that train several models on the same data (the ablation) and decode it once.
    """
    device = _pick_device(settings.device)
    dist_info = _init_distributed(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    emit = on_event if dist_info.main else _noop
    out_dir = settings.out_dir
    ckpt = checkpoint_path(settings)
    if dist_info.main:
        if ckpt.exists() and not settings.resume:
            raise TrainError(f"{ckpt}: a checkpoint of an earlier run exists; pass --resume to continue it, or another --name/--out")
        if settings.resume and not ckpt.exists():
            raise TrainError(f"{ckpt}: no checkpoint to resume from")

    emit(Event("loading", total=settings.iterations, message="decoding training data"))
    if prepared is None:
        summary = DataSummary()
        train_pictures, val_pictures = prepare_data(settings, summary)
    else:
        train_pictures, val_pictures, summary = prepared
    val_crops = [centre_crop(p, settings.val_crop, settings.scale) for p in val_pictures]
    fingerprint = _data_fingerprint(train_pictures + val_pictures)

    torch.manual_seed(settings.seed)
    model = build_model(settings).to(device)
    # channels_last: measured +20-35 % it/s on a 2-core CPU for M4C16 (plain and RepSR), and the
    # layout CUDA tensor cores want.
    channels_last = True
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=(0.9, 0.999))
    schedule = settings.schedule
    history = History()
    start = 0
    if settings.resume:
        state = load_checkpoint(ckpt, settings, fingerprint)
        _unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = History(**json.loads(state["history"]))
        start = int(state["iteration"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state["cuda_rng"]:
            torch.cuda.set_rng_state_all(state["cuda_rng"])
    if dist_info.world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    dataset = PatchBatches(train_pictures, scale=settings.scale, patch=settings.hr_patch,
                           batch_size=settings.batch_size, seed=settings.seed,
                           length=settings.iterations * dist_info.world, degrade=settings.degrade)
    if history.bicubic_psnr is None and dist_info.main:
        history.bicubic_psnr = _bicubic_psnr(val_crops, settings.scale)
    val_every = settings.val_every or max(1, settings.iterations // 20)
    checkpoint_every = settings.checkpoint_every or max(1, settings.iterations // 10)
    emit(Event("start", iteration=start, total=settings.iterations, bicubic_psnr=history.bicubic_psnr,
               message=f"{len(train_pictures)} training pictures, {len(val_pictures)} validation"))

    iteration = start
    model.train()
    loader = batch_loader(dataset, start=start, stop=settings.iterations, rank=dist_info.rank,
                          world=dist_info.world, workers=default_workers(settings))
    rate_window: list[tuple[int, float]] = []
    try:
        for lr_u8, hr_u8 in loader:
            if schedule.freeze_iteration == iteration and not is_bn_frozen(_unwrap(model)):
                recalibrate_bn(_unwrap(model), _calibration_batches(dataset, device, channels_last))
                set_bn_frozen(_unwrap(model), True)
                history.bn_frozen_at = iteration
                emit(Event("bn_frozen", iteration=iteration, total=settings.iterations,
                           message=f"BN switched to population statistics at iteration {iteration}"))
            step_start = time.perf_counter()
            lr_now = schedule.lr_at(iteration)
            for group in optimizer.param_groups:
                group["lr"] = lr_now
            x = to_float(lr_u8.to(device, non_blocking=True))
            y = to_float(hr_u8.to(device, non_blocking=True))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
                y = y.contiguous(memory_format=torch.channels_last)
            loss = F.l1_loss(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_value = float(loss.detach())
            iteration += 1
            now = time.perf_counter()
            history.train_seconds += now - step_start
            history.loss.append(loss_value)
            rate_window = (rate_window + [(iteration, now)])[-50:]
            rate = None
            if len(rate_window) > 1:
                (i0, t0), (i1, t1) = rate_window[0], rate_window[-1]
                rate = (i1 - i0) / max(t1 - t0, 1e-9)
            emit(Event("step", iteration=iteration, total=settings.iterations, loss=loss_value, its_per_s=rate, lr=lr_now))
            if dist_info.main and (iteration % val_every == 0 or iteration == settings.iterations):
                psnr = _validate(_unwrap(model), val_crops, settings.scale, device)
                history.val_iterations.append(iteration)
                history.val_psnr.append(psnr)
                emit(Event("validation", iteration=iteration, total=settings.iterations, psnr=psnr,
                           bicubic_psnr=history.bicubic_psnr))
            if dist_info.main and iteration % checkpoint_every == 0 and iteration < settings.iterations:
                save_checkpoint(ckpt, settings=settings, model=model, optimizer=optimizer, iteration=iteration,
                                history=history, fingerprint=fingerprint)
                emit(Event("checkpoint", iteration=iteration, total=settings.iterations, message=str(ckpt)))
    except KeyboardInterrupt:
        if dist_info.main:
            save_checkpoint(ckpt, settings=settings, model=model, optimizer=optimizer, iteration=iteration,
                            history=history, fingerprint=fingerprint)
            emit(Event("checkpoint", iteration=iteration, total=settings.iterations,
                       message=f"interrupted; {ckpt} holds iteration {iteration}, continue with --resume"))
        raise
    if dist_info.main:
        save_checkpoint(ckpt, settings=settings, model=model, optimizer=optimizer, iteration=iteration,
                        history=history, fingerprint=fingerprint)
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.barrier()
        if not dist_info.main:
            return None

    emit(Event("finishing", iteration=iteration, total=settings.iterations, message="merging and evaluating"))
    return finish(settings, _unwrap(model), val_pictures, summary, history, device)


def _bicubic_psnr(pictures: list[Picture], scale: int) -> float:
    from .data import bicubic_upscale
    from .metrics import psnr_y

    return float(np.mean([psnr_y(p.hr, bicubic_upscale(p.lr, scale), scale) for p in pictures]))


# --- the end of a run: merge, check, evaluate, write ----------------------------------------


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
    error = merge_error(model, merged, [centre_crop(p, settings.val_crop, settings.scale) for p in val_pictures], device)
    if not error <= MERGE_TOLERANCE:
        raise TrainError(f"merged net differs from the trained net by {error:.3g} (> {MERGE_TOLERANCE:g}); the preset was not written")
    merged = merged.cpu()
    evaluation = evaluate_pictures(merged, val_pictures, settings.scale)
    its = len(history.loss) / history.train_seconds if history.train_seconds > 0 else 0.0
    eval_set = (f"--val {' '.join(settings.val)}" if settings.val
                else f"held-out part of the training data ({len(evaluation.scores)} images)")
    recipe = {
        "command": settings.command(),
        "size": settings.size,
        "trained_as": "plain" if settings.plain else f"repsr-{settings.norm}-e{settings.expansion}",
        "expansion": settings.expansion,
        "norm": "plain" if settings.plain else settings.norm,
        "iterations": settings.iterations,
        "batch_size": settings.batch_size,
        "patch": settings.hr_patch,
        "lr": settings.lr,
        "lr_schedule": "cosine to 1%",
        "loss": "L1",
        "optimizer": "Adam(0.9, 0.999)",
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
