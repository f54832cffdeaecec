"""repsr-video command line: argparse, settings objects, rich progress, and the one top-level catch.

`repsr-video INPUT OUTPUT [...]` upscales; `presets`, `train`, `eval` and `bench` are subcommands.
The library never prints: everything a person sees is rendered here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

from repsr_video import __version__
from repsr_video.errors import RepsrError

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
    return f"repsr-video {__version__} (torch {torch.__version__}, av {av.__version__}, torch-tensorrt {trt})"


def _presets_parser(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _presets_command(args: argparse.Namespace) -> int:
    import json

    from repsr_video.preset import installed_presets

    presets = installed_presets()
    if args.json:
        print(json.dumps([p.summary() for p in presets], indent=2))
        return 0
    table = Table(title="installed presets")
    for column in ("name", "scale", "size", "PSNR-Y gain", "default", "description"):
        table.add_column(column)
    for p in presets:
        gain = "-" if p.quality.mean_gain_db is None else f"{p.quality.mean_gain_db:+.2f} dB"
        table.add_row(p.name, f"x{p.scale}", p.size, gain, "yes" if p.default else "", p.description)
    Console().print(table)
    if not presets:
        console.print("no presets installed; train one with `repsr-video train`")
    return 0


# --- subcommand registry ---------------------------------------------------------------------
# Each entry: (help, add_arguments, run). The upscale command is the default when argv[0] is not one.

SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "presets": ("list the installed presets", _presets_parser, _presets_command),
}


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _build_parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    main_parser = argparse.ArgumentParser(
        prog="repsr-video",
        description="Upscale videos, images or whole folders with RepSR networks. "
        f"Subcommands: {', '.join(SUBCOMMANDS)} (see `repsr-video SUBCOMMAND --help`).",
    )
    main_parser.add_argument("--version", action="version", version=_versions())
    _add_upscale_arguments(main_parser)
    _add_common(main_parser)
    subparsers = {}
    for name, (help_text, add_arguments, _run) in SUBCOMMANDS.items():
        sub = argparse.ArgumentParser(prog=f"repsr-video {name}", description=help_text)
        add_arguments(sub)
        _add_common(sub)
        subparsers[name] = sub
    return main_parser, subparsers


def _add_upscale_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", nargs="?", help="video, image or folder to upscale")
    parser.add_argument("output", nargs="?", help="output file or folder")


def _upscale_command(args: argparse.Namespace) -> int:
    raise RepsrError("upscaling is not available in this build")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    main_parser, subparsers = _build_parsers()
    if argv and argv[0] in SUBCOMMANDS:
        name = argv[0]
        args = subparsers[name].parse_args(argv[1:])
        run = SUBCOMMANDS[name][2]
    else:
        args = main_parser.parse_args(argv)
        if args.input is None or args.output is None:
            main_parser.print_usage(sys.stderr)
            console.print("error: INPUT and OUTPUT are required (or a subcommand)", markup=False)
            return 2
        run = _upscale_command
    try:
        return run(args)
    except KeyboardInterrupt:
        console.print("interrupted", markup=False)
        return 130
    except RepsrError as error:
        if args.debug:
            raise
        console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
