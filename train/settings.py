"""What a training run is asked to do: `repsr-video train`'s settings, validated, and how to replay them.

`TrainSettings` is the one table of training options: each field carries its default, and its
metadata the command-line flag and help (train/commands.py and train/ablation.py build their
argument parsers from it, `command()` replays it). Allowed values come from one tuple each:
`NORMS`, `DEGRADES`, and the runtime's `SCALES` and `DEVICES` (repsr_video.choices).
"""

from __future__ import annotations

import dataclasses
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repsr_video.choices import DEVICES, SCALES, DeviceName
from repsr_video.errors import RepsrError
from repsr_video.network import parse_size

from .blocks import NORMS, Norm
from .data import DEGRADES, Degrade
from .schedule import Schedule

# Switch BN to population statistics after 80 % of the iterations. Measured (docs/ablation.md,
# M4C16 x2, 1500 iterations, 8 held-out photos): frozen at 0.8 +1.320 dB over bicubic, at 0.5
# +1.296, never +1.285 (and never leaves the merged net on lagging running averages). The margins
# are small, but the order matches the RepSR paper's "switch late": mini-batch statistics help the
# optimization most of the way, and 20 % of the run is enough for the affine parameters to adapt
# to the fixed statistics.
DEFAULT_FREEZE_BN_AT = 0.8
ADAM_BETAS = (0.9, 0.999)
LR_PATCH = 48  # default training patch side in LR pixels (HR: 48 x scale)
# Data worker processes by degradation. A bicubic batch is ~1.5 ms of slicing, cheaper than a
# worker's IPC; a video batch adds one small encode (tens of ms), which one worker keeps ahead of a
# training step on a 2-core CPU.
DEFAULT_WORKERS: dict[Degrade, int] = {"bicubic": 0, "video": 1}
VALIDATIONS_PER_RUN = 20  # default --val-every: iterations / 20
CHECKPOINTS_PER_RUN = 10  # default --checkpoint-every: iterations / 10

# The settings that make up a recipe, in the order `command()` writes them after --data, --scale
# and --name. The rest (device, resume, out, workers, val_every, checkpoint_every) choose how and
# where a run goes, not what it trains.
REPLAYED = ("plain", "size", "expansion", "norm", "iterations", "batch_size", "patch", "lr", "freeze_bn_at",
            "degrade", "seed", "prescale", "frames_per_clip", "description", "val", "default")
# What a checkpoint must agree on to be resumed (besides the HR patch side); anything else may change.
IDENTITY = ("scale", "size", "expansion", "norm", "plain", "iterations", "batch_size", "lr", "freeze_bn_at",
            "degrade", "seed", "prescale", "frames_per_clip", "data", "val")


class TrainError(RepsrError):
    """Training cannot go on (bad settings, a checkpoint that does not fit, a failed merge check)."""


def option(default: Any = dataclasses.MISSING, *, flag: str, help: str = "", metavar: str | None = None,
           choices: tuple[Any, ...] | None = None) -> Any:
    """A field with its command-line flag; `help` may use argparse's %(default)s."""
    metadata = {"flag": flag, "help": help, "metavar": metavar, "choices": choices}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class TrainSettings:
    data: tuple[str, ...] = option(flag="--data", metavar="PATH", help="folders or files of images and/or videos")
    scale: int = option(flag="--scale", choices=SCALES, help="upscaling factor of the preset to train")
    name: str = option(flag="--name", help="preset name (letters, digits, . _ -)")
    size: str = option("M4C16", flag="--size", help="deploy size M<blocks>C<channels> (default %(default)s)")
    expansion: int = option(2, flag="--expansion",
                            help="width multiplier of the expand-and-squeeze paths (default %(default)s)")
    norm: Norm = option("bn", flag="--norm", help="normalization in the paths (default %(default)s)")
    plain: bool = option(False, flag="--plain",
                         help="train the plain deploy net directly (no re-parameterization)")
    iterations: int = option(20000, flag="--iters", metavar="N", help="training iterations (default %(default)s)")
    batch_size: int = option(16, flag="--batch-size", help="patches per iteration and process (default %(default)s)")
    patch: int | None = option(None, flag="--patch", help=f"HR patch side in pixels (default {LR_PATCH} x scale)")
    lr: float = option(5e-4, flag="--lr", help="initial Adam learning rate, cosine-decayed (default %(default)s)")
    freeze_bn_at: float | None = option(
        DEFAULT_FREEZE_BN_AT, flag="--freeze-bn-at", metavar="FRACTION",
        help="switch BN to population statistics after this fraction of the iterations (default %(default)s; 1 = never)")
    degrade: Degrade = option("bicubic", flag="--degrade",
                              help="bicubic: clean downscale; video: plus blur, noise and H.264/HEVC compression")
    prescale: float = option(1.0, flag="--prescale", metavar="FACTOR",
                             help="downscale training pictures by FACTOR first (2 for JPEG photos, so JPEG noise is no target)")
    frames_per_clip: int = option(16, flag="--frames-per-clip", help="frames sampled over each video (default %(default)s)")
    val: tuple[str, ...] = option((), flag="--val", metavar="PATH",
                                  help="validation images (default: hold out part of --data)")
    device: DeviceName = option("auto", flag="--device",
                                help="where to train (auto: a CUDA GPU when torch sees one, else the CPU)")
    resume: bool = option(False, flag="--resume", help="continue from the run's checkpoint")
    out: str | None = option(None, flag="--out", metavar="DIR",
                             help="where the preset, checkpoint and report go (default runs/NAME)")
    workers: int | None = option(None, flag="--workers", metavar="N", help="data worker processes (default "
                                 + ", ".join(f"{n} for {d}" for d, n in DEFAULT_WORKERS.items()) + ")")
    seed: int = option(0, flag="--seed", help="random seed of weights, crops and degradations (default 0)")
    val_every: int | None = option(None, flag="--val-every", metavar="N",
                                   help=f"validate every N iterations (default iters/{VALIDATIONS_PER_RUN})")
    checkpoint_every: int | None = option(None, flag="--checkpoint-every", metavar="N",
                                          help=f"checkpoint every N iterations (default iters/{CHECKPOINTS_PER_RUN})")
    description: str = option("", flag="--description", help="the preset's one-line description")
    default: bool = option(False, flag="--default", help="mark the preset as the default for its scale")
    # Periodic validation on detail crops of this size (the final evaluation: whole images). No flag.
    val_crop: int = 256

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise TrainError(f"scale {self.scale} is not supported; choose one of {SCALES}")
        for key, allowed in (("norm", NORMS), ("degrade", DEGRADES), ("device", DEVICES)):
            value = getattr(self, key)
            if value not in allowed:
                raise TrainError(f"{key} {value!r} is not one of {', '.join(allowed)}")
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
        words = ["repsr-video", "train", "--data", *self.data, "--scale", str(self.scale), "--name", self.name]
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        flags = {f.name: f.metadata["flag"] for f in dataclasses.fields(self) if "flag" in f.metadata}
        for key in REPLAYED:
            value = getattr(self, key)
            if value == defaults[key]:
                continue
            if isinstance(value, bool):
                words.append(flags[key])
            elif isinstance(value, tuple):
                words += [flags[key], *value]
            else:
                words += [flags[key], "1" if value is None else f"{value:g}" if isinstance(value, float) else str(value)]
        return shlex.join(words)

    @property
    def hr_patch(self) -> int:
        return self.patch if self.patch is not None else LR_PATCH * self.scale

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / self.name

    @property
    def data_workers(self) -> int:
        return self.workers if self.workers is not None else DEFAULT_WORKERS[self.degrade]

    @property
    def val_interval(self) -> int:
        return self.val_every or max(1, self.iterations // VALIDATIONS_PER_RUN)

    @property
    def checkpoint_interval(self) -> int:
        return self.checkpoint_every or max(1, self.iterations // CHECKPOINTS_PER_RUN)

    @property
    def schedule(self) -> Schedule:
        uses_bn = self.norm == "bn" and not self.plain
        return Schedule(self.iterations, self.lr, self.freeze_bn_at if uses_bn else None)

    def identity(self) -> dict[str, object]:
        """What a checkpoint must agree on to be resumed (anything else may change)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items() if k in IDENTITY} | {
            "patch": self.hr_patch
        }
