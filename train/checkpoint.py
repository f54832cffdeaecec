"""Checkpoints: everything a resumed run needs that is not a pure function of the iteration."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from repsr_video.network import SRNet
from repsr_video.output import atomic_write

from .data import Picture
from .settings import TrainError, TrainSettings

CHECKPOINT_VERSION = 1


@dataclass
class History:
    loss: list[float] = field(default_factory=list)  # per iteration (rank 0's batch)
    val_iterations: list[int] = field(default_factory=list)
    val_psnr: list[float] = field(default_factory=list)
    bicubic_psnr: float | None = None
    bn_frozen_at: int | None = None
    train_seconds: float = 0.0  # time spent in training steps only


def data_fingerprint(pictures: list[Picture]) -> str:
    digest = hashlib.sha256()
    for p in pictures:
        digest.update(f"{p.name}:{p.hr.shape}".encode())
    return digest.hexdigest()[:16]


def checkpoint_path(settings: TrainSettings) -> Path:
    return settings.out_dir / f"{settings.name}.ckpt"


def unwrap(model: nn.Module) -> SRNet:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model  # type: ignore[return-value]


def save_checkpoint(path: Path, *, settings: TrainSettings, model: nn.Module, optimizer: torch.optim.Optimizer,
                    iteration: int, history: History, fingerprint: str) -> None:
    state = {
        "version": CHECKPOINT_VERSION,
        "identity": json.dumps(settings.identity(), sort_keys=True),
        "fingerprint": fingerprint,
        "iteration": iteration,
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": json.dumps(dataclasses.asdict(history)),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as partial:
        torch.save(state, partial)


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
        raise TrainError(f"{path}: checkpoint was made with other settings ({detail}); "
                         "resume with the same ones or use another --name/--out")
    if state["fingerprint"] != fingerprint:
        raise TrainError(f"{path}: the training data changed since the checkpoint (files or sizes differ)")
    return state
