"""Upscale one video file: decode, infer and encode overlap in three threads joined by bounded queues.

The decoder thread demuxes and converts to RGB, the engine thread upscales whole batches, and the calling
thread encodes and muxes. On the YUV path (repsr_video/yuv_path.py decides) the batches are 4:2:0 planes
instead, converted to RGB and back on the engine's device. Queues hold a few batches at most, so memory
does not grow with the length of the video. The output is written to a temporary file beside OUTPUT and
renamed on success; on any error or Ctrl-C the temporary file is removed and OUTPUT is left as it was.
The library never prints: progress is reported through a callback.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from repsr_video.alpha import upscale_alpha
from repsr_video.decoder import VideoDecoder
from repsr_video.encoder import FrameSink, open_encoder
from repsr_video.errors import EngineError, OutputError, RepsrError
from repsr_video.frames import FrameBatch, Frames, PacketGroup, VideoInfo, YuvFrameBatch
from repsr_video.output import FileResult, atomic_write, check_output_path, make_parent_folders, remove_stale_partials
from repsr_video.output_plan import EncodeSettings, container_format, plan_output
from repsr_video.yuv_path import YuvUpscaler, yuv_layout

if TYPE_CHECKING:  # the segmented path is imported when a video runs
    from repsr_video.jobs.runner import JobSettings
    from repsr_video.jobs.work import EngineFactory


@runtime_checkable
class Upscaler(Protocol):
    """What the pipeline, images and folders need of the processing stage; `repsr_video.engine.Engine`
    is one (see `create_engine`), and anything else with these members can stand in for it."""

    scale: int

    @property
    def batch(self) -> int:
        """Frames per call the pipeline aims for."""
        ...

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        """(N,H,W,3) uint8 or uint16 RGB -> (N,sH,sW,3) of the same dtype."""
        ...


@runtime_checkable
class SizeChecked(Protocol):
    """An upscaler that knows its memory needs (the Engine): it refuses a frame size before any work."""

    def check_frame(self, height: int, width: int, itemsize: int) -> None:
        """Raise a one-line RepsrError if frames of this size cannot be upscaled here."""
        ...


def check_frame_fits(engine: Upscaler, height: int, width: int, itemsize: int) -> None:
    if isinstance(engine, SizeChecked):
        engine.check_frame(height, width, itemsize)


class FrameSource(Protocol):
    """What the pipeline's first stage reads: a VideoDecoder, or anything else that yields its items."""

    path: Path
    info: VideoInfo

    def batches(self, batch_size: int) -> Iterator[Frames | PacketGroup]: ...


@dataclass(frozen=True)
class ProgressEvent:
    path: Path
    frames_done: int
    frames_total: int | None  # an estimate from the container; None when unknown
    seconds: float


ProgressCallback = Callable[[ProgressEvent], None]


class _End:
    """Sentinel: the stage before has finished."""


@dataclass
class _Failed:
    error: BaseException


_END = _End()
_POLL_S = 0.1


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue, stop: threading.Event):
    while not stop.is_set():
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            continue
    return _END


def _decode_stage(decoder: FrameSource, batch: int, out: queue.Queue, stop: threading.Event) -> None:
    try:
        for item in decoder.batches(batch):
            if not _put(out, item, stop):
                return
        _put(out, _END, stop)
    except BaseException as error:  # handed to the calling thread, which raises it
        _put(out, _Failed(error), stop)


def _infer_stage(engine: Upscaler, path: Path, q_in: queue.Queue, q_out: queue.Queue, stop: threading.Event) -> None:
    try:
        while True:
            item = _get(q_in, stop)
            if isinstance(item, YuvFrameBatch):
                item = item.with_planes(*_upscale_yuv(engine, item, path))
            elif isinstance(item, FrameBatch):
                alpha = None if item.alpha is None else upscale_alpha(item.alpha, engine.scale)
                item = item.with_pixels(_upscale(engine, item, path), alpha)
            if not _put(q_out, item, stop) or isinstance(item, (_End, _Failed)):
                return
    except BaseException as error:
        _put(q_out, _Failed(error), stop)


def _upscale(engine: Upscaler, batch: FrameBatch, path: Path) -> np.ndarray:
    try:
        out = engine.upscale(batch.pixels)
    except RepsrError:
        raise
    except Exception as error:
        raise EngineError(f"{path}: upscaling failed at frame {batch.first_index} ({type(error).__name__}: {error})") from error
    n, h, w, _ = batch.pixels.shape
    expected = (n, h * engine.scale, w * engine.scale, 3)
    if out.shape != expected or out.dtype != batch.pixels.dtype:
        raise EngineError(f"{path}: the engine returned {out.shape} {out.dtype}, expected {expected} {batch.pixels.dtype}")
    return out


def _upscale_yuv(engine: Upscaler, batch: YuvFrameBatch, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not isinstance(engine, YuvUpscaler):  # yuv_layout only picks the YUV path for such an engine
        raise EngineError(f"{path}: the engine ({type(engine).__name__}) cannot upscale 4:2:0 planes")
    try:
        planes = engine.upscale_yuv(batch.y, batch.u, batch.v, batch.layout)
    except RepsrError:
        raise
    except Exception as error:
        raise EngineError(f"{path}: upscaling failed at frame {batch.first_index} ({type(error).__name__}: {error})") from error
    n, h, w = len(batch), batch.height * engine.scale, batch.width * engine.scale
    expected = [(n, h, w), (n, h // 2, w // 2), (n, h // 2, w // 2)]
    got = [p.shape for p in planes]
    if got != expected or any(p.dtype != batch.y.dtype for p in planes):
        raise EngineError(f"{path}: the engine returned planes {got}, expected {expected} {batch.y.dtype}")
    return planes


def upscale_video(
    input_path: str | Path,
    output: str | Path,
    engine: Upscaler,
    *,
    encode: EncodeSettings = EncodeSettings(),
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    queue_size: int = 3,
    job: JobSettings | None = None,
    factory: EngineFactory | None = None,
) -> FileResult:
    """Upscale the video stream of `input_path` into `output`, copying every other stream.

    The video runs as segments (repsr_video.jobs): an interrupted run leaves its finished segments
    beside `output`, and the same call resumes; `job` sets the segment length, workers, Ray, time range
    and restart; `factory` builds engines in worker processes and names the model in the saved state.
    Inputs that cannot be cut, and `--encoder ffmpeg`, run in one pass below.

    Returns a FileResult with the frame count, time and any warnings (damaged packets, format notes).
    Raises a RepsrError with a one-line message on failure; then nothing is left at `output`.
    """
    input_path, output = Path(input_path), Path(output)
    start = time.perf_counter()
    container_format(output)  # an unknown extension fails before anything is opened
    check_output_path(input_path, output, overwrite)
    from repsr_video.jobs.runner import JobSettings
    from repsr_video.jobs.video import upscale_segmented

    segmented = upscale_segmented(input_path, output, engine, encode=encode, job=job or JobSettings(), factory=factory,
                                  progress=progress, overwrite=overwrite, queue_size=queue_size)
    if segmented is not None:
        return segmented
    with VideoDecoder(input_path, copy_streams=True) as decoder:
        plan = plan_output(decoder.info, engine.scale, output, encode, decoder.source.copied)
        decoder.keep_alpha = plan.alpha
        decoder.deinterlace = plan.deinterlace
        decoder.yuv_layout = yuv_layout(engine, decoder.info, plan)
        check_frame_fits(engine, decoder.info.height, decoder.info.width, 2 if decoder.info.high_bit_depth else 1)
        make_parent_folders(output)
        remove_stale_partials(output)
        with atomic_write(output, overwrite=overwrite) as tmp:
            encoder = open_encoder(encode.encoder, decoder.source, plan, tmp)
            try:
                _run_stages(decoder, engine, encoder, progress, queue_size, start)
                encoder.finish()
            except BaseException:
                encoder.abort()
                raise
            if encoder.frames != decoder.report.frames:  # a guard: this would be a bug, never a quiet loss
                raise OutputError(f"{output}: wrote {encoder.frames} frames but decoded {decoder.report.frames}")
    warnings = [*plan.notes, *decoder.report.warnings]
    return FileResult(input_path, output, "done", decoder.report.frames, time.perf_counter() - start, warnings, info=decoder.info)


def _run_stages(
    decoder: FrameSource, engine: Upscaler, encoder: FrameSink, progress: ProgressCallback | None, queue_size: int, start: float
) -> None:
    """Decode and upscale in two threads while this one writes, until the source ends or a stage fails."""
    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=queue_size)
    upscaled: queue.Queue = queue.Queue(maxsize=queue_size)
    batch = max(1, int(engine.batch))
    threads = [
        threading.Thread(target=_decode_stage, args=(decoder, batch, decoded, stop), name="repsr-decode", daemon=True),
        threading.Thread(
            target=_infer_stage, args=(engine, decoder.path, decoded, upscaled, stop), name="repsr-infer", daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    total = decoder.info.frame_count
    try:
        if progress:
            progress(ProgressEvent(decoder.path, 0, total, 0.0))
        while True:
            item = _get(upscaled, stop)
            if isinstance(item, _End):
                break
            if isinstance(item, _Failed):
                raise item.error
            encoder.write(item)
            if progress and isinstance(item, (FrameBatch, YuvFrameBatch)):
                progress(ProgressEvent(decoder.path, encoder.frames, total, time.perf_counter() - start))
        if progress and total != encoder.frames:  # the container's count was an estimate: end on the real one
            progress(ProgressEvent(decoder.path, encoder.frames, encoder.frames, time.perf_counter() - start))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


# FileResult and check_output_path live in repsr_video.output; named here too for callers of this module.
__all__ = [
    "FileResult", "FrameSource", "ProgressCallback", "ProgressEvent", "SizeChecked", "Upscaler", "check_frame_fits",
    "check_output_path", "upscale_video",
]
