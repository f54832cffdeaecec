"""repsr-video command line: the parsers, the subcommand registry and the one top-level catch.
The upscale command itself is repsr_video/upscale_command.py; the shared options and the settings
they make are repsr_video/cli_arguments.py.

`repsr-video INPUT OUTPUT [...]` upscales; `presets`, `train`, `eval`, `bench`, `import` and `export`
are subcommands.
The library never prints: everything a person sees is rendered here.

Start-up stays light: choices come from repsr_video.choices (no torch, no PyAV), defaults from the
settings dataclasses when a command runs, and only the subcommand being run is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

# Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning. With decode, encode and
# other processes sharing few cores, spinning threads starved each other: M4C16 x2 at 176x144 on a
# busy 2-core machine ran 4-6 frames/s with the default policy and 63-132 with PASSIVE.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# SVT-AV1 logs through its own logger: errors only. Its banner and settings otherwise print twice per
# file (the output plan's trial encoder and the real one).
os.environ.setdefault("SVT_LOG", "1")

from rich.console import Console
from rich.table import Table

from repsr_video import __version__
from repsr_video.cli_arguments import add_encoding_arguments, add_job_arguments, add_model_arguments, add_stream_arguments
from repsr_video.errors import PresetWarning, RepsrError

console = Console(stderr=True)


# --- version and presets --------------------------------------------------------------------


def _versions() -> str:
    import av
    import torch

    try:
        import torch_tensorrt

        trt = torch_tensorrt.__version__
    except ImportError:
        trt = "absent"
    try:
        import openvino

        ov = openvino.__version__.split("-")[0]
    except ImportError:
        ov = "absent"
    return (f"repsr-video {__version__} (torch {torch.__version__}, av {av.__version__}, torch-tensorrt {trt}, "
            f"openvino {ov})")


class _VersionAction(argparse.Action):
    """--version: probes torch, PyAV, torch-tensorrt and OpenVINO only when asked (argparse's action needs the text up front)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(_versions())
        parser.exit()


def _presets_parser(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _presets_command(args: argparse.Namespace) -> int:
    from repsr_video.preset import default_preset, installed_presets

    presets = installed_presets()
    if args.json:
        print(json.dumps([p.summary() for p in presets], indent=2))
        return 0
    table = Table(title="installed presets", caption="default: what --scale N picks on a CPU and on a CUDA GPU")
    for column in ("name", "scale", "size", "PSNR-Y gain", "default", "description"):
        table.add_column(column)
    defaults = {(p.scale, d): default_preset(p.scale, d, presets).name for p in presets for d in ("cpu", "cuda")}
    for p in presets:
        gain = "-" if p.quality.mean_gain_db is None else f"{p.quality.mean_gain_db:+.2f} dB"
        where = ", ".join(d.upper() for d in ("cpu", "cuda") if defaults[(p.scale, d)] == p.name)
        table.add_row(p.name, f"x{p.scale}", p.size, gain, where, p.description)
    Console().print(table)
    if not presets:
        console.print("no presets installed; train one with `repsr-video train`")
    return 0


# --- subcommand registry ---------------------------------------------------------------------
# Each entry: (help, load), where load() returns (add_arguments, run). Only the subcommand being run
# is loaded, so `repsr-video --help` and the upscaler never import the training package.
# The upscale command is the default when argv[0] is not a subcommand.

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


def _bench() -> tuple[AddArguments, Run]:
    from repsr_video.bench_command import bench_command, bench_parser

    return bench_parser, bench_command


def _train() -> tuple[AddArguments, Run]:
    from repsr_video.train.commands import train_command, train_parser

    return train_parser, train_command


def _eval() -> tuple[AddArguments, Run]:
    from repsr_video.train.commands import eval_command, eval_parser

    return eval_parser, eval_command


def _import() -> tuple[AddArguments, Run]:
    from repsr_video.interop.commands import import_command, import_parser

    return import_parser, import_command


def _export() -> tuple[AddArguments, Run]:
    from repsr_video.interop.commands import export_command, export_parser

    return export_parser, export_command


SUBCOMMANDS: dict[str, tuple[str, Callable[[], tuple[AddArguments, Run]]]] = {
    "presets": ("list the installed presets", lambda: (_presets_parser, _presets_command)),
    "train": ("train a RepSR preset on your images or clips", _train),
    "eval": ("score a preset against bicubic on high-resolution images", _eval),
    "bench": ("measure decode, infer, encode and end-to-end speed on a clip", _bench),
    "import": ("turn a Compact (or other spandrel-supported) model file into a preset", _import),
    "export": ("write a preset as ONNX or as a Compact model for other tools", _export),
}


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _main_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="repsr-video",
        description="Upscale videos, images or whole folders with RepSR networks. "
        f"Subcommands: {', '.join(SUBCOMMANDS)} (see `repsr-video SUBCOMMAND --help`).",
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="show the versions of repsr-video, torch, av, torch-tensorrt and openvino")
    parser.add_argument("input", nargs="?", help="video, image (png jpg tif webp bmp) or folder to upscale")
    parser.add_argument("output", nargs="?", help="output file (container/image kind from its extension) or folder")
    add_model_arguments(parser)
    add_encoding_arguments(parser)
    add_stream_arguments(parser)
    add_job_arguments(parser)
    parser.add_argument("-y", "--overwrite", action="store_true", help="replace existing outputs (FFmpeg's -y)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors: no progress, notes or summary")
    parser.add_argument("--json", action="store_true", help="print one JSON summary of the run on stdout")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be done (preset, engine, tiles, encoder, pixel format, colour, streams) "
                        "and do nothing")
    _add_common(parser)
    return parser


def _subcommand_parser(name: str) -> tuple[argparse.ArgumentParser, Run]:
    help_text, load = SUBCOMMANDS[name]
    add_arguments, run = load()
    parser = argparse.ArgumentParser(prog=f"repsr-video {name}", description=help_text)
    add_arguments(parser)
    _add_common(parser)
    return parser, run


# --- entry point -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    run: Run
    if argv and argv[0] in SUBCOMMANDS:
        parser, run = _subcommand_parser(argv[0])
        args = parser.parse_args(argv[1:])
    else:
        main_parser = _main_parser()
        args = main_parser.parse_args(argv)
        if args.input is None or args.output is None:
            main_parser.print_usage(sys.stderr)
            console.print("error: INPUT and OUTPUT are required (or a subcommand)", markup=False)
            return 2
        from repsr_video.upscale_command import upscale_command

        run = upscale_command
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", PresetWarning)
            warnings.showwarning = _show_warning
            return run(args)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM/SIGHUP through repsr_video.signals
        from repsr_video import signals

        console.print(signals.describe(stop), markup=False)
        return signals.exit_code(stop)
    except RepsrError as error:
        if args.debug:
            raise
        console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        if getattr(args, "json", False):
            print(json.dumps({"error": str(error)}))
        return 1


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Library warnings (a skipped preset file) as one line: `warning: <file>: <cause>`."""
    console.print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)


if __name__ == "__main__":
    sys.exit(main())
