"""Upscale every video and image under a folder into another folder, mirroring the tree.

The engine is built once by the caller and reused for every file (backends compile per shape lazily).
Existing outputs are skipped unless `overwrite`; a file that fails is recorded and the rest go on.

Output names are the input's relative path, unique because input names are: images and videos in a
container we write (mp4, m4v, mkv, mov, webm) keep their name; a video in any other container (avi,
ts, ...) gets ".mkv" appended, which holds any stream, so clip.avi -> clip.avi.mkv never meets
clip.mkv's output. Names that would still meet (clip.avi.mkv beside clip.avi, or names differing only
in case, which are one file on case-insensitive file systems) are refused before any work starts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from repsr_video.errors import InputError, OutputError, RepsrError
from repsr_video.images import upscale_image
from repsr_video.media import is_image, is_video
from repsr_video.output import FileResult
from repsr_video.output_plan import CONTAINERS, EncodeSettings
from repsr_video.pipeline import ProgressCallback, Upscaler, upscale_video

if TYPE_CHECKING:
    from repsr_video.jobs.runner import JobSettings
    from repsr_video.jobs.work import EngineFactory


def find_media(folder: Path, exclude: Path | None = None) -> list[Path]:
    """Videos and images under `folder`, sorted, skipping hidden files and anything under `exclude`."""
    found = []
    skip = None if exclude is None else exclude.resolve()
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if skip is not None and path.resolve().is_relative_to(skip):  # resolved: relative paths, symlinks
            continue
        if is_video(path) or is_image(path):
            found.append(path)
    return found


def output_for(path: Path, input_dir: Path, output_dir: Path) -> Path:
    """Where `path`'s result goes (the naming rule in the module docstring)."""
    target = output_dir / path.relative_to(input_dir)
    if is_video(path) and path.suffix.lower() not in CONTAINERS:
        target = target.with_name(f"{target.name}.mkv")
    return target


def plan_folder(input_dir: Path, output_dir: Path) -> list[tuple[Path, Path]]:
    """(input, output) of every media file, after the checks that must pass before any work."""
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: no such folder")
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: is a file; the output of a folder must be a folder")
    if not output_dir.exists() and (is_video(output_dir) or is_image(output_dir)):
        raise OutputError(f"{output_dir}: looks like a file name, but the input is a folder; give an output folder")
    if output_dir.resolve() == input_dir.resolve():
        raise OutputError(f"{output_dir}: is the input folder; choose another output folder")
    inside = output_dir.resolve().is_relative_to(input_dir.resolve())
    files = find_media(input_dir, exclude=output_dir if inside else None)
    if not files:
        raise InputError(f"{input_dir}: contains no video or image files")
    pairs = [(path, output_for(path, input_dir, output_dir)) for path in files]
    _refuse_collisions(pairs)
    return pairs


def _refuse_collisions(pairs: list[tuple[Path, Path]]) -> None:
    seen: dict[str, Path] = {}
    for source, target in pairs:
        key = str(target).casefold()
        if key in seen:
            raise OutputError(
                f"{seen[key]} and {source} would both be written to {target}; rename one of them"
            )
        seen[key] = source


def upscale_folder(
    input_dir: str | Path,
    output_dir: str | Path,
    engine: Upscaler,
    *,
    encode: EncodeSettings = EncodeSettings(),
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    on_file_start: Callable[[int, int, Path], None] | None = None,
    on_file_done: Callable[[FileResult], None] | None = None,
    job: JobSettings | None = None,
    factory: EngineFactory | None = None,
) -> list[FileResult]:
    """Process the folder; returns one FileResult per media file found (done, skipped or failed).

    `job` and `factory` go to each video's `upscale_video` (segments, workers, Ray, time range).

    Raises before any work when the folders are unusable or two inputs would share an output name.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    pairs = plan_folder(input_dir, output_dir)
    results: list[FileResult] = []
    for number, (path, target) in enumerate(pairs, 1):
        if on_file_start:
            on_file_start(number, len(pairs), path)
        if target.exists() and not overwrite:
            result = FileResult(path, target, "skipped", error="output exists (pass --overwrite to replace)")
        else:
            result = _one(path, target, engine, encode, overwrite, progress, job, factory)
        results.append(result)
        if on_file_done:
            on_file_done(result)
    return results


def count_results(results: list[FileResult]) -> dict[str, int]:
    """{"done": n, "skipped": n, "failed": n}: what a folder run reports."""
    return {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")}


def _one(
    path: Path,
    target: Path,
    engine: Upscaler,
    encode: EncodeSettings,
    overwrite: bool,
    progress: ProgressCallback | None,
    job: JobSettings | None = None,
    factory: EngineFactory | None = None,
) -> FileResult:
    try:
        if is_image(path):
            return upscale_image(path, target, engine, overwrite=overwrite, progress=progress)
        return upscale_video(path, target, engine, encode=encode, overwrite=overwrite, progress=progress, job=job,
                             factory=factory)
    except RepsrError as error:
        return FileResult(path, target, "failed", error=str(error))
    except Exception as error:  # one broken file must not stop the others; the message keeps the cause
        return FileResult(path, target, "failed", error=f"{path}: {type(error).__name__}: {error}")
