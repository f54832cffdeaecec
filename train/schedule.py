"""Learning-rate decay and the frozen-BN switch point, as pure functions of the iteration.

Nothing here has state of its own, so a resumed run gets the exact same schedule from the iteration
counter alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """Cosine decay from `lr` to `lr * final_fraction` over `iterations`, after a short linear warm-up.

    `freeze_bn_at` is the fraction of the iterations after which BN switches to population
    statistics (RepSR); None or >= 1 means never.
    """

    iterations: int
    lr: float
    freeze_bn_at: float | None = 0.5
    final_fraction: float = 0.01
    warmup: int = 0

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        if self.lr <= 0:
            raise ValueError(f"learning rate must be > 0, got {self.lr}")
        if self.freeze_bn_at is not None and not 0.0 <= self.freeze_bn_at:
            raise ValueError(f"freeze-bn-at must be a fraction >= 0, got {self.freeze_bn_at}")

    def lr_at(self, iteration: int) -> float:
        """Learning rate for the step that starts at `iteration` (0-based)."""
        if self.warmup and iteration < self.warmup:
            return self.lr * (iteration + 1) / self.warmup
        span = max(1, self.iterations - self.warmup)
        progress = min(1.0, (iteration - self.warmup) / span)
        low = self.lr * self.final_fraction
        return low + 0.5 * (self.lr - low) * (1.0 + math.cos(math.pi * progress))

    @property
    def freeze_iteration(self) -> int | None:
        """The iteration at whose start BN switches to population statistics, or None for never."""
        if self.freeze_bn_at is None or self.freeze_bn_at >= 1.0:
            return None
        return int(round(self.freeze_bn_at * self.iterations))

    def bn_frozen_at(self, iteration: int) -> bool:
        """Whether the step starting at `iteration` runs with frozen (population-statistics) BN."""
        switch = self.freeze_iteration
        return switch is not None and iteration >= switch
