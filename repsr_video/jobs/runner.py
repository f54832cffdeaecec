"""Run one video job through segments: index, plan, reuse finished work, do the rest, join, publish.

Where segments run: in this process (one worker), in N local worker processes, or as Ray tasks; the
job state, the segment files and the join are the same in every case, so a job started one way can
be resumed another way.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import av

from repsr_video import __version__
from repsr_video.decoder import VideoDecoder
from repsr_video.errors import EngineError, OutputError
from repsr_video.frames import VideoInfo
from repsr_video.jobs.index import VideoIndex, index_video
from repsr_video.jobs.join import JoinReport, Window, join_segments, plan_with_streams
from repsr_video.jobs.options import DEFAULT_SEGMENT_SECONDS
from repsr_video.jobs.plan import (
    Segment,
    TimeRange,
    plan_segments,
)
from repsr_video.jobs.state import (
    JobState,
    input_fingerprint,
    read_marker,
    segment_file,
)
from repsr_video.jobs.work import EngineFactory, SegmentTask, Upscaler, run_segment
from repsr_video.jobs.workers import Events, run_processes
from repsr_video.output import atomic_write, make_parent_folders, remove_stale_partials
from repsr_video.output_plan import (
    EncodeSettings,
    OutputPlan,
    container_format,
)
from repsr_video.pipeline import ProgressEvent, check_frame_fits


@dataclass(frozen=True)
class JobSettings:
    """How a video job is cut and where its segments run."""

    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    workers: int = 1  # local worker processes (1: in this process)
    devices: tuple[str, ...] = ()  # e.g. ("cuda:0", "cuda:1"): one worker per device
    ray_address: str | None = None  # "auto", "ray://host:10001", "local" (start one here)
    restart: bool = False  # discard saved work
    time_range: TimeRange = TimeRange()

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise OutputError(f"--workers {self.workers} must be 1 or more")

    def worker_devices(self) -> list[str | None]:
        return list(self.devices) if self.devices else [None] * self.workers


@dataclass(frozen=True)
class JobProgress(ProgressEvent):
    """One progress reading over all workers: the pipeline's ProgressEvent, plus segments."""

    segments_done: int
    segments_total: int
    frames_resumed: int  # frames that earlier runs had finished


@dataclass
class JobResult:
    input: Path
    output: Path
    frames: int
    seconds: float
    segments: int
    segments_resumed: int
    frames_resumed: int
    warnings: list[str] = field(default_factory=list)
    info: VideoInfo | None = None
    join: JoinReport | None = None

    @property
    def resume_saved(self) -> float:
        """Share of the frames that an earlier run had already done (0..1)."""
        return self.frames_resumed / self.frames if self.frames else 0.0


class _Progress:
    """Adds up frames across segments and workers; thread-safe (Ray results arrive on a thread)."""

    def __init__(
        self, path: Path, segments: list[Segment], resumed: set[int], callback: Callable[[JobProgress], None] | None
    ) -> None:
        self.path, self.callback = path, callback
        self.frames_of = {s.index: s.frames for s in segments}
        self.total = sum(self.frames_of.values())
        self.resumed = sum(self.frames_of[i] for i in resumed)
        self.finished = set(resumed)
        self.partial: dict[int, int] = {}
        self.start = time.perf_counter()
        self.lock = threading.Lock()
        self.last: tuple[int, int] | None = None

    def frames(self, index: int, count: int) -> None:
        with self.lock:
            self.partial[index] = count
        self.emit()

    def done(self, index: int, marker: dict) -> None:
        with self.lock:
            self.partial.pop(index, None)
            self.finished.add(index)
            self.frames_of[index] = marker["facts"]["frames"]
        self.emit()

    def emit(self) -> None:
        if self.callback is None:
            return
        with self.lock:
            done = sum(self.frames_of[i] for i in self.finished) + sum(self.partial.values())
            if (done, len(self.finished)) == self.last:
                return  # nothing new
            self.last = (done, len(self.finished))
            event = JobProgress(
                self.path,
                done,
                max(self.total, done),
                time.perf_counter() - self.start,
                len(self.finished),
                len(self.frames_of),
                self.resumed,
            )
        self.callback(event)


@runtime_checkable
class _SelfDescribing(Protocol):
    """An engine that can say what it computes with (repsr_video.engine.Engine)."""

    device: str
    precision: str
    backend: str
    weights_key: str


def engine_fingerprint(engine: Upscaler | None) -> dict:
    """The model part of the manifest when no factory is given. For an Engine it is what its PresetEngine
    factory would give (weights, scale, device kind, precision, runtime), so the CLI and library calls share saved
    work; any other upscaler is named by its class and scale."""
    assert engine is not None
    if isinstance(engine, _SelfDescribing):
        return {
            "weights_sha256": engine.weights_key,
            "scale": engine.scale,
            "device": engine.device,
            "precision": engine.precision,
            "runtime": "openvino" if engine.backend == "openvino" else "torch",
        }
    return {"upscaler": f"{type(engine).__module__}.{type(engine).__qualname__}", "scale": engine.scale}


def read_video_info(path: Path) -> VideoInfo:
    """Size, colour and timing facts of the input's video stream (reads up to its first frame)."""
    with VideoDecoder(path, copy_streams=False) as decoder:
        return decoder.info


def job_manifest(path: Path, index: VideoIndex, plan: OutputPlan, model: dict, job: JobSettings, segments: list[Segment]) -> dict:
    """Everything that must match for saved segments to be reused."""
    versions = {
        "repsr-video": __version__,
        "av": av.__version__,
        "ffmpeg": str(av.ffmpeg_version_info),
        "libavcodec": str(av.library_versions.get("libavcodec")),
    }
    tr = job.time_range
    return {
        "input": {
            "path": str(path.resolve()),
            **input_fingerprint(path),
            "video_stream": index.stream_index,
            "time_base": str(index.time_base),
        },
        "settings": {
            "model": model,
            "encode": {
                "codec": plan.codec,
                "pix_fmt": plan.pix_fmt,
                "width": plan.width,
                "height": plan.height,
                "options": dict(sorted(plan.options.items())),
                "color": [plan.color.matrix, plan.color.range, plan.color.primaries, plan.color.trc],
                # the YUV path rounds a little differently: a forced choice is kept (auto follows the device kind)
                "yuv_path": None if plan.yuv_path == "auto" else plan.yuv_path,
            },
            "deinterlace": plan.deinterlace,  # None when off: manifests written before the option still match
            "segment_seconds": job.segment_seconds,
            "start": None if tr.start is None else str(tr.start),
            "duration": None if tr.duration is None else str(tr.duration),
        },
        "versions": versions,
        "segments": [s.as_dict() for s in segments],
    }


def _window(index: VideoIndex, segments: list[Segment], job: JobSettings) -> Window:
    """Trim and shift of the other streams: the video's first and last kept frame bound them."""
    if job.time_range.is_whole:
        return Window()
    tb = index.time_base
    first = segments[0].first_pts * tb
    end = segments[-1].end * tb if segments[-1].end is not None else None
    return Window(start=first, end=end, shift=first)


def _execute(
    tasks: list[SegmentTask],
    factory: EngineFactory | None,
    engine: Upscaler | None,
    job: JobSettings,
    events: Events,
    queue_size: int = 3,
) -> None:
    if len(tasks) == 1 and engine is not None and not job.ray_address:
        job = replace(job, workers=1, devices=job.devices[:1])  # one segment: no process start-up for it
    if job.ray_address and factory is not None:
        from repsr_video.jobs.ray_runner import run_on_ray

        run_on_ray(tasks, factory, job.ray_address, events)
    elif len(job.worker_devices()) > 1 and factory is not None:
        run_processes(tasks, factory, job.worker_devices(), events)
    else:
        if engine is None:
            assert factory is not None  # run_job checked that one of them is given
            engine = factory(job.devices[0] if job.devices else None)
        for task in tasks:
            events.done(
                task.segment.index, run_segment(task, engine, functools.partial(events.frames, task.segment.index), queue_size)
            )


def run_job(
    input_path: str | Path,
    output: str | Path,
    factory: EngineFactory | None = None,
    *,
    engine: Upscaler | None = None,
    encode: EncodeSettings | None = None,
    job: JobSettings | None = None,
    progress: Callable[[JobProgress], None] | None = None,
    index: VideoIndex | None = None,
    overwrite: bool = False,
    queue_size: int = 3,
) -> JobResult:
    """Upscale `input_path` into `output` segment by segment; resumes saved work of the same job.

    `engine` (if given) does the segments that run in this process; worker processes and Ray tasks
    build their own from `factory`, which also names the model in the job's manifest (without one the
    engine describes itself, see `engine_fingerprint`). The caller checks the output path first; with
    overwrite=False a file that appears at `output` meanwhile is never replaced.
    """
    input_path, output = Path(input_path), Path(output)
    encode, job = encode or EncodeSettings(), job or JobSettings()
    if factory is None and (engine is None or job.ray_address or len(job.worker_devices()) > 1):
        raise EngineError("worker processes and Ray tasks need an engine factory (repsr_video.jobs.PresetEngine)")
    start = time.perf_counter()
    container_format(output)
    index = index or index_video(input_path)
    info = read_video_info(input_path)
    if engine is not None:  # a frame size this machine cannot upscale is refused before any work, as in one pass
        check_frame_fits(engine, info.height, info.width, 2 if info.high_bit_depth else 1)
    model = factory.fingerprint() if factory is not None else engine_fingerprint(engine)
    plan = plan_with_streams(input_path, info, model["scale"], output, encode)  # fails early on a stream it cannot write
    segments = plan_segments(index, job.segment_seconds, job.time_range)
    manifest = job_manifest(input_path, index, plan, model, job, segments)
    make_parent_folders(output)
    remove_stale_partials(output)
    with JobState.open(output, manifest, restart=job.restart) as state:
        resumed = {s.index for s in segments if state.finished(s) is not None}
        tracker = _Progress(input_path, segments, resumed, progress)
        tasks = [SegmentTask(str(input_path), str(state.folder), s, info, plan) for s in segments if s.index not in resumed]
        tasks.sort(key=lambda t: -t.segment.frames)  # longest first: no idle tail
        tracker.emit()
        _execute(tasks, factory, engine, job, Events(tracker.frames, tracker.done), queue_size)
        markers = [m for m in (read_marker(state.folder, s.index) for s in segments) if m is not None]
        if len(markers) != len(segments):
            raise OutputError(f"{output}: some segments are not finished; run the same command again to resume")
        with atomic_write(output, overwrite=overwrite) as tmp:
            files = [segment_file(state.folder, s.index) for s in segments]
            joined = join_segments(files, input_path, tmp, plan, info, _window(index, segments, job))
        state.remove()
    frames = sum(m["facts"]["frames"] for m in markers)
    return JobResult(
        input_path,
        output,
        frames,
        time.perf_counter() - start,
        len(segments),
        len(resumed),
        tracker.resumed,
        _warnings(input_path, index, job, plan.notes, markers, frames),
        info,
        joined,
    )


def _warnings(input_path: Path, index: VideoIndex, job: JobSettings, notes: list[str], markers: list, frames: int) -> list[str]:
    """The output plan's notes, each segment's decode warnings, and a note if the input looks cut short."""
    warnings = [*notes, *(w for m in markers for w in m.get("warnings", []))]
    if index.truncated or (job.time_range.is_whole and index.ends_early()):
        warnings.append(
            f"{input_path}: the video ends before the length its container states, or reading stopped early; "
            f"the file looks truncated or damaged (kept {frames} frames)"
        )
    return warnings


__all__ = ["JobProgress", "JobResult", "JobSettings", "TimeRange", "run_job"]
