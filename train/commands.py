"""`repsr-video train` and `repsr-video eval`: their arguments and what they print.

cli.py registers them; the training code itself is imported only when one of them runs, so the
upscaler starts without it.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


def train_parser(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--data", nargs="+", required=True, metavar="PATH", help="folders or files of images and/or videos")
    sub.add_argument("--scale", type=int, required=True, choices=(2, 3, 4))
    sub.add_argument("--name", required=True, help="preset name (letters, digits, . _ -)")
    sub.add_argument("--size", default="M4C16", help="deploy size M<blocks>C<channels> (default M4C16)")
    sub.add_argument("--expansion", type=int, default=2, help="width multiplier of the expand-and-squeeze paths (default 2)")
    sub.add_argument("--norm", choices=("bn", "wn", "none"), default="bn", help="normalization in the paths (default bn)")
    sub.add_argument("--plain", action="store_true", help="train the plain deploy net directly (no re-parameterization)")
    sub.add_argument("--iters", type=int, default=20000, help="training iterations (default 20000)")
    sub.add_argument("--batch-size", type=int, default=16, help="patches per iteration and process (default 16)")
    sub.add_argument("--patch", type=int, default=None, help="HR patch side in pixels (default 48 x scale)")
    sub.add_argument("--lr", type=float, default=5e-4, help="initial Adam learning rate, cosine-decayed (default 5e-4)")
    sub.add_argument("--freeze-bn-at", type=float, default=None, metavar="FRACTION",
                     help="switch BN to population statistics after this fraction of the iterations (default 0.8; 1 = never)")
    sub.add_argument("--degrade", choices=("bicubic", "video"), default="bicubic",
                     help="bicubic: clean downscale; video: plus blur, noise and H.264/HEVC compression")
    sub.add_argument("--prescale", type=float, default=1.0, metavar="FACTOR",
                     help="downscale training pictures by FACTOR first (2 for JPEG photos, so JPEG noise is no target)")
    sub.add_argument("--frames-per-clip", type=int, default=16, help="frames sampled over each video (default 16)")
    sub.add_argument("--val", nargs="+", default=[], metavar="PATH", help="validation images (default: hold out part of --data)")
    sub.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    sub.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    sub.add_argument("--out", default=None, metavar="DIR", help="where the preset, checkpoint and report go (default runs/NAME)")
    sub.add_argument("--workers", type=int, default=None, help="data worker processes (default 0 for bicubic, 2 for video)")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--val-every", type=int, default=None, metavar="N", help="validate every N iterations (default iters/20)")
    sub.add_argument("--checkpoint-every", type=int, default=None, metavar="N", help="checkpoint every N iterations (default iters/10)")
    sub.add_argument("--description", default="", help="the preset's one-line description")
    sub.add_argument("--default", action="store_true", help="mark the preset as the default for its scale")
    sub.add_argument("--quiet", action="store_true", help="no progress display")


def train_command(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from repsr_video.train.loop import train
    from repsr_video.train.settings import DEFAULT_FREEZE_BN_AT, TrainSettings

    settings = TrainSettings(
        data=tuple(args.data), scale=args.scale, name=args.name, size=args.size, expansion=args.expansion,
        norm=args.norm, plain=args.plain, iterations=args.iters, batch_size=args.batch_size, patch=args.patch,
        lr=args.lr, freeze_bn_at=DEFAULT_FREEZE_BN_AT if args.freeze_bn_at is None else args.freeze_bn_at,
        degrade=args.degrade, val=tuple(args.val), device=args.device, resume=args.resume, out=args.out,
        workers=args.workers, seed=args.seed, val_every=args.val_every, checkpoint_every=args.checkpoint_every,
        default=args.default, prescale=args.prescale, frames_per_clip=args.frames_per_clip,
        description=args.description,
    )
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=args.quiet,
    )
    state = {"loss": None, "its": None, "val": "", "bicubic": None, "task": None}

    def on_event(event) -> None:
        if event.kind == "start":
            state["task"] = progress.add_task(settings.name, total=settings.iterations, completed=event.iteration, info="")
            state["bicubic"] = event.bicubic_psnr
            progress.console.print(f"{event.message}; bicubic PSNR-Y {event.bicubic_psnr:.2f} dB", markup=False)
        elif event.kind == "step":
            state["loss"], state["its"] = event.loss, event.its_per_s
        elif event.kind == "validation":
            state["val"] = f"val {event.psnr:.2f} dB ({event.psnr - state['bicubic']:+.2f})"
            progress.console.print(f"iteration {event.iteration}: validation PSNR-Y {event.psnr:.2f} dB, "
                                   f"{event.psnr - state['bicubic']:+.2f} dB over bicubic", markup=False)
        elif event.kind in ("bn_frozen", "checkpoint", "loading", "finishing"):
            if event.kind != "checkpoint" or "interrupted" in event.message:
                progress.console.print(event.message, markup=False)
        its = f"{state['its']:.2f} it/s" if state["its"] else ""
        loss = f"loss {state['loss']:.4f}" if state["loss"] is not None else ""
        if state["task"] is not None:
            progress.update(state["task"], completed=event.iteration, info=" ".join(x for x in (loss, its, state["val"]) if x))

    with progress:
        result = train(settings, on_event)
    if result is None:  # a non-zero rank under torchrun
        return 0
    e = result.evaluation
    console.print(
        f"preset {result.preset_path}: mean PSNR-Y gain {e.mean_gain:+.2f} dB over bicubic (worst {e.worst_gain:+.2f}), "
        f"SSIM-Y {e.mean_ssim:.4f}; merge error {result.merge_error:.2g}; {result.its_per_s:.2f} it/s; "
        f"report {result.report_path}", markup=False, highlight=False, soft_wrap=True)
    return 0


def eval_parser(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--preset", required=True, metavar="NAME|PATH", help="installed preset name or path of a .toml")
    sub.add_argument("images", nargs="+", metavar="IMAGES_OR_DIRS", help="high-resolution images or folders of them")
    sub.add_argument("--json", action="store_true", help="print machine-readable JSON")
    sub.add_argument("--compare", default=None, metavar="OUT.png",
                     help="write a side-by-side crop (bicubic | preset | original) of the first image")
    sub.add_argument("--degrade", choices=("bicubic", "video"), default="bicubic",
                     help="video: the low-resolution input is also H.264-compressed (CRF 28, 4:2:0), for both bicubic and the preset")


def eval_command(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from repsr_video.train.evaluate import evaluate_preset, write_compare

    evaluation, net, pictures = evaluate_preset(args.preset, args.images, args.degrade)
    if args.compare:
        write_compare(net, pictures[0], evaluation.scale, args.compare)
    if args.json:
        print(json.dumps(evaluation.as_dict() | {"preset": args.preset}, indent=2))
        return 0
    table = Table(title=f"{Path(args.preset).stem} vs bicubic, x{evaluation.scale} (PSNR/SSIM on BT.601 Y)",
                  caption=f"mean gain {evaluation.mean_gain:+.2f} dB, worst image {evaluation.worst_gain:+.2f} dB")
    for column in ("image", "bicubic PSNR", "bicubic SSIM", "preset PSNR", "preset SSIM", "gain"):
        table.add_column(column, justify="left" if column == "image" else "right", no_wrap=column in ("image", "gain"))
    for s in evaluation.scores:
        table.add_row(Path(s.name).name, f"{s.bicubic_psnr:.2f}", f"{s.bicubic_ssim:.4f}", f"{s.psnr:.2f}",
                      f"{s.ssim:.4f}", f"{s.gain:+.2f} dB")
    table.add_row("mean", f"{evaluation.mean_bicubic_psnr:.2f}", f"{evaluation.mean_bicubic_ssim:.4f}",
                  f"{evaluation.mean_psnr:.2f}", f"{evaluation.mean_ssim:.4f}", f"{evaluation.mean_gain:+.2f} dB", style="bold")
    Console().print(table)
    if args.compare:
        console.print(f"comparison written to {args.compare}", markup=False)
    return 0
