"""`repsr-video train` and `repsr-video eval`: their arguments and what they print.

cli.py registers them; the training code itself is imported only when one of them runs, so the
upscaler starts without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from pathlib import Path

    from rich.progress import TaskID

    from repsr_video.train.loop import Event
    from repsr_video.train.settings import TrainSettings

console = Console(stderr=True)


def add_setting(parser: argparse.ArgumentParser, name: str, **overrides: Any) -> None:
    """Add the `TrainSettings` field `name` as its flag: type, default, choices and help come from the field.

    `overrides` replace what the field says (another default, help, required).
    """
    from repsr_video.train.settings import TrainSettings

    field = next(f for f in dataclasses.fields(TrainSettings) if f.name == name)
    hint = typing.get_type_hints(TrainSettings)[name]
    meta = field.metadata
    kwargs: dict[str, Any] = {"dest": name}
    if hint is bool:
        kwargs["action"] = "store_true"
    else:
        if typing.get_origin(hint) is tuple:
            kwargs["nargs"] = "+"
            hint = typing.get_args(hint)[0]
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        choices = meta["choices"]
        if typing.get_origin(hint) is typing.Literal:
            choices = typing.get_args(hint)
            hint = type(choices[0])
        kwargs["type"] = hint
        if choices is not None:
            kwargs["choices"] = choices
    if field.default is dataclasses.MISSING:
        kwargs["required"] = True
    else:
        kwargs["default"] = list(field.default) if isinstance(field.default, tuple) else field.default
    kwargs |= {key: meta[key] for key in ("help", "metavar") if meta[key]}
    if "default" in overrides:
        kwargs.pop("required", None)
    parser.add_argument(meta["flag"], **(kwargs | overrides))


def settings_from_args(args: argparse.Namespace, **fixed: Any) -> TrainSettings:
    """The `TrainSettings` of parsed arguments (those `add_setting` added), plus `fixed` values."""
    from repsr_video.train.settings import TrainSettings

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings) if hasattr(args, f.name)}
    return TrainSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in (given | fixed).items()})


def train_parser(sub: argparse.ArgumentParser) -> None:
    from repsr_video.train.settings import TrainSettings

    for field in dataclasses.fields(TrainSettings):
        if "flag" in field.metadata:
            add_setting(sub, field.name)
    sub.add_argument("--quiet", action="store_true", help="no progress display")


class _TrainProgress:
    """Renders training events: a bar with loss, it/s and the last validation, plus the messages worth a line."""

    def __init__(self, settings: TrainSettings, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.settings = settings
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=quiet,
        )
        self.task: TaskID | None = None
        self.loss: float | None = None
        self.its: float | None = None
        self.val = ""
        self.bicubic = 0.0

    def __call__(self, event: Event) -> None:
        print_line = self.progress.console.print
        if event.kind == "start":
            self.task = self.progress.add_task(self.settings.name, total=self.settings.iterations,
                                               completed=event.iteration, info="")
            self.bicubic = event.bicubic_psnr or 0.0  # rank 0 always measures it
            print_line(f"{event.message}; bicubic PSNR-Y {self.bicubic:.2f} dB", markup=False)
        elif event.kind == "step":
            self.loss, self.its = event.loss, event.its_per_s
        elif event.kind == "validation" and event.psnr is not None:
            self.val = f"val {event.psnr:.2f} dB ({event.psnr - self.bicubic:+.2f})"
            print_line(f"iteration {event.iteration}: validation PSNR-Y {event.psnr:.2f} dB, "
                       f"{event.psnr - self.bicubic:+.2f} dB over bicubic", markup=False)
        elif event.kind in ("bn_frozen", "checkpoint", "loading", "finishing"):
            if event.kind != "checkpoint" or "interrupted" in event.message:
                print_line(event.message, markup=False)
        its = f"{self.its:.2f} it/s" if self.its else ""
        loss = f"loss {self.loss:.4f}" if self.loss is not None else ""
        if self.task is not None:
            self.progress.update(self.task, completed=event.iteration, info=" ".join(x for x in (loss, its, self.val) if x))


def train_command(args: argparse.Namespace) -> int:
    from repsr_video.train.loop import train

    settings = settings_from_args(args)
    on_event = _TrainProgress(settings, args.quiet)
    with on_event.progress:
        result = train(settings, on_event)
    if result is None:  # a non-zero rank under torchrun
        return 0
    e = result.evaluation
    console.print(
        f"preset {result.preset_path}: mean PSNR-Y gain {e.mean_gain:+.2f} dB over bicubic (worst {e.worst_gain:+.2f}), "
        f"SSIM-Y {e.mean_ssim:.4f}; merge error {result.merge_error:.2g}; {result.its_per_s:.2f} it/s; "
        f"report {result.report_path}", markup=False, highlight=False, soft_wrap=True)
    console.print(_how_to_use(result.preset_path), markup=False, highlight=False, soft_wrap=True)
    return 0


def _how_to_use(path: Path) -> str:
    """The upscale command for the new preset: by name where `--preset NAME` finds it, else by path."""
    from repsr_video.preset import user_presets_dir

    folder = user_presets_dir()
    if path.resolve().parent == folder.resolve():
        return f"use it: repsr-video INPUT OUTPUT --preset {path.stem}"
    return (f"use it: repsr-video INPUT OUTPUT --preset {path} "
            f"(or copy {path.name} and {path.stem}.safetensors into {folder} to use --preset {path.stem})")


def eval_parser(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--preset", required=True, metavar="NAME|PATH", help="installed preset name or path of a .toml")
    sub.add_argument("images", nargs="+", metavar="IMAGES_OR_DIRS", help="high-resolution images or folders of them")
    sub.add_argument("--json", action="store_true", help="print machine-readable JSON")
    sub.add_argument("--compare", default=None, metavar="OUT.png",
                     help="write a side-by-side crop (bicubic | preset | original) of the first image")
    from repsr_video.train.data import DEGRADES
    from repsr_video.train.evaluate import EVAL_CODEC_CRF, EVAL_DEGRADE

    sub.add_argument("--degrade", choices=DEGRADES, default=EVAL_DEGRADE,
                     help=f"video: the low-resolution input is also H.264-compressed (CRF {EVAL_CODEC_CRF}, 4:2:0), "
                     "for both bicubic and the preset")


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
