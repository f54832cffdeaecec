"""repsr-video command line: the upscale command, its progress and summaries, the subcommand registry and
the one top-level catch. The shared options and the settings they make are repsr_video/cli_arguments.py.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from repsr_video.cli_arguments import (
    add_encoding_arguments,
    add_job_arguments,
    add_model_arguments,
    add_stream_arguments,
    apply_threads,
    chosen_preset,
    encode_settings,
    engine_settings,
    job_settings,
)
from repsr_video.errors import PresetWarning, RepsrError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from repsr_video.engine_base import TiledEngine as Engine
    from repsr_video.jobs import JobSettings, PresetEngine
    from repsr_video.jobs.engines import LazyEngine
    from repsr_video.output import FileResult
    from repsr_video.output_plan import EncodeSettings
    from repsr_video.pipeline import ProgressEvent
    from repsr_video.preset import Preset

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


# --- the upscale command -------------------------------------------------------------------------


class _UpscaleProgress:
    """Rich progress for the upscale command: one bar for the current file, one for a folder's files."""

    def __init__(self, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[fps]}"), TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("left"),
            TimeRemainingColumn(), console=console, transient=True,  # the summary line replaces the bars
            disable=quiet or not console.is_terminal,  # bars are for people at a terminal, not for logs and pipes
        )
        self.quiet = quiet  # --quiet: errors only, so no resume line either
        self.file_task: TaskID | None = None
        self.folder_task: TaskID | None = None

    def __enter__(self) -> _UpscaleProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def on_file_start(self, number: int, total: int, path: Path) -> None:
        if self.folder_task is None:
            self.folder_task = self.progress.add_task("files", total=total, fps="", unit="files")
        self.progress.update(self.folder_task, completed=number - 1)

    def on_file_done(self, result: FileResult) -> None:
        if self.folder_task is not None:
            self.progress.advance(self.folder_task)
        if self.file_task is not None:
            self.progress.remove_task(self.file_task)
            self.file_task = None

    def on_frames(self, event: ProgressEvent) -> None:
        from repsr_video.jobs import JobProgress

        if self.file_task is None and isinstance(event, JobProgress) and event.frames_resumed and not self.quiet:
            self.print(f"{event.path.name}: resuming; {event.segments_done} of {event.segments_total} segment(s) "
                       f"({event.frames_resumed} frames) were done by an earlier run")
        if self.file_task is None:
            self.file_task = self.progress.add_task(event.path.name, total=event.frames_total, fps="", unit="frames")
        fresh = event.frames_done - (event.frames_resumed if isinstance(event, JobProgress) else 0)
        fps = f"{fresh / event.seconds:.1f} fps" if event.seconds > 0 else ""
        if isinstance(event, JobProgress) and event.segments_total > 1:
            fps += f"{', ' if fps else ''}{event.segments_done}/{event.segments_total} segments"
        total = max(event.frames_total or 0, event.frames_done) or None
        self.progress.update(self.file_task, completed=event.frames_done, total=total, fps=fps)

    def print(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False, soft_wrap=True)


def _output_path(source: Path, target: Path) -> Path:
    """A file into an existing folder goes to folder/<name> (named as folder mode names it)."""
    if source.is_file() and target.is_dir():
        from repsr_video.folder import output_for

        return output_for(source, source.parent, target)
    return target


def _check_paths(source: Path, target: Path, overwrite: bool) -> None:
    """Fail on a missing input or a bad output path before the (slower) engine is built."""
    from repsr_video.errors import InputError
    from repsr_video.media import is_image
    from repsr_video.output import check_output_path
    from repsr_video.output_plan import container_format

    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    if source.is_dir():
        from repsr_video.folder import plan_folder

        plan_folder(source, target)  # unusable folders and output name collisions, before any work
        return
    if not is_image(source):
        container_format(target)
    check_output_path(source, target, overwrite)


def _upscale(
    args: argparse.Namespace, engine: Engine | LazyEngine, encode: EncodeSettings, view: _UpscaleProgress,
    job: JobSettings | None, factory: PresetEngine,
) -> list[FileResult]:
    """Upscale the folder, image or video named by args; one FileResult per file (job: None for an image)."""
    from repsr_video.images import upscale_image
    from repsr_video.media import is_image

    source, target = Path(args.input), Path(args.output)
    if source.is_dir():
        from repsr_video.folder import upscale_folder

        return upscale_folder(source, target, engine, encode=encode, overwrite=args.overwrite,
                              progress=view.on_frames, on_file_start=view.on_file_start, on_file_done=view.on_file_done,
                              job=job, factory=factory)
    if is_image(source):
        return [upscale_image(source, target, engine, overwrite=args.overwrite, progress=view.on_frames)]
    from repsr_video.pipeline import upscale_video

    return [upscale_video(source, target, engine, encode=encode, overwrite=args.overwrite, progress=view.on_frames,
                          job=job, factory=factory)]


def _upscale_command(args: argparse.Namespace) -> int:
    from repsr_video.engine import create_engine
    from repsr_video.jobs.engines import LazyEngine
    from repsr_video.media import is_image

    source = Path(args.input)
    args.output = str(_output_path(source, Path(args.output)))
    _check_paths(source, Path(args.output), args.overwrite)
    preset = chosen_preset(args)
    encode = encode_settings(args)  # bad encoding options fail before the engine is built
    apply_threads(args)
    if args.dry_run:
        return _dry_run(args, preset, create_engine(preset, engine_settings(args)), encode)
    job = None if is_image(source) else job_settings(args)
    factory = _factory(args, preset)
    elsewhere = _workers_elsewhere(args, source, job)  # a video whose segments all run in workers: no model here
    engine: Engine | LazyEngine = (LazyEngine(factory, elsewhere) if elsewhere
                                   else create_engine(preset, engine_settings(args)))
    talk = not (args.quiet or args.json)
    with _UpscaleProgress(args.quiet) as view:
        if talk:
            where = (f"in {elsewhere}" if isinstance(engine, LazyEngine)
                     else f"on {engine.device}, backend {engine.backend}, batch {engine.batch}")
            view.print(f"preset {preset.name} (x{preset.scale}, {preset.size}) {where}")
        results = _upscale(args, engine, encode, view, job, factory)
        for result in results:
            for warning in result.warnings if talk else ():
                view.print(f"warning: {warning}")
    failed = any(r.status == "failed" for r in results)
    if args.json:
        print(json.dumps(_summary(preset, engine, results), indent=2))
    elif source.is_dir():
        _print_folder_table(results, source, quiet=args.quiet)
    if source.is_dir() or not talk:
        return 1 if failed else 0
    r = results[0]
    console.print(f"{r.output}: {r.frames} frame(s) in {r.seconds:.1f} s ({r.fps:.1f} fps)", markup=False, highlight=False)
    _print_segments(r)
    return 0


def _factory(args: argparse.Namespace, preset: Preset) -> PresetEngine:
    from repsr_video.jobs import PresetEngine

    return PresetEngine(str(preset.path), engine_settings(args))


def _workers_elsewhere(args: argparse.Namespace, source: Path, job: JobSettings | None) -> str | None:
    """Where a video's segments run when not in this process ("Ray (auto)", "2 worker processes"), else None."""
    if job is None or source.is_dir():
        return None
    if args.ray:
        return f"Ray ({args.ray})"
    if len(job.worker_devices()) < 2:
        return None
    return f"{len(job.worker_devices())} worker processes" + (f" ({', '.join(job.devices)})" if job.devices else "")


def _segment_fields(result: FileResult) -> dict[str, Any]:
    """The --json fields of a video that ran as segments."""
    from repsr_video.jobs.video import SegmentedResult

    if not isinstance(result, SegmentedResult):
        return {}
    return {"segments": result.segments, "segments_resumed": result.segments_resumed, "frames_resumed": result.frames_resumed,
            "resume_saved": round(result.resume_saved, 4)}


def _print_segments(result: FileResult) -> None:
    from repsr_video.jobs.video import SegmentedResult

    if isinstance(result, SegmentedResult) and (result.segments > 1 or result.segments_resumed):
        resumed = (f"; {result.segments_resumed} were done by an earlier run ({result.resume_saved:.0%} of the frames)"
                   if result.segments_resumed else "")
        console.print(f"{result.segments} segment(s){resumed}", markup=False, highlight=False)


def _print_folder_table(results: list[FileResult], folder: Path, *, quiet: bool = False) -> None:
    """The table of files (output names as written) and the done/skipped/failed counts; with quiet only the
    failures, one line each."""
    from repsr_video.folder import count_results

    if quiet:
        for r in results:
            if r.status == "failed":
                console.print(f"error: {r.error}", markup=False, highlight=False, soft_wrap=True)
        return
    table = Table(title="upscaled")
    for column in ("file", "output", "frames", "fps", "result"):
        table.add_column(column)
    style = {"done": "green", "skipped": "yellow", "failed": "red"}
    for r in results:
        outcome = r.status if r.status == "done" and not r.warnings else f"{r.status}: {r.error or '; '.join(r.warnings)}"
        frames, fps = (str(r.frames), f"{r.fps:.1f}") if r.frames else ("-", "-")
        table.add_row(str(r.input.relative_to(folder)), r.output.name, frames, fps, f"[{style[r.status]}]{outcome}")
    Console().print(table)
    counts = count_results(results)
    console.print(f"{len(results)} file(s): {counts['done']} done, {counts['skipped']} skipped (output exists), "
                  f"{counts['failed']} failed", markup=False, highlight=False)



def _summary(preset: Preset, engine: Engine | LazyEngine, results: list[FileResult]) -> dict[str, Any]:
    """The --json summary: what ran, and one entry per file."""
    from repsr_video.folder import count_results

    files = [{"input": str(r.input), "output": str(r.output), "status": r.status, "frames": r.frames,
              "seconds": round(r.seconds, 3), "fps": round(r.fps, 2), "warnings": r.warnings, "error": r.error,
              **_segment_fields(r)}
             for r in results]
    return {"preset": preset.name, "scale": preset.scale, "engine": engine.describe(), **count_results(results), "files": files}


def _dry_run(args: argparse.Namespace, preset: Preset, engine: Engine, encode: EncodeSettings) -> int:
    """Print (or with --json, emit) the plan of every file; nothing is written."""
    from repsr_video.dry_run import plan_run

    plans = plan_run(Path(args.input), Path(args.output), engine, encode, overwrite=args.overwrite)
    if args.json:
        print(json.dumps({"preset": preset.name, "scale": preset.scale, "engine": engine.describe(),
                          "files": [p.as_dict() for p in plans]}, indent=2))
        return 1 if any(p.error for p in plans) else 0
    say = print  # the plan is the command's output: stdout
    say(f"preset {preset.name} (x{preset.scale}, {preset.size}); engine {engine.describe()}")
    for p in plans:
        say(f"{p.input} -> {p.output}: {p.action}" + (f" ({p.error})" if p.error else ""))
        if p.size:
            say(f"  size {p.size}; " + (f"tiles of {p.tile} px" if p.tile else "whole frames"))
        if p.codec:
            say(f"  encoder {p.codec}, pixel format {p.pix_fmt}, colour {p.colour}")
        elif p.pix_fmt:
            say(f"  image {p.pix_fmt}")
        for line in [*p.streams, *(f"note: {n}" for n in p.notes)]:
            say(f"  {line}")
    return 1 if any(p.error for p in plans) else 0


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
        run = _upscale_command
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
