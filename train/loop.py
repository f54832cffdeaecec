"""The training loop behind `repsr-video train`: data -> RepSR net -> merge -> checked preset.

L1 loss, Adam, cosine learning-rate decay, and the frozen-BN switch of RepSR. Everything a resumed
run needs is in the checkpoint or is a pure function of the iteration (schedule, data batches), so
`resume` continues exactly. Under `torchrun` the same loop runs DistributedDataParallel (gloo on
CPU, NCCL on CUDA); only rank 0 validates, checkpoints and writes.

The library never prints: progress goes to an `on_event` callback that the CLI renders.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from repsr_video.engine import DeviceName, resolve_device
from repsr_video.errors import InputError
from repsr_video.network import SRNet, parse_size

from .blocks import is_bn_frozen, recalibrate_bn, set_bn_frozen
from .checkpoint import History, checkpoint_path, data_fingerprint, load_checkpoint, save_checkpoint, unwrap
from .data import DataSummary, Picture, detail_crop, load_pictures, pictures_megapixels, split_validation
from .evaluate import evaluate_pictures
from .export import TrainResult, finish
from .net import RepSRNet
from .patches import PatchBatches, batch_loader, to_float
from .settings import TrainError, TrainSettings

CALIBRATION_BATCHES = 32
TAIL_INIT_GAIN = 0.1


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


def _pick_device(choice: DeviceName) -> torch.device:
    """The runtime's device choice; under torchrun each process takes the GPU of its local rank."""
    device = resolve_device(choice)
    if device.type == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


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
    val_crops = [detail_crop(p, settings.val_crop, settings.scale) for p in val_pictures]
    fingerprint = data_fingerprint(train_pictures + val_pictures)

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
        unwrap(model).load_state_dict(state["model"])
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
    val_every = settings.val_interval
    checkpoint_every = settings.checkpoint_interval
    emit(Event("start", iteration=start, total=settings.iterations, bicubic_psnr=history.bicubic_psnr,
               message=f"{len(train_pictures)} training pictures, {len(val_pictures)} validation"))

    iteration = start
    model.train()
    loader = batch_loader(dataset, start=start, stop=settings.iterations, rank=dist_info.rank,
                          world=dist_info.world, workers=default_workers(settings))
    rate_window: list[tuple[int, float]] = []
    try:
        for lr_u8, hr_u8 in loader:
            if schedule.freeze_iteration == iteration and not is_bn_frozen(unwrap(model)):
                recalibrate_bn(unwrap(model), _calibration_batches(dataset, device, channels_last))
                set_bn_frozen(unwrap(model), True)
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
                psnr = _validate(unwrap(model), val_crops, settings.scale, device)
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
    return finish(settings, unwrap(model), val_pictures, summary, history, device)


def _bicubic_psnr(pictures: list[Picture], scale: int) -> float:
    from .data import bicubic_upscale
    from .metrics import psnr_y

    return float(np.mean([psnr_y(p.hr, bicubic_upscale(p.lr, scale), scale) for p in pictures]))
