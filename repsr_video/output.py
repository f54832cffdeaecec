"""Output handling: where results may go, how they are written, and what is reported about each file.

Every file the tool makes is written beside its target and renamed into place: `atomic_write(path)`
yields a fresh, locked partial file in the target's folder (same suffix, so nothing guesses a different
format from the name); on success it is published onto `path`, on any error or interrupt it is removed.
A reader therefore sees the old file or the complete new one, never half. With `overwrite=False` the
publish step never replaces a file that appeared meanwhile (repsr_video/publish.py: renameat2
RENAME_NOREPLACE, a hard link or a folder lock). `remove_stale_partials` removes what killed runs left.
`check_output_path` refuses targets that would overwrite the input or an existing file, before any work
starts; `make_parent_folders` creates missing folders above a target; `FileResult` is what upscaling one
file returns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from repsr_video.errors import OutputError, describe_error
from repsr_video.publish import PARTIAL_MARK, PartialFile, remove_stale_partials

if TYPE_CHECKING:  # only an annotation here: writing files needs neither numpy nor PyAV
    from repsr_video.frames import VideoInfo

@contextmanager
def atomic_write(target: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a partial file's path to write; publish it onto `target` when the block succeeds, else remove it.

    overwrite=False: the result is published only if nothing is at `target` by then; otherwise the
    partial is removed and OutputError raised (one line), and whatever is at `target` stays.
    """
    with PartialFile(Path(target)) as partial:
        yield partial.path
        partial.publish(overwrite=overwrite)


def make_parent_folders(target: Path) -> None:
    """Create the folders above `target` that are missing (one-line OutputError if that fails)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{target}: {_first_file_above(target)} is a file, not a folder") from None
    except OSError as error:
        raise OutputError(f"{target}: cannot create folder {target.parent} ({describe_error(error)})") from error


def _first_file_above(target: Path) -> Path:
    for folder in reversed(target.parents):
        if folder.exists() and not folder.is_dir():
            return folder
    return target.parent


def same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_output_path(input_path: Path, output: Path, overwrite: bool) -> None:
    """Refuse to overwrite the input, an existing output (unless asked), or to write into a missing folder."""
    if same_file(input_path, output):
        raise OutputError(f"{output}: is the input file; choose another output path")
    if output.is_dir():
        raise OutputError(f"{output}: is a folder; give a file name")
    if output.exists() and not overwrite:
        raise OutputError(f"{output}: exists; pass --overwrite to replace it")
    if any(folder.exists() and not folder.is_dir() for folder in output.parents):  # missing folders are made later
        raise OutputError(f"{output}: {_first_file_above(output)} is a file, not a folder")


@dataclass
class FileResult:
    """What upscaling one file (video or image) did; a folder run returns one per file."""

    input: Path
    output: Path
    status: Literal["done", "skipped", "failed"]
    frames: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    info: VideoInfo | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


__all__ = [
    "PARTIAL_MARK", "FileResult", "atomic_write", "check_output_path", "make_parent_folders", "remove_stale_partials",
    "same_file",
]
