"""The RepSR ablation on our data: equal iterations, equal deploy size, the same patches for every variant.

    python -m repsr_video.train.ablation --data PATH... --val IMAGES... [--iters N] [--size M4C16] [--scale 2]
                             [--prescale 2] [--out DIR] [--only NAME...]

Variants: the plain deploy net trained directly (also for the wall-clock time of a RepSR run);
RepSR without normalization, with BN never frozen, with BN frozen at several points, with weight
normalization; expansion 1, 2 and 4. Every variant sees the same batches (same seed) and is
scored on the held-out images with PSNR-Y gain over bicubic. Writes results.json and a markdown
table (ablation.md) into --out and prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

from repsr_video.output import atomic_write

from .commands import add_setting, settings_from_args
from .data import DataSummary
from .loop import prepare_data, train

# The ablation's own defaults (short runs on JPEG photos at x2); the rest are TrainSettings' defaults.
ABLATION_DEFAULTS = {"scale": 2, "iterations": 1500, "prescale": 2.0}


def variants(iters: int, plain_equal_time_iters: int | None) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = [
        ("plain", dict(plain=True)),
        ("repsr-none-e2", dict(norm="none", expansion=2)),
        ("repsr-bn-never-e2", dict(norm="bn", expansion=2, freeze_bn_at=1.0)),
        ("repsr-bn-0.5-e2", dict(norm="bn", expansion=2, freeze_bn_at=0.5)),
        ("repsr-bn-0.8-e2", dict(norm="bn", expansion=2, freeze_bn_at=0.8)),
        ("repsr-wn-e2", dict(norm="wn", expansion=2)),
        ("repsr-bn-0.8-e1", dict(norm="bn", expansion=1, freeze_bn_at=0.8)),
        ("repsr-bn-0.8-e4", dict(norm="bn", expansion=4, freeze_bn_at=0.8)),
    ]
    if plain_equal_time_iters:
        out.append((f"plain-{plain_equal_time_iters}it", dict(plain=True, iterations=plain_equal_time_iters)))
    return out


def table(rows: list[dict], scale: int, size: str) -> str:
    lines = [
        f"| variant (x{scale}, deploy {size}) | iterations | mean gain (dB) | worst gain (dB) | mean PSNR-Y | mean SSIM-Y "
        "| train time (s) | it/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['iterations']} | {r['mean_gain']:+.3f} | {r['worst_gain']:+.3f} | "
                     f"{r['mean_psnr']:.3f} | {r['mean_ssim']:.4f} | {r['train_seconds']:.0f} | {r['its_per_s']:.2f} |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m repsr_video.train.ablation", description=__doc__.splitlines()[0])
    add_setting(parser, "data")
    add_setting(parser, "val", required=True, help="held-out high-resolution images")
    for name in ("scale", "size", "iterations", "batch_size", "patch", "lr", "prescale"):
        add_setting(parser, name, **({"default": ABLATION_DEFAULTS[name]} if name in ABLATION_DEFAULTS else {}))
    parser.add_argument("--plain-equal-time-iters", type=int, default=None,
                        help="also train the plain net for this many iterations (about a RepSR run's wall-clock time)")
    add_setting(parser, "seed", help="data and init seed (the same for every variant)")
    parser.add_argument("--out", dest="root", default="runs/ablation", metavar="DIR",
                        help="results.json, ablation.md and one folder per variant")
    parser.add_argument("--only", nargs="*", default=None, help="run only these variants")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = Path(args.root)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    rows: list[dict] = json.loads(results_path.read_text()) if results_path.exists() else []
    done = {r["variant"] for r in rows}
    base = settings_from_args(args, name="ablation", val_every=max(1, args.iterations // 10), checkpoint_every=10**9)
    summary = DataSummary()
    t0 = time.perf_counter()
    train_pictures, val_pictures = prepare_data(base, summary)
    print(f"data: {len(train_pictures)} training pictures ({summary.train_megapixels:.1f} MP), "
          f"{len(val_pictures)} held-out images, decoded in {time.perf_counter() - t0:.0f} s", flush=True)
    for name, overrides in variants(args.iterations, args.plain_equal_time_iters):
        if name in done or (args.only and name not in args.only):
            continue
        settings = dataclasses.replace(base, name=name, out=str(out / name), **overrides)
        result = train(settings, prepared=(train_pictures, val_pictures, summary))
        assert result is not None  # one process: rank 0
        e = result.evaluation
        rows.append({
            "variant": name, "iterations": settings.iterations, "mean_gain": e.mean_gain, "worst_gain": e.worst_gain,
            "mean_psnr": e.mean_psnr, "mean_ssim": e.mean_ssim, "train_seconds": result.train_seconds,
            "its_per_s": result.its_per_s, "merge_error": result.merge_error,
            "per_image_gain": {Path(s.name).name: s.gain for s in e.scores},
            "val_curve": list(zip(result.history.val_iterations, result.history.val_psnr, strict=True)),
        })
        with atomic_write(results_path) as partial:  # a killed run keeps the variants finished so far
            partial.write_text(json.dumps(rows, indent=1))
        print(f"{name}: gain {e.mean_gain:+.3f} dB (worst {e.worst_gain:+.3f}), {result.train_seconds:.0f} s, "
              f"{result.its_per_s:.2f} it/s", flush=True)
    text = table(rows, args.scale, args.size)
    command = "python -m repsr_video.train.ablation " + shlex.join(sys.argv[1:] if argv is None else argv)
    with atomic_write(out / "ablation.md") as partial:
        partial.write_text(f"{text}\n\nCommand: `{command}`\n\nMachine: {platform.machine()}, torch {torch.__version__}, "
                           f"{torch.get_num_threads()} threads.\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
