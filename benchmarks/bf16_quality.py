"""How much does bf16 inference on CPU change the picture? PSNR of bf16 output against fp32 output.

    python benchmarks/bf16_quality.py                    # trains a plain M4C16 x2 for 60 s first
    python benchmarks/bf16_quality.py --preset NAME|PATH # or use a trained preset

Without a preset, a plain SRNet is trained briefly (L1, Adam) on crops of skimage's astronaut,
chelsea and rocket, so the residual it predicts looks like a real model's rather than random noise.
Evaluation uses coffee.png (not trained on), bicubically downscaled (PIL), as the low-res input.
Rows: "engine bf16" is what the engine does (residual branch in bf16, skip and conversion in fp32);
"whole net bf16" casts everything, skip included, for comparison. PSNR is over RGB, 8-bit peak
(16-bit peak for the uint16 rows).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# As the CLI does: idle OpenMP threads sleep rather than spin (the 2 cores here are shared).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from repsr_video.engine import EngineSettings, create_engine_for_network  # noqa: E402
from repsr_video.network import SRNet  # noqa: E402


def _image(name: str) -> np.ndarray:
    import skimage

    return np.asarray(Image.open(Path(skimage.__file__).parent / "data" / name).convert("RGB"))


def _downscale(hr: np.ndarray, scale: int) -> np.ndarray:
    h, w = hr.shape[0] // scale * scale, hr.shape[1] // scale * scale
    return np.asarray(Image.fromarray(hr[:h, :w]).resize((w // scale, h // scale), Image.BICUBIC))


def _train(scale: int, seconds: float) -> SRNet:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = SRNet(scale, 4, 16)
    pairs = []
    for name in ("astronaut.png", "chelsea.png", "rocket.jpg"):
        hr = _image(name)
        lr = _downscale(hr, scale)
        hr = hr[: lr.shape[0] * scale, : lr.shape[1] * scale]
        pairs.append(tuple(torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 255 for a in (lr, hr)))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    patch, start, steps = 32, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        xs, ys = [], []
        for _ in range(16):
            lr, hr = pairs[rng.integers(len(pairs))]
            i, j = rng.integers(0, lr.shape[1] - patch), rng.integers(0, lr.shape[2] - patch)
            xs.append(lr[:, i : i + patch, j : j + patch])
            ys.append(hr[:, i * scale : (i + patch) * scale, j * scale : (j + patch) * scale])
        loss = F.l1_loss(net(torch.stack(xs)), torch.stack(ys))
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    print(f"trained plain M4C16 x{scale} for {steps} steps ({seconds:.0f} s), last L1 {loss.item():.4f}")
    return net.eval()


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--train-seconds", type=float, default=60)
    parser.add_argument("--image", default="coffee.png")
    args = parser.parse_args(argv)

    if args.preset:
        from repsr_video.preset import load_preset

        preset = load_preset(args.preset)
        net, scale = preset.build_network(), preset.scale
        print(f"preset {preset.name} ({preset.size} x{scale})")
    else:
        scale = args.scale
        net = _train(scale, args.train_seconds)

    hr = _image(args.image)
    lr = _downscale(hr, scale)
    hr = hr[: lr.shape[0] * scale, : lr.shape[1] * scale]
    bicubic = np.asarray(Image.fromarray(lr).resize((hr.shape[1], hr.shape[0]), Image.BICUBIC))
    settings = EngineSettings(device="cpu", backend="eager")
    rows = []
    for depth, peak in (("uint8", 255.0), ("uint16", 65535.0)):
        frames = lr[None].astype(np.uint16) * 257 if depth == "uint16" else lr[None]
        truth = hr.astype(np.float64) * (peak / 255)
        fp32 = create_engine_for_network(net, settings, precision="fp32").upscale(frames)[0]
        bf16 = create_engine_for_network(net, settings, precision="bf16").upscale(frames)[0]
        with torch.inference_mode():
            x = torch.from_numpy(frames.astype(np.float32)).permute(0, 3, 1, 2) / peak
            whole = net.to(torch.bfloat16)(x.to(torch.bfloat16)).float().clamp(0, 1).mul(peak).round()[0].permute(1, 2, 0).numpy()
            net.float()
        rows.append((depth, "bicubic", float("nan"), psnr(bicubic.astype(np.float64) * (peak / 255), truth, peak)))
        rows.append((depth, "engine fp32", float("inf"), psnr(fp32, truth, peak)))
        rows.append((depth, "engine bf16", psnr(bf16, fp32, peak), psnr(bf16, truth, peak)))
        rows.append((depth, "whole net bf16", psnr(whole, fp32, peak), psnr(whole, truth, peak)))
        diff = np.abs(bf16.astype(np.int64) - fp32.astype(np.int64))
        levels = diff / (peak / 255) if depth == "uint16" else diff
        rows.append((depth, f"  engine bf16 max diff {diff.max()} ({levels.max():.2f} 8-bit levels), "
                            f"{np.mean(diff > 0) * 100:.1f}% of values differ", None, None))
    print(f"image {args.image}: {lr.shape[1]}x{lr.shape[0]} -> x{scale}")
    print(f"{'frames':7} {'output':16} {'PSNR vs fp32':>13} {'PSNR vs original':>17}")
    for depth, name, vs_fp32, vs_truth in rows:
        if vs_fp32 is None:
            print(f"{depth:7} {name}")
        else:
            print(f"{depth:7} {name:16} {vs_fp32:13.2f} {vs_truth:17.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
