"""Training-step speed of the ablation's variants (it/s), on random batches, one after another.

    python benchmarks/train_speed.py [--size M4C16] [--scale 2] [--batch-size 8] [--patch 64] [--steps 40] [--threads N]

Times only forward + L1 + backward + Adam step (the data path costs ~1.5 ms per batch besides);
prints a table with the median of 5 blocks of steps, so a noisy neighbour on a shared CPU shows
up as spread rather than as a wrong figure. "frozen" rows are RepSR nets after the BN switch,
where each block is linear and trains as its merged conv.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from repsr_video.train.blocks import set_bn_frozen
from repsr_video.train.commands import add_setting
from repsr_video.train.loop import build_model
from repsr_video.train.settings import TrainSettings

VARIANTS = [  # (label, TrainSettings overrides, BN frozen)
    ("plain", dict(plain=True), False),
    ("repsr-none-e2", dict(norm="none", expansion=2), False),
    ("repsr-bn-e2", dict(norm="bn", expansion=2), False),
    ("repsr-bn-e2, frozen", dict(norm="bn", expansion=2), True),
    ("repsr-wn-e2", dict(norm="wn", expansion=2), False),
    ("repsr-bn-e1", dict(norm="bn", expansion=1), False),
    ("repsr-bn-e4", dict(norm="bn", expansion=4), False),
]


def _step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    loss = F.l1_loss(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser()
    add_setting(parser, "size")
    add_setting(parser, "scale", default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lp = args.patch // args.scale
    x = torch.rand(args.batch_size, 3, lp, lp).contiguous(memory_format=torch.channels_last)
    y = torch.rand(args.batch_size, 3, args.patch, args.patch).contiguous(memory_format=torch.channels_last)
    print(f"| variant ({args.size} x{args.scale}, batch {args.batch_size}, patch {args.patch}) | it/s (median) | min | max |")
    print("|---|---|---|---|")
    for name, overrides, frozen in VARIANTS:
        settings = TrainSettings(data=("-",), scale=args.scale, name="speed", size=args.size, **overrides)
        model = build_model(settings).to(memory_format=torch.channels_last).train()
        set_bn_frozen(model, frozen)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        for _ in range(5):
            _step(model, optimizer, x, y)  # warm-up
        rates = []
        block = max(1, args.steps // 5)
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(block):
                _step(model, optimizer, x, y)
            rates.append(block / (time.perf_counter() - start))
        print(f"| {name} | {statistics.median(rates):.1f} | {min(rates):.1f} | {max(rates):.1f} |", flush=True)


if __name__ == "__main__":
    main()
