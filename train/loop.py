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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from repsr_video.choices import DeviceName
from repsr_video.engine import resolve_device
from repsr_video.errors import InputError
from repsr_video.network import SRNet, parse_size

from .blocks import is_bn_frozen, recalibrate_bn, set_bn_frozen
from .checkpoint import History, checkpoint_path, data_fingerprint, load_checkpoint, save_checkpoint, unwrap
from .data import DataSummary, Picture, detail_crop, load_pictures, pictures_megapixels, split_validation
from .evaluate import evaluate_pictures
from .export import TrainResult, finish
from .net import RepSRNet
from .patches import PatchBatches, batch_loader, to_float
from .settings import ADAM_BETAS, TrainError, TrainSettings

CALIBRATION_BATCHES = 32
TAIL_INIT_GAIN = 0.1
# channels_last: measured +20-35 % it/s on a 2-core CPU for M4C16 (plain and RepSR), and the
# layout CUDA tensor cores want.
CHANNELS_LAST = True


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
        if model.tail.bias is not None:
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
            raise InputError(f"{', '.join(settings.data)}: nothing left to train on after holding out validation; "
                             "add data or pass --val")
    summary.train_pictures = len(train)
    summary.train_megapixels = pictures_megapixels(train)
    whole_sources = settings.val or len({p.source for p in pictures}) > 1  # else: one source split in two
    summary.validation = sorted({p.source for p in val}) if whole_sources else [v.name for v in val]
    return train, val


# --- the loop -------------------------------------------------------------------------------


def _validate(model: nn.Module, val: list[Picture], scale: int, device: torch.device) -> float:
    evaluation = evaluate_pictures(model, val, scale, device=device, with_ssim=False)
    return evaluation.mean_psnr


def _calibration_batches(dataset: PatchBatches, device: torch.device, channels_last: bool) -> Iterator[torch.Tensor]:
    # Their own seed stream, so the training batches (and a resumed run) are unaffected.
    calibration = PatchBatches(dataset.pictures, scale=dataset.scale, patch=dataset.patch,
                               batch_size=dataset.batch_size, seed=dataset.seed + 7919,
                               length=CALIBRATION_BATCHES, degrade=dataset.degrade)
    for index in range(CALIBRATION_BATCHES):
        lr, _hr = calibration[index]
        x = to_float(lr.to(device))
        yield x.contiguous(memory_format=torch.channels_last) if channels_last else x


# --- a run, set up --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainData:
    """The decoded pictures of a run and what is derived from them once."""

    train: list[Picture]
    val: list[Picture]  # whole images, for the final evaluation
    val_crops: list[Picture]  # their detail crops, for the periodic validation
    summary: DataSummary
    fingerprint: str  # what a resumed run's data must match


@dataclass
class RunState:
    """What changes as a run goes: the next iteration and the history (loss, validation, BN switch, time).

    With the model and the optimizer it is all a checkpoint holds; the learning rate, the BN switch
    point and the batches are pure functions of the iteration.
    """

    iteration: int = 0
    history: History = field(default_factory=History)


@dataclass
class Run:
    """A run ready to go: the fixed parts, and its state."""

    settings: TrainSettings
    device: torch.device
    dist: _Dist
    emit: Callable[[Event], None]
    checkpoint: Path
    data: TrainData
    model: nn.Module  # the net, or DistributedDataParallel around it
    optimizer: torch.optim.Optimizer
    batches: PatchBatches
    state: RunState

    @property
    def net(self) -> SRNet:
        return unwrap(self.model)

    def event(self, kind: str, **fields: Any) -> None:
        self.emit(Event(kind, iteration=self.state.iteration, total=self.settings.iterations, **fields))


def _start(settings: TrainSettings) -> tuple[torch.device, _Dist]:
    """The device and, under torchrun, the process group."""
    device = _pick_device(settings.device)
    dist_info = _init_distributed(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    return device, dist_info


def _checked_checkpoint_path(settings: TrainSettings, dist_info: _Dist) -> Path:
    """The run's checkpoint path: an earlier run's is never overwritten without --resume."""
    ckpt = checkpoint_path(settings)
    if dist_info.main:
        if ckpt.exists() and not settings.resume:
            raise TrainError(f"{ckpt}: a checkpoint of an earlier run exists; "
                             "pass --resume to continue it, or another --name/--out")
        if settings.resume and not ckpt.exists():
            raise TrainError(f"{ckpt}: no checkpoint to resume from")
    return ckpt


def _load_data(settings: TrainSettings, prepared: tuple[list[Picture], list[Picture], DataSummary] | None) -> TrainData:
    if prepared is None:
        summary = DataSummary()
        train_pictures, val_pictures = prepare_data(settings, summary)
    else:
        train_pictures, val_pictures, summary = prepared
    val_crops = [detail_crop(p, settings.val_crop, settings.scale) for p in val_pictures]
    return TrainData(train_pictures, val_pictures, val_crops, summary, data_fingerprint(train_pictures + val_pictures))


def _resume(ckpt: Path, settings: TrainSettings, fingerprint: str, net: SRNet, optimizer: torch.optim.Optimizer,
            device: torch.device) -> RunState:
    """Load the checkpoint into the net and optimizer, restore the RNG, and return the state it saved."""
    saved = load_checkpoint(ckpt, settings, fingerprint)
    net.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["torch_rng"])
    if device.type == "cuda" and saved["cuda_rng"]:
        torch.cuda.set_rng_state_all(saved["cuda_rng"])
    return RunState(int(saved["iteration"]), History(**json.loads(saved["history"])))


def _set_up(settings: TrainSettings, device: torch.device, dist_info: _Dist, emit: Callable[[Event], None],
            ckpt: Path, data: TrainData) -> Run:
    """Model, optimizer and state (fresh or resumed), in the order that makes a resume exact."""
    torch.manual_seed(settings.seed)
    net = build_model(settings).to(device)
    if CHANNELS_LAST:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack it
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr, betas=ADAM_BETAS)
    state = _resume(ckpt, settings, data.fingerprint, net, optimizer, device) if settings.resume else RunState()
    model: nn.Module = net
    if dist_info.world > 1:
        model = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    batches = PatchBatches(data.train, scale=settings.scale, patch=settings.hr_patch, batch_size=settings.batch_size,
                           seed=settings.seed, length=settings.iterations * dist_info.world, degrade=settings.degrade)
    if state.history.bicubic_psnr is None and dist_info.main:
        state.history.bicubic_psnr = _bicubic_psnr(data.val_crops, settings.scale)
    return Run(settings, device, dist_info, emit, ckpt, data, model, optimizer, batches, state)


# --- the loop -------------------------------------------------------------------------------


def train(settings: TrainSettings, on_event: Callable[[Event], None] = _noop, *,
          prepared: tuple[list[Picture], list[Picture], DataSummary] | None = None) -> TrainResult | None:
    """Run (or resume) training and write the preset. Returns None on ranks other than 0.

    `prepared` is the result of `prepare_data(settings, summary)` with its summary, for callers
    that train several models on the same data (the ablation) and decode it once.
    """
    device, dist_info = _start(settings)
    emit = on_event if dist_info.main else _noop
    ckpt = _checked_checkpoint_path(settings, dist_info)
    emit(Event("loading", total=settings.iterations, message="decoding training data"))
    data = _load_data(settings, prepared)
    run = _set_up(settings, device, dist_info, emit, ckpt, data)
    run.event("start", bicubic_psnr=run.state.history.bicubic_psnr,
              message=f"{len(data.train)} training pictures, {len(data.val)} validation")
    try:
        _run_steps(run)
    except KeyboardInterrupt:
        if dist_info.main:
            _save(run)
            run.event("checkpoint", message=f"interrupted; {ckpt} holds iteration {run.state.iteration}, continue with --resume")
        raise
    if dist_info.main:
        _save(run)
    if dist_info.world > 1:
        import torch.distributed as dist

        dist.barrier()
        if not dist_info.main:
            return None
    run.event("finishing", message="merging and evaluating")
    return finish(settings, run.net, data.val, data.summary, run.state.history, device)


def _run_steps(run: Run) -> None:
    """Iterations from the state's up to the end: the BN switch when due, a step, validation, checkpoints."""
    settings, state = run.settings, run.state
    run.model.train()
    loader = batch_loader(run.batches, start=state.iteration, stop=settings.iterations, rank=run.dist.rank,
                          world=run.dist.world, workers=settings.data_workers)
    rate = _Rate()
    for lr_u8, hr_u8 in loader:
        _freeze_bn_if_due(run)
        step_start = time.perf_counter()
        lr_now = settings.schedule.lr_at(state.iteration)
        loss = _step(run, lr_u8, hr_u8, lr_now)
        state.iteration += 1
        now = time.perf_counter()
        state.history.train_seconds += now - step_start
        state.history.loss.append(loss)
        run.event("step", loss=loss, its_per_s=rate.add(state.iteration, now), lr=lr_now)
        if run.dist.main and (state.iteration % settings.val_interval == 0 or state.iteration == settings.iterations):
            psnr = _validate(run.net, run.data.val_crops, settings.scale, run.device)
            state.history.val_iterations.append(state.iteration)
            state.history.val_psnr.append(psnr)
            run.event("validation", psnr=psnr, bicubic_psnr=state.history.bicubic_psnr)
        if run.dist.main and state.iteration % settings.checkpoint_interval == 0 and state.iteration < settings.iterations:
            _save(run)
            run.event("checkpoint", message=str(run.checkpoint))


def _freeze_bn_if_due(run: Run) -> None:
    """RepSR's switch: at the scheduled iteration, re-estimate BN's population statistics and use them from then on."""
    if run.settings.schedule.freeze_iteration != run.state.iteration or is_bn_frozen(run.net):
        return
    recalibrate_bn(run.net, _calibration_batches(run.batches, run.device, CHANNELS_LAST))
    set_bn_frozen(run.net, True)
    run.state.history.bn_frozen_at = run.state.iteration
    run.event("bn_frozen", message=f"BN switched to population statistics at iteration {run.state.iteration}")


def _step(run: Run, lr_u8: torch.Tensor, hr_u8: torch.Tensor, lr_now: float) -> float:
    """One optimizer step on a uint8 batch at learning rate `lr_now`; returns the loss."""
    for group in run.optimizer.param_groups:
        group["lr"] = lr_now
    x = to_float(lr_u8.to(run.device, non_blocking=True))
    y = to_float(hr_u8.to(run.device, non_blocking=True))
    if CHANNELS_LAST:
        x = x.contiguous(memory_format=torch.channels_last)
        y = y.contiguous(memory_format=torch.channels_last)
    loss = F.l1_loss(run.model(x), y)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    return float(loss.detach())


def _save(run: Run) -> None:
    save_checkpoint(run.checkpoint, settings=run.settings, model=run.model, optimizer=run.optimizer,
                    iteration=run.state.iteration, history=run.state.history, fingerprint=run.data.fingerprint)


class _Rate:
    """Iterations per second over the last `window` steps (None until there are two)."""

    def __init__(self, window: int = 50) -> None:
        self.window = window
        self.points: list[tuple[int, float]] = []

    def add(self, iteration: int, now: float) -> float | None:
        self.points = (self.points + [(iteration, now)])[-self.window:]
        if len(self.points) < 2:
            return None
        (i0, t0), (i1, t1) = self.points[0], self.points[-1]
        return (i1 - i0) / max(t1 - t0, 1e-9)


def _bicubic_psnr(pictures: list[Picture], scale: int) -> float:
    from .data import bicubic_upscale
    from .metrics import psnr_y

    return float(np.mean([psnr_y(p.hr, bicubic_upscale(p.lr, scale), scale) for p in pictures]))
