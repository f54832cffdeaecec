"""Upscale every video and image under a folder into another folder, mirroring the tree.

The engine is built once by the caller and reused for every file (backends compile per shape lazily).
Existing outputs are skipped unless `overwrite`; a file that fails is recorded and the rest go on.
Videos whose container is not one we write (avi, ts, ...) get the .mkv extension, which holds any stream.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from repsr_video.errors import InputError, OutputError, RepsrError, describe_error
from repsr_video.images import upscale_image
from repsr_video.media import is_image, is_video
from repsr_video.output import FileResult
from repsr_video.output_plan import CONTAINERS, EncodeSettings
from repsr_video.pipeline import ProgressCallback, Upscaler, upscale_video


def find_media(folder: Path, exclude: Path | None = None) -> list[Path]:
    """Videos and images under `folder`, sorted, skipping hidden files and anything under `exclude`."""
    found = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if exclude is not None and path.is_relative_to(exclude):
            continue
        if is_video(path) or is_image(path):
            found.append(path)
    return found


def output_for(path: Path, input_dir: Path, output_dir: Path) -> Path:
    target = output_dir / path.relative_to(input_dir)
    if is_video(path) and path.suffix.lower() not in CONTAINERS:
        target = target.with_suffix(".mkv")
    return target


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
) -> list[FileResult]:
    """Process the folder; returns one FileResult per media file found (done, skipped or failed)."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: no such folder")
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputError(f"{output_dir}: is a file; the output of a folder must be a folder")
    if output_dir.resolve() == input_dir.resolve():
        raise OutputError(f"{output_dir}: is the input folder; choose another output folder")
    inside = output_dir.resolve().is_relative_to(input_dir.resolve())
    files = find_media(input_dir, exclude=output_dir.resolve() if inside else None)
    if not files:
        raise InputError(f"{input_dir}: contains no video or image files")
    results: list[FileResult] = []
    for number, path in enumerate(files, 1):
        target = output_for(path, input_dir, output_dir)
        if on_file_start:
            on_file_start(number, len(files), path)
        if target.exists() and not overwrite:
            result = FileResult(path, target, "skipped", error="output exists (pass --overwrite to replace)")
        else:
            result = _one(path, target, engine, encode, overwrite, progress)
        results.append(result)
        if on_file_done:
            on_file_done(result)
    return results


def _one(
    path: Path, target: Path, engine: Upscaler, encode: EncodeSettings, overwrite: bool, progress: ProgressCallback | None
) -> FileResult:
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"{target.parent}: cannot create folder ({describe_error(error)})") from error
        if is_image(path):
            return upscale_image(path, target, engine, overwrite=overwrite, progress=progress)
        return upscale_video(path, target, engine, encode=encode, overwrite=overwrite, progress=progress)
    except RepsrError as error:
        return FileResult(path, target, "failed", error=str(error))
    except Exception as error:  # one broken file must not stop the others; the message keeps the cause
        return FileResult(path, target, "failed", error=f"{path}: {type(error).__name__}: {error}")
