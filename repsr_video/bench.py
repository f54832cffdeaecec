"""`repsr-video bench`: decode-only, infer-only, encode-only and end-to-end frames/s on one clip.

Each stage runs alone over the same number of frames, then the whole pipeline runs over them; the
pipeline's goal is to reach 90 % of the slowest stage alone. That is reachable where the stages use
different resources (GPU inference, CPU encoding). Where every stage uses all the CPU cores, their
costs add up, so the report also gives the sequential rate 1 / sum(1 / stage fps) for comparison.
Peak memory is sampled per stage (resident set size; CUDA max allocated on GPU runs;
repsr_video/memory_sampling.py). `memory_check` runs the pipeline over clips of different lengths to
show that memory does not grow with the length of the video.

The clip is first remuxed (video stream only, no re-encoding) into a work clip of exactly the
requested number of frames, looping it when it is shorter. Packets are cut in decode order, where
every reference precedes the frames that use it, so each kept packet decodes.
The library never prints; the CLI renders the returned dataclasses.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import av

from .errors import InputError, describe_error
from .frames import FrameBatch
from .memory_sampling import PeakSampler, cuda_peak_mb, current_rss_mb, reset_cuda_peak
from .output_plan import EncodeSettings, plan_output

if TYPE_CHECKING:
    from .engine_base import TiledEngine as Engine

GOAL = 0.9  # end-to-end fps / slowest stage alone


@dataclass(frozen=True)
class StageResult:
    stage: str
    frames: int
    seconds: float
    peak_rss_mb: float
    cuda_peak_mb: float | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return asdict(self) | {"fps": round(self.fps, 2)}


@dataclass
class BenchReport:
    clip: str
    frames: int
    input_size: str
    output_size: str
    engine: str
    encoder: str
    warmup_seconds: float
    stages: list[StageResult]
    notes: list[str] = field(default_factory=list)
    segments: int = 1  # how many segments the end-to-end run cut the clip into (the default segment length)
    segments_resumed: int = 0  # always 0 here (the bench starts fresh); the upscale command's --json has the same fields

    @property
    def slowest(self) -> StageResult:
        return min((s for s in self.stages if s.stage != "end-to-end"), key=lambda s: s.fps)

    @property
    def end_to_end(self) -> StageResult:
        return next(s for s in self.stages if s.stage == "end-to-end")

    @property
    def ratio(self) -> float:
        """End-to-end fps over the slowest stage alone (the goal is >= GOAL)."""
        return self.end_to_end.fps / self.slowest.fps if self.slowest.fps else 0.0

    @property
    def sequential_fps(self) -> float:
        """fps if the stages ran one after another: the ceiling when they compete for the same cores."""
        alone = [s for s in self.stages if s.stage != "end-to-end"]
        return 1 / sum(1 / s.fps for s in alone) if all(s.fps for s in alone) else 0.0

    def as_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "stages"}
        return data | {
            "stages": [s.as_dict() for s in self.stages],
            "slowest_stage": self.slowest.stage,
            "end_to_end_over_slowest": round(self.ratio, 3),
            "sequential_fps": round(self.sequential_fps, 2),
            "goal": GOAL,
        }


@dataclass(frozen=True)
class MemoryRow:
    frames: int
    seconds: float
    rss_before_mb: float
    peak_rss_mb: float
    cuda_peak_mb: float | None = None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@contextmanager
def _measure(stage: str, frames_box: list[int], device: str, results: list[StageResult]) -> Iterator[None]:
    reset_cuda_peak(device)
    with PeakSampler() as sampler:
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
    results.append(StageResult(stage, frames_box[0], seconds, sampler.peak, cuda_peak_mb(device)))


# --- the work clip -------------------------------------------------------------------------------


def make_work_clip(source: str | Path, frames: int, destination: str | Path) -> int:
    """Remux the first video stream of `source` into `destination` with exactly `frames` packets,
    looping the clip (timestamps shifted) when it is shorter. Returns the number of packets written."""
    source, destination = Path(source), Path(destination)
    if frames < 1:
        raise InputError(f"{source}: the benchmark needs at least 1 frame, got {frames}")
    written = 0
    offset = 0
    with av.open(str(destination), "w") as out:
        out_stream = None
        while written < frames:
            try:
                container = av.open(str(source))
            except av.error.FFmpegError as error:
                raise InputError(f"{source}: cannot be opened as a video ({describe_error(error)})") from error
            with container:
                if not container.streams.video:
                    raise InputError(f"{source}: has no video stream")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                # Packets in MP4 often carry no duration; one frame interval keeps loops from overlapping.
                frame_ticks = max(1, round(1 / (rate * stream.time_base))) if rate and stream.time_base else 1
                if out_stream is None:
                    out_stream = out.add_stream_from_template(stream)
                end = offset
                before = written
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.pts is None:
                        continue
                    packet.pts += offset
                    if packet.dts is not None:
                        packet.dts += offset
                    end = max(end, packet.pts + max(packet.duration or 0, frame_ticks))
                    packet.stream = out_stream
                    out.mux(packet)
                    written += 1
                    if written == frames:
                        break
                if written == before:
                    raise InputError(f"{source}: contains no video packets")
                offset = end
    return written


# --- the stages ----------------------------------------------------------------------------------


def _decode_only(clip: Path, batch: int, keep: int) -> tuple[int, list[FrameBatch]]:
    """Decode every frame to RGB; keep the first `keep` frames' batches for the other stages."""
    from .decoder import VideoDecoder

    kept: list[FrameBatch] = []
    count = 0
    with VideoDecoder(clip, copy_streams=False) as decoder:
        for item in decoder.batches(batch):
            if isinstance(item, FrameBatch):
                count += len(item)
                if sum(len(b) for b in kept) < keep:
                    kept.append(FrameBatch(item.pixels.copy(), item.pts, item.durations, item.time_base, item.first_index))
    return count, kept


def _cycle(batches: list[FrameBatch], frames: int) -> Iterator[FrameBatch]:
    """`frames` frames in batches, reusing the sample batches, with fresh increasing timestamps."""
    done = 0
    step = max(1, batches[0].durations[0] or 1)
    while done < frames:
        for sample in batches:
            n = min(len(sample), frames - done)
            if n <= 0:
                return
            pts = [(done + i) * step for i in range(n)]
            yield FrameBatch(sample.pixels[:n], pts, [step] * n, sample.time_base, done)
            done += n


def _encode_only(clip: Path, upscaled: list[FrameBatch], frames: int, scale: int, encode: EncodeSettings, out: Path) -> None:
    from .decoder import VideoDecoder
    from .encoder import open_encoder

    with VideoDecoder(clip, copy_streams=False) as decoder:
        plan = plan_output(decoder.info, scale, out, encode)
        encoder = open_encoder(encode.encoder, decoder.source, plan, out)
        try:
            for item in _cycle(upscaled, frames):
                encoder.write(item)
            encoder.finish()
        except BaseException:
            encoder.abort()
            raise


def _warm_up(engine: Engine, sample: list[FrameBatch]) -> tuple[float, list[FrameBatch]]:
    """Seconds spent until the engine runs at speed, and the sample upscaled (what the encode stage writes)."""
    from .backends.compiled import compiling_at_once

    start = time.perf_counter()
    with compiling_at_once():  # the compiled backend compiles this shape now, then one compiled call
        for _ in range(2):
            engine.upscale(sample[0].pixels)
    seconds = time.perf_counter() - start
    return seconds, [b.with_pixels(engine.upscale(b.pixels)) for b in sample]


def run_bench(
    clip: str | Path,
    engine: Engine,
    *,
    frames: int = 200,
    encode: EncodeSettings = EncodeSettings(),
    workdir: str | Path | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> BenchReport:
    """Time each stage alone, then the pipeline, over the same `frames` frames of `clip`."""
    from .jobs.video import segment_fields
    from .pipeline import upscale_video

    clip = Path(clip)
    if not clip.is_file():
        raise InputError(f"{clip}: no such file")
    notify = on_stage or (lambda stage: None)
    device = engine.device
    stages: list[StageResult] = []
    with tempfile.TemporaryDirectory(dir=workdir, prefix="repsr-bench-") as tmp:
        work = Path(tmp) / f"work{clip.suffix if clip.suffix in ('.mp4', '.mkv', '.mov', '.webm') else '.mkv'}"
        frames = make_work_clip(clip, frames, work)
        out = Path(tmp) / "out.mkv"

        notify("decode")
        box = [0]
        with _measure("decode", box, device, stages):
            box[0], sample = _decode_only(work, engine.batch, keep=max(engine.batch, 8))

        notify("warm-up")
        warmup, upscaled = _warm_up(engine, sample)

        notify("infer")
        box = [frames]
        with _measure("infer", box, device, stages):
            for item in _cycle(sample, frames):
                engine.upscale(item.pixels)

        notify("encode")
        with _measure("encode", box, device, stages):
            _encode_only(work, upscaled, frames, engine.scale, encode, out)

        notify("end-to-end")
        with _measure("end-to-end", box, device, stages):
            result = upscale_video(work, out, engine, encode=encode, overwrite=True)
        if result.frames != frames:
            raise InputError(f"{clip}: the pipeline wrote {result.frames} frames, expected {frames}")
        h, w = sample[0].height, sample[0].width
        with av.open(str(out)) as container:
            encoder_name = container.streams.video[0].codec_context.name
    counts = segment_fields(result)
    return BenchReport(
        clip=str(clip),
        frames=frames,
        input_size=f"{w}x{h}",
        output_size=f"{w * engine.scale}x{h * engine.scale}",
        engine=engine.describe(),
        encoder=f"{encode.encoder} {encoder_name}" + (f" preset {encode.preset}" if encode.preset else ""),
        warmup_seconds=warmup,
        stages=stages,
        notes=list(engine.notes),
        segments=int(counts.get("segments", 1)),  # no fields: the file ran in one pass
        segments_resumed=int(counts.get("segments_resumed", 0)),
    )



def memory_check(
    clip: str | Path,
    engine: Engine,
    *,
    lengths: tuple[int, ...] = (100, 1000),
    encode: EncodeSettings = EncodeSettings(),
    workdir: str | Path | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> list[MemoryRow]:
    """Run the whole pipeline over work clips of each length; peak RSS should not depend on it.

    A short run first warms the engine (compilation, allocator pools), so the rows compare the
    steady state of one process, as when a folder of videos is processed.
    """
    from .pipeline import upscale_video

    clip = Path(clip)
    if not clip.is_file():
        raise InputError(f"{clip}: no such file")
    notify = on_stage or (lambda stage: None)
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir, prefix="repsr-memcheck-") as tmp:
        out = Path(tmp) / "out.mkv"
        warm = Path(tmp) / "warm.mkv"
        from .backends.compiled import compiling_at_once

        make_work_clip(clip, 4 * engine.batch, warm)
        notify("warm-up")
        with compiling_at_once():  # the compiled backend compiles this shape during the warm-up
            upscale_video(warm, out, engine, encode=encode, overwrite=True)
        for length in lengths:
            work = Path(tmp) / f"work{length}.mkv"
            frames = make_work_clip(clip, length, work)
            notify(f"{frames} frames")
            reset_cuda_peak(engine.device)
            before = current_rss_mb()
            with PeakSampler() as sampler:
                start = time.perf_counter()
                result = upscale_video(work, out, engine, encode=encode, overwrite=True)
                seconds = time.perf_counter() - start
            if result.frames != frames:
                raise InputError(f"{clip}: the pipeline wrote {result.frames} frames, expected {frames}")
            rows.append(MemoryRow(frames, seconds, before, sampler.peak, cuda_peak_mb(engine.device)))
            work.unlink()
    return rows

