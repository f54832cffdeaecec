"""The video path of `repsr_video.pipeline.upscale_video`: every video job runs as segments.

A file whose frames cannot be told apart by pts (missing or repeated timestamps, e.g. AVI with
B-frames) cannot be cut; it runs in one pass through the plain pipeline (which repairs timestamps),
without resume. So do `--encoder ffmpeg`, whose process writes the whole file, an encoder whose
output the segment files (NUT) cannot hold (ProRes, QTRLE, DNxHD), and VP8/VP9 with alpha (kept as
side data NUT drops). Asking for what needs segments (--workers, --ray, a time range) is then an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from repsr_video.alpha import has_alpha
from repsr_video.errors import InputError
from repsr_video.jobs.index import index_video
from repsr_video.jobs.runner import JobProgress, JobSettings, read_video_info, run_job
from repsr_video.jobs.segment import segment_format_holds
from repsr_video.jobs.work import EngineFactory, Upscaler
from repsr_video.output import FileResult
from repsr_video.output_plan import CODEC_ALIASES, CONTAINERS, SIDE_DATA_ALPHA, EncodeSettings, default_codec


@dataclass
class SegmentedResult(FileResult):
    """A FileResult with what the segments did: how many, and how much an earlier run had finished."""

    segments: int = 1
    segments_resumed: int = 0
    frames_resumed: int = 0

    @property
    def resume_saved(self) -> float:
        return self.frames_resumed / self.frames if self.frames else 0.0


def segment_fields(result: FileResult) -> dict[str, int | float]:
    """What the segments of a video did, for summaries (--json, bench); {} for a file run in one pass."""
    if not isinstance(result, SegmentedResult):
        return {}
    return {"segments": result.segments, "segments_resumed": result.segments_resumed, "frames_resumed": result.frames_resumed,
            "resume_saved": round(result.resume_saved, 4)}


def upscale_segmented(
    input_path: Path,
    output: Path,
    engine: Upscaler,
    *,
    encode: EncodeSettings,
    job: JobSettings,
    factory: EngineFactory | None,
    progress: Callable[[JobProgress], None] | None,
    overwrite: bool = False,
    queue_size: int = 3,
) -> SegmentedResult | None:
    """Run the job as segments; None when the input must run in one pass instead (see the module doc)."""
    reason = _one_pass_output(input_path, output, encode)
    index = None if reason else index_video(input_path)
    if index is not None and not index.timestamps_complete:
        reason = "its frames lack distinct timestamps, so it cannot be cut into segments"
    if reason:
        if job.ray_address or len(job.worker_devices()) > 1 or not job.time_range.is_whole:
            raise InputError(f"{input_path}: {reason}; --workers, --ray, --start and --duration need a segmented run")
        return None
    result = run_job(
        input_path,
        output,
        factory,
        engine=engine,
        encode=encode,
        job=job,
        progress=progress,
        index=index,
        overwrite=overwrite,
        queue_size=queue_size,
    )
    return SegmentedResult(
        input_path,
        output,
        "done",
        result.frames,
        result.seconds,
        result.warnings,
        info=result.info,
        segments=result.segments,
        segments_resumed=result.segments_resumed,
        frames_resumed=result.frames_resumed,
    )


def _one_pass_output(input_path: Path, output: Path, encode: EncodeSettings) -> str | None:
    """Why this output can only be written in one pass, or None: the ffmpeg process writes the whole file; NUT
    (the segment files) cannot hold the encoder's output, or drops VP8/VP9 alpha (side data)."""
    if encode.encoder != "pyav":
        return f"--encoder {encode.encoder} writes the file in one pass"
    codec = CODEC_ALIASES.get(encode.codec or "", encode.codec) or default_codec(CONTAINERS.get(output.suffix.lower(), ""))
    if not segment_format_holds(codec):
        return f"{codec} output is written in one pass (segment files cannot hold it)"
    if codec in SIDE_DATA_ALPHA and not (encode.pix_fmt and not has_alpha(encode.pix_fmt)):
        if has_alpha(read_video_info(input_path).pix_fmt):
            return f"{codec} output with alpha is written in one pass (segment files drop its alpha)"
    return None
