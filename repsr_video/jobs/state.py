"""Job state beside the output: a manifest written once, one segment file and one marker per finished segment.

    .OUTPUT-NAME.repsr-job/
        manifest.json         input fingerprint, settings that change the output, versions, segment list
        lock                  held (flock) by the run working on this job
        seg00003.nut          a finished segment (published by rename after it was checked)
        seg00003.done.json    its marker: frames, first/last pts, size and SHA-256 of the segment file

Every file is published the same way: written under a temporary name, flushed to disk, renamed onto its
final name, and the folder synced. A crash leaves either no marker or a complete one; a marker that
does not parse, or whose segment file is missing or of another size, is treated as not done and the
segment is redone. No file is ever rewritten by more than one worker, so workers on several hosts
sharing the folder cannot corrupt each other's state.

A manifest that differs from the current run (another input, other settings, other versions) is
never mixed with: the run stops with a one-line error that names what differs and suggests --restart.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from repsr_video.errors import OutputError, RepsrError
from repsr_video.jobs.plan import Segment
from repsr_video.jobs.segment import SEGMENT_SUFFIX, SegmentFacts

SCHEMA = 1
JOB_SUFFIX = ".repsr-job"
_SAMPLE = 1 << 20  # bytes hashed at the start, middle and end of the input


class JobStateError(RepsrError):
    """Saved work cannot be reused (other input or settings), or the job folder is busy or unreadable."""


def job_dir_for(output: Path) -> Path:
    return output.parent / f".{output.name}{JOB_SUFFIX}"


def input_fingerprint(path: Path) -> dict:
    """Size, mtime and a SHA-256 of 1 MiB at the start, middle and end: cheap on huge files, catches edits."""
    st = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for offset in sorted({0, max(0, st.st_size // 2 - _SAMPLE // 2), max(0, st.st_size - _SAMPLE)}):
            f.seek(offset)
            digest.update(f.read(_SAMPLE))
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sampled_sha256": digest.hexdigest()}


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_bytes(target: Path, data: bytes) -> None:
    """Write `data` to `target` atomically and durably (temp file, fsync, rename, fsync folder)."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def publish_file(source: Path, target: Path) -> None:
    """Move a finished file onto `target` durably."""
    with open(source, "rb") as f:
        os.fsync(f.fileno())
    os.replace(source, target)
    _fsync_dir(target.parent)


def _differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(saved) | set(current))
    found = []
    for key in keys:
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key}")
    return found


class JobState:
    """The job folder of one output. Use `JobState.open(...)` as a context manager (it holds the lock)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock_fd: int | None = None

    # --- opening ----------------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def open(cls, output: Path, manifest: dict, *, restart: bool = False) -> Iterator[JobState]:
        """Create or reuse the job folder of `output` for `manifest`; refuse saved work made differently."""
        state = cls(job_dir_for(output))
        if restart and state.folder.exists():
            state._lock()  # never wipe a folder another run is using
            shutil.rmtree(state.folder)
            state._unlock()
        try:
            state.folder.mkdir(exist_ok=True)
        except OSError as error:
            raise OutputError(f"{state.folder}: cannot create the job folder ({error.strerror or error})") from error
        state._lock()
        try:
            state._adopt(manifest, output)
            state._remove_leftovers()
            yield state
        finally:
            state._unlock()

    def _lock(self) -> None:
        self.folder.mkdir(exist_ok=True)
        fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JobStateError(f"{self.folder}: another run is working on this output; wait for it or stop it") from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _adopt(self, manifest: dict, output: Path) -> None:
        path = self.folder / "manifest.json"
        manifest = {"schema": SCHEMA, **manifest}
        if not path.exists():
            publish_bytes(path, json.dumps(manifest, indent=1, sort_keys=True).encode())
            return
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise JobStateError(
                f"{path}: saved job state is unreadable ({error}); run again with --restart to discard it"
            ) from error
        differs = _differences(saved, json.loads(json.dumps(manifest)))
        if differs:
            shown = ", ".join(differs[:4]) + (", ..." if len(differs) > 4 else "")
            raise JobStateError(
                f"{output}: saved work in {self.folder} was made with a different input or settings "
                f"({shown}); run again with --restart to discard it"
            )

    def _remove_leftovers(self) -> None:
        """Temporary files of runs that were killed (nothing else writes here while the lock is held)."""
        for path in self.folder.iterdir():
            if path.name.startswith(".") and (path.name.endswith(".tmp") or ".partial" in path.name):
                path.unlink(missing_ok=True)

    # --- segments ---------------------------------------------------------------------------------

    def finished(self, segment: Segment) -> SegmentFacts | None:
        return finished_segment(self.folder, segment)

    def remove(self) -> None:
        """Delete the job folder (after the output has been published)."""
        self._unlock()
        shutil.rmtree(self.folder, ignore_errors=True)


def segment_file(folder: Path, index: int) -> Path:
    return folder / f"seg{index:05d}{SEGMENT_SUFFIX}"


def marker_file(folder: Path, index: int) -> Path:
    return folder / f"seg{index:05d}.done.json"


def partial_file(folder: Path, index: int) -> Path:
    """A temporary name for a segment being written; the pid says which process writes it."""
    return folder / f".seg{index:05d}.{os.getpid()}.partial{SEGMENT_SUFFIX}"


def finished_segment(folder: Path, segment: Segment) -> SegmentFacts | None:
    """The marker's facts if `segment` is done and its file is intact, else None (it will be redone)."""
    marker, seg_file = marker_file(folder, segment.index), segment_file(folder, segment.index)
    try:
        data = json.loads(marker.read_text())
        facts = SegmentFacts(**data["facts"])
        if data["segment"] != segment.as_dict() or seg_file.stat().st_size != facts.size:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return facts


def publish_segment(
    folder: Path, segment: Segment, written: Path, facts: SegmentFacts, seconds: float, warnings: list[str]
) -> None:
    """Move a checked segment file into place, then write its marker (the marker is what makes it done).

    Idempotent: a retried or duplicated task publishes the same content under the same names.
    """
    publish_file(written, segment_file(folder, segment.index))
    marker = {"segment": segment.as_dict(), "facts": asdict(facts), "seconds": round(seconds, 3), "warnings": warnings}
    publish_bytes(marker_file(folder, segment.index), json.dumps(marker, indent=1).encode())


def read_marker(folder: Path, index: int) -> dict | None:
    try:
        return json.loads(marker_file(folder, index).read_text())
    except (OSError, ValueError):
        return None
