"""Random HR/LR patch batches cut from the decoded pictures, with flips and 90-degree rotations.

Batch `i` is a pure function of (seed, i): a resumed run, or any number of DataLoader workers or
DDP ranks, sees exactly the batches an uninterrupted run would have seen. A batch is only slicing
plus the augmentation (and one small encode for --degrade video), cheap enough for worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from repsr_video.errors import InputError

from .data import Degrade, Picture


def oriented(picture: Picture, transpose: bool) -> tuple[np.ndarray, np.ndarray]:
    """(LR, HR) views of the picture, transposed or not, with LR exactly the downscale of that HR."""
    if not transpose:
        return picture.lr, picture.hr
    assert picture.lr_t is not None
    return picture.lr_t, picture.hr.transpose(1, 0, 2)


def flip(lr: np.ndarray, hr: np.ndarray, code: int) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal (bit 0) and vertical (bit 1) flips, the same on both; exact for PIL's bicubic.

    With the transpose of `oriented` these make the 8 flips/rotations of the dihedral group.
    """
    if code & 1:
        lr, hr = lr[:, ::-1], hr[:, ::-1]
    if code & 2:
        lr, hr = lr[::-1], hr[::-1]
    return lr, hr


class PatchBatches(torch.utils.data.Dataset):
    """Index i -> batch i: (LR uint8 (N,3,p/s,p/s), HR uint8 (N,3,p,p)), a function of (seed, i) only.

    Pictures are drawn in proportion to their area, so a large photo gives more patches than a
    small frame, and every pixel is about equally likely to be seen.
    """

    def __init__(
        self,
        pictures: Sequence[Picture],
        *,
        scale: int,
        patch: int,
        batch_size: int,
        seed: int,
        length: int,
        degrade: Degrade = "bicubic",
    ) -> None:
        if patch % scale:
            raise ValueError(f"patch {patch} must be a multiple of the scale {scale}")
        self.pictures = [p for p in pictures if min(p.hr.shape[:2]) >= patch]
        if not self.pictures:
            raise InputError(f"no training picture is at least {patch}x{patch} pixels; use a smaller --patch")
        areas = np.array([p.hr.shape[0] * p.hr.shape[1] for p in self.pictures], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.scale, self.patch, self.batch_size = scale, patch, batch_size
        self.seed, self.length, self.degrade = seed, length, degrade

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        s, lp = self.scale, self.patch // self.scale
        picks = rng.choice(len(self.pictures), size=self.batch_size, p=self.weights)
        lrs, hrs = [], []
        for pick in picks:
            code = int(rng.integers(0, 8))
            lr_full, hr_full = oriented(self.pictures[pick], transpose=bool(code & 4))
            lh, lw = lr_full.shape[:2]
            y, x = int(rng.integers(0, lh - lp + 1)), int(rng.integers(0, lw - lp + 1))
            lr = lr_full[y : y + lp, x : x + lp]
            hr = hr_full[y * s : (y + lp) * s, x * s : (x + lp) * s]
            lr, hr = flip(lr, hr, code)
            lrs.append(np.ascontiguousarray(lr))
            hrs.append(np.ascontiguousarray(hr))
        if self.degrade == "video":
            from .degrade import degrade_video_batch

            lrs = degrade_video_batch(lrs, rng)
        lr_batch = torch.from_numpy(np.stack(lrs)).permute(0, 3, 1, 2).contiguous()
        hr_batch = torch.from_numpy(np.stack(hrs)).permute(0, 3, 1, 2).contiguous()
        return lr_batch, hr_batch


class BatchIndices(torch.utils.data.Sampler[int]):
    """Batch indices for one rank from a start iteration: global batch = iteration * world + rank."""

    def __init__(self, start: int, stop: int, rank: int = 0, world: int = 1) -> None:
        self.start, self.stop, self.rank, self.world = start, stop, rank, world

    def __iter__(self):
        return (it * self.world + self.rank for it in range(self.start, self.stop))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def batch_loader(
    dataset: PatchBatches, *, start: int, stop: int, rank: int = 0, world: int = 1, workers: int = 0
) -> torch.utils.data.DataLoader:
    """Batches for iterations [start, stop) of one rank, prepared by `workers` processes."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=None,
        sampler=BatchIndices(start, stop, rank, world),
        num_workers=workers,
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
        worker_init_fn=_worker_init if workers else None,
    )


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)  # workers only slice arrays (and encode for --degrade video)


def to_float(batch: torch.Tensor) -> torch.Tensor:
    return batch.float().div_(255.0)
