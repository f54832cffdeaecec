"""Writing an output without ever replacing a file the run did not expect, and cleaning up after killed runs.

A result is written to a hidden partial file beside its target, `.<stem>.<8 random>.partial<suffix>`
(same folder, so the final step is a rename; same suffix, so nothing guesses another format), and
published at the end:

- with overwrite: `os.replace`, as before;
- without: only if nothing is at the target *at that moment*, atomically. Linux `renameat2` with
  RENAME_NOREPLACE (ext4, xfs, btrfs, tmpfs, ...); where the file system refuses the flag, a hard link
  (`link` fails if the name exists; atomic on NFS too) and unlink of the partial; where hard links are
  refused as well (FAT, exFAT), a rename under an exclusive flock on the folder, which orders this
  tool's publishers but not other programs. Of two runs publishing onto one target exactly one wins;
  the other gets a one-line OutputError and removes its partial.

Stale partials. A partial is flock'ed by its writer for as long as it lives. The kernel drops the lock
when the writer's process ends in any way (SIGKILL, OOM killer, power loss), so a partial whose lock
can be taken has no writer. Pids were not used: a pid can be reused, and from another container or
machine sharing the folder a live writer's pid means nothing here. `remove_stale_partials(target)`
removes only our names for that exact target, only unlocked ones, and leaves an *empty* unlocked
partial younger than STALE_EMPTY_AGE alone: that is a writer between creating its file and locking it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import tempfile
import time
from pathlib import Path

from repsr_video.errors import OutputError, describe_error

PARTIAL_MARK = ".partial"
STALE_EMPTY_AGE = 60.0  # seconds
_RANDOM = r"[a-z0-9_]{8}"  # what tempfile.mkstemp puts between prefix and suffix
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
# errno values that mean "this file system or kernel cannot do that": try the next mechanism.
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EXDEV}


class _Unsupported(Exception):
    """The mechanism is not available here; the next one is tried."""


def _libc_renameat2():
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # glibc < 2.28, musl < 1.2.?, not Linux
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_renameat2 = _libc_renameat2()


def _rename_noreplace(source: Path, target: Path) -> None:
    if _renameat2 is None:
        raise _Unsupported("renameat2 is not available")
    if _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
        return
    code = ctypes.get_errno()
    if code in _UNSUPPORTED - {errno.EPERM, errno.EXDEV}:
        raise _Unsupported(os.strerror(code))
    raise OSError(code, os.strerror(code), str(target))


def _link_noreplace(source: Path, target: Path) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno in _UNSUPPORTED or error.errno == errno.EMLINK:
            raise _Unsupported(describe_error(error)) from error
        raise
    os.unlink(source)


def _locked_rename(source: Path, target: Path) -> None:
    folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(OSError):  # no flock here either: the existence check still stands
            fcntl.flock(folder, fcntl.LOCK_EX)
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
        os.rename(source, target)
    finally:
        os.close(folder)  # releases the lock


def publish(source: str | Path, target: str | Path, *, overwrite: bool) -> None:
    """Move the finished file `source` onto `target`; without `overwrite` only if `target` does not exist.

    Raises OutputError (one line) when `target` exists or cannot be written; `source` is then left for
    the caller to remove.
    """
    source, target = Path(source), Path(target)
    try:
        if overwrite:
            os.replace(source, target)
            return
        for mechanism in (_rename_noreplace, _link_noreplace, _locked_rename):
            try:
                mechanism(source, target)
                return
            except _Unsupported:
                continue
    except FileExistsError:
        raise OutputError(f"{target}: was created by someone else while this run was writing it; "
                          "it was left as it is (pass --overwrite to replace it)") from None
    except OSError as error:
        raise OutputError(f"{target}: cannot be written ({describe_error(error)})") from error


class PartialFile:
    """A new, locked, empty partial file beside `target`; write `path`, then `publish()`, or `discard()`.

    As a context manager it discards the partial when the block raises (Ctrl-C included) and always
    releases the lock.
    """

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target)
        try:
            fd, name = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.stem}.",
                                        suffix=f"{PARTIAL_MARK}{self.target.suffix}")
        except OSError as error:
            raise OutputError(f"{self.target}: cannot write in {self.target.parent} ({describe_error(error)})") from error
        self.path = Path(name)
        self._fd: int | None = fd
        with contextlib.suppress(OSError):  # a file system without locks: the partial is then never "stale"-checked true
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.chmod(fd, 0o666 & ~_umask())  # mkstemp makes it private; the result should look like any new file

    def publish(self, *, overwrite: bool) -> None:
        publish(self.path, self.target, overwrite=overwrite)
        self.close()

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> PartialFile:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:
            self.discard()
        self.close()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def partial_pattern(target: Path) -> re.Pattern[str]:
    """Exactly the names PartialFile gives partials of `target`."""
    return re.compile(rf"\.{re.escape(target.stem)}\.{_RANDOM}{re.escape(PARTIAL_MARK + target.suffix)}")


def remove_stale_partials(target: str | Path) -> list[Path]:
    """Remove partials of `target` left by runs that died; returns what was removed. Never raises for
    a file it cannot judge: such a file is left alone."""
    target = Path(target)
    pattern = partial_pattern(target)
    removed = []
    try:
        entries = [entry for entry in os.scandir(target.parent) if pattern.fullmatch(entry.name)]
    except OSError:
        return []
    for entry in entries:
        path = Path(entry.path)
        if _remove_if_stale(path):
            removed.append(path)
    return removed


def _remove_if_stale(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # gone, a symlink, unreadable: not ours to judge
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by a live writer: BlockingIOError
        held = os.fstat(fd)
        if not os.path.samestat(held, os.stat(path, follow_symlinks=False)):
            return False  # replaced meanwhile
        if held.st_size == 0 and time.time() - held.st_mtime < STALE_EMPTY_AGE:
            return False  # possibly a writer that has created but not yet locked its file
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


__all__ = ["PARTIAL_MARK", "PartialFile", "partial_pattern", "publish", "remove_stale_partials"]
