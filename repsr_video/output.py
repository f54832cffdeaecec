"""Writing files safely: every file the tool makes is written beside its target and renamed into place.

`atomic_write(path)` yields a fresh temporary path in the target's folder (same suffix, so nothing
guesses a different format from the name); on success it is renamed onto `path`, on any error or
interrupt it is removed. A reader therefore sees the old file or the complete new one, never half.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from repsr_video.errors import OutputError

PARTIAL_MARK = ".partial"  # temporary names: .<stem>.<random>.partial<suffix>


def temporary_path(target: Path) -> Path:
    """A new empty file beside `target` with the same suffix, readable like any new file."""
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=f"{PARTIAL_MARK}{target.suffix}")
    except OSError as error:
        raise OutputError(f"{target}: cannot write in {target.parent} ({error.strerror or error})") from error
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
