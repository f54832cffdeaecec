"""The upscale command: `repsr-video INPUT OUTPUT [...]` for a video, an image or a folder, with its
progress bars, notes, the folder table, `--json` and `--dry-run`. cli.py parses and dispatches to it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from repsr_video.cli_arguments import apply_threads, chosen_preset, encode_settings, engine_settings, job_settings

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


def upscale_command(args: argparse.Namespace) -> int:
    """`repsr-video INPUT OUTPUT [...]`: a video, an image or a folder; the exit status."""
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
    from repsr_video.jobs.video import segment_fields

    files = [{"input": str(r.input), "output": str(r.output), "status": r.status, "frames": r.frames,
              "seconds": round(r.seconds, 3), "fps": round(r.fps, 2), "warnings": r.warnings, "error": r.error,
              **segment_fields(r)}
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
