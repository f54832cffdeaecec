"""Do one segment anywhere (this process, a worker process, a Ray task): decode, upscale, encode, check, publish.

A `SegmentTask` is everything a worker needs, small and picklable: paths, the segment, the input's video
facts and the output plan, never frames. `run_segment` is idempotent: a segment already done is not
redone, and a retried task writes the same content under the same names.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from repsr_video.errors import OutputError
from repsr_video.frames import VideoInfo
from repsr_video.jobs.plan import Segment
from repsr_video.jobs.segment import (
    SeekMismatch,
    SegmentSource,
    SegmentWriter,
    verify_segment_file,
)
from repsr_video.jobs.state import (
    finished_segment,
    partial_file,
    publish_segment,
    read_marker,
)
from repsr_video.output_plan import OutputPlan
from repsr_video.pipeline import Upscaler, _run_stages
from repsr_video.yuv_path import yuv_layout


class EngineFactory(Protocol):
    """Builds the engine inside a worker: picklable, so it can travel to another process or host."""

    def __call__(self, device: str | None = None) -> Upscaler: ...

    def fingerprint(self) -> dict: ...


@dataclass(frozen=True)
class SegmentTask:
    input: str
    folder: str  # the job folder (a shared filesystem when workers run on other hosts)
    segment: Segment
    info: VideoInfo
    plan: OutputPlan
    threads: int = 0  # decoder and encoder threads (0: FFmpeg's choice)


FrameCallback = Callable[[int], None]  # frames of this segment done so far


def run_segment(task: SegmentTask, engine: Upscaler, progress: FrameCallback | None = None, queue_size: int = 3) -> dict:
    """Make the segment's file and marker unless they exist; return the marker."""
    folder, segment = Path(task.folder), task.segment
    if finished_segment(folder, segment) is None:
        start = time.perf_counter()
        tmp = partial_file(folder, segment.index)
        try:
            try:
                report = _encode(task, engine, tmp, progress, queue_size, from_start=False)
            except SeekMismatch:  # the keyframe did not start the segment frame-exactly: decode from the file start
                report = _encode(task, engine, tmp, progress, queue_size, from_start=True)
            facts = verify_segment_file(tmp, task.info.time_base, report.frames, report.first_pts, report.last_pts)
            publish_segment(folder, segment, tmp, facts, time.perf_counter() - start, report.warnings)
        finally:
            tmp.unlink(missing_ok=True)
    marker = read_marker(folder, segment.index)
    assert marker is not None  # just published (or found) above
    return marker


@dataclass
class _Encoded:
    frames: int
    first_pts: int
    last_pts: int
    warnings: list[str]


class _Counting:
    """Wraps the segment writer to note the pts written and report progress."""

    def __init__(self, writer: SegmentWriter, progress: FrameCallback | None) -> None:
        self.writer, self.progress = writer, progress
        self.first: int | None = None
        self.last: int | None = None

    @property
    def frames(self) -> int:
        return self.writer.frames

    def write(self, batch) -> None:
        self.writer.write(batch)
        self.first = batch.pts[0] if self.first is None else self.first
        self.last = batch.pts[-1]
        if self.progress:
            self.progress(self.writer.frames)


def _encode(
    task: SegmentTask, engine: Upscaler, tmp: Path, progress: FrameCallback | None, queue_size: int, *, from_start: bool
) -> _Encoded:
    source = SegmentSource(task.input, task.segment, task.info, threads=task.threads, from_start=from_start,
                           alpha=task.plan.alpha, deinterlace=task.plan.deinterlace,
                           yuv=yuv_layout(engine, task.info, task.plan))
    writer = SegmentWriter(tmp, task.plan, task.info, threads=task.threads)
    counting = _Counting(writer, progress)
    try:
        _run_stages(source, engine, counting, None, queue_size, time.perf_counter())
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    if counting.first is None or counting.last is None:
        raise OutputError(f"{task.input}: segment {task.segment.index} produced no frame")
    return _Encoded(writer.frames, counting.first, counting.last, source.report.warnings)
