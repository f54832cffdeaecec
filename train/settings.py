"""What a training run is asked to do: `repsr-video train`'s settings, validated, and how to replay them."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from repsr_video.errors import RepsrError
from repsr_video.network import SCALES, parse_size

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
