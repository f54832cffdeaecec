"""Output handling: where results may go, how they are written, and what is reported about each file.

Every file the tool makes is written beside its target and renamed into place: `atomic_write(path)`
yields a fresh temporary path in the target's folder (same suffix, so nothing guesses a different
format from the name); on success it is renamed onto `path`, on any error or interrupt it is removed.
A reader therefore sees the old file or the complete new one, never half. `check_output_path` refuses
targets that would overwrite the input or an existing file, before any work starts; `FileResult` is
what upscaling one file returns.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from repsr_video.errors import OutputError, describe_error

if TYPE_CHECKING:  # only an annotation here: writing files needs neither numpy nor PyAV
    from repsr_video.frames import VideoInfo

PARTIAL_MARK = ".partial"  # temporary names: .<stem>.<random>.partial<suffix>


def temporary_path(target: Path) -> Path:
    """A new empty file beside `target` with the same suffix, readable like any new file."""
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=f"{PARTIAL_MARK}{target.suffix}")
    except OSError as error:
        raise OutputError(f"{target}: cannot write in {target.parent} ({describe_error(error)})") from error
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())  # mkstemp makes it private; the result should look like any new file
    return Path(name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it onto `target` when the block succeeds, else remove it."""
    target = Path(target)
    tmp = temporary_path(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    if not output.parent.is_dir():
        raise OutputError(f"{output}: folder {output.parent} does not exist")


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
