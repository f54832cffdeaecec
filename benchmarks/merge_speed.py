"""Merged (deploy) vs multi-branch (training) RepSR net: exactness and CPU speed.

    python benchmarks/merge_speed.py [--size M4C16] [--scale 2] [--height 360] [--width 640] [--runs 7]

Prints the max abs merge error over random BN statistics and the frames/s (median of --runs) of both
forms in float32 eager mode, one frame at a time, on this machine's CPU threads.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from repsr_video.network import parse_size
from repsr_video.train.merge import merge
from repsr_video.train.net import RepSRNet


def fps(model: torch.nn.Module, x: torch.Tensor, runs: int) -> float:
    with torch.inference_mode():
        model(x)  # warm-up
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times)


def randomize_bn(model: torch.nn.Module) -> None:
    """Population statistics and affine parameters far from the identity, so folding really matters."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.2, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)


def grid_error(blocks: int, channels: int) -> float:
    """Max abs merge error over scales 2/3/4, norms bn/wn/none and expansions 1/2/4 (odd 67x45 input)."""
    worst = 0.0
    for scale in (2, 3, 4):
        for norm in ("bn", "wn", "none"):
            for expansion in (1, 2, 4):
                model = RepSRNet(scale, blocks, channels, expansion=expansion, norm=norm)
                randomize_bn(model)
                model.eval()
                x = torch.rand(2, 3, 45, 67)
                with torch.inference_mode():
                    worst = max(worst, (model(x) - merge(model)(x)).abs().max().item())
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="M4C16")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--expansion", type=int, default=2)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    blocks, channels = parse_size(args.size)
    torch.manual_seed(0)
    model = RepSRNet(args.scale, blocks, channels, expansion=args.expansion, norm="bn")
    randomize_bn(model)
    model.eval()
    deploy = merge(model)
    x = torch.rand(1, 3, args.height, args.width)
    with torch.inference_mode():
        error = (model(x) - deploy(x)).abs().max().item()
    multi, merged = fps(model, x, args.runs), fps(deploy, x, args.runs)
    print(f"{args.size} x{args.scale} E{args.expansion}, {args.width}x{args.height} input, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'form':<14}{'frames/s':>10}")
    print(f"{'multi-branch':<14}{multi:>10.2f}")
    print(f"{'merged':<14}{merged:>10.2f}")
    print(f"speed-up {merged / multi:.2f}x; max abs merge error {error:.2e}")
    print(f"max abs merge error over scales 2/3/4 x norms bn/wn/none x expansions 1/2/4: {grid_error(blocks, channels):.2e}")


if __name__ == "__main__":
    main()
