"""One segment: decode its frames from its keyframe, upscale, encode with a fresh encoder into its own file.

The segment file is NUT: it keeps the source's time base and pts exactly (Matroska would round to
1 ms) and holds every codec we encode. Only the video is written; the join copies the other streams
once from the source. After writing, the file is reopened and checked (frame count, first and last
pts) before it may be published.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.error
import numpy as np
from av.video.stream import VideoStream

from repsr_video.alpha import read_alpha
from repsr_video.colour import conversion_args, rgb_format, to_output_frames
from repsr_video.decoder import open_input, pick_video_stream, video_codec_context
from repsr_video.deinterlace import deinterlaced
from repsr_video.errors import InputError, OutputError, describe_error
from repsr_video.frames import FrameBatch, Frames, VideoInfo
from repsr_video.jobs.index import stream_time_base
from repsr_video.jobs.plan import Segment
from repsr_video.output_plan import CODEC_ALIASES, OutputPlan, supported_codecs
from repsr_video.yuv_layout import YuvLayout
from repsr_video.yuv_path import planes_batch, read_planes

SEGMENT_FORMAT, SEGMENT_SUFFIX = "nut", ".nut"


def segment_format_holds(codec: str | None) -> bool:
    """Whether a segment file can hold this video encoder's output (NUT cannot hold ProRes, QTRLE, DNxHD).

    None (the container's default encoder) and names FFmpeg does not know say True: planning the output
    reports those.
    """
    if codec is None:
        return True
    try:
        canonical = av.Codec(CODEC_ALIASES.get(codec, codec), "w").canonical_name
    except (av.error.FFmpegError, ValueError):
        return True
    return canonical in supported_codecs(SEGMENT_FORMAT)


class SeekMismatch(InputError):
    """Decoding from the segment's keyframe did not give the frame the index promised."""



@dataclass
class SegmentReport:
    frames: int = 0
    corrupt_packets: int = 0
    repaired_pts: int = 0
    warnings: list[str] = field(default_factory=list)


class SegmentSource:
    """RGB batches of exactly the frames of `segment` (same colour conversion as the whole-file decoder).

    `from_start=True` ignores the keyframe and decodes from the file start (the fallback when a seek
    did not land on a frame-exact start). Only the video stream is read; `alpha` adds the alpha plane;
    `deinterlace` (bwdif's mode) deinterlaces the segment's frames, which have no neighbours across the cut;
    `yuv` (the YUV path, repsr_video/yuv_path.py) hands over YuvFrameBatch of the decoded planes instead of RGB.
    """

    def __init__(
        self, path: str | Path, segment: Segment, info: VideoInfo, *, threads: int = 0, from_start: bool = False,
        alpha: bool = False, deinterlace: str | None = None, yuv: YuvLayout | None = None,
    ) -> None:
        self.path = Path(path)
        self.segment = segment
        self.info = info
        self.threads = threads
        self.from_start = from_start or segment.key_pts is None
        self.report = SegmentReport()
        self._src_color = conversion_args(info.color, "src")
        self.rgb_format = rgb_format(info.high_bit_depth)
        self._last_pts: int | None = None
        self.alpha = alpha
        self.deinterlace = deinterlace
        self.yuv = yuv

    def _packets(self, container: av.container.InputContainer, stream) -> Iterator[av.Packet]:
        """The segment's packets in decode order: from its keyframe through its last packet."""
        seg = self.segment
        if not self.from_start:
            assert seg.key_pts is not None  # from_start is set for segments without a keyframe
            container.seek(seg.key_pts, stream=stream, backward=True, any_frame=False)
        position: int | None = 0 if self.from_start else None
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if position is None:  # after a seek: skip to the keyframe the plan names
                if packet.pts == seg.key_pts and (seg.key_pos < 0 or packet.pos == seg.key_pos):
                    position = seg.first_packet
                elif seg.key_pos >= 0 and packet.pos is not None and packet.pos > seg.key_pos:
                    raise SeekMismatch(f"{self.path}: seeking for segment {seg.index} went past its keyframe")
                else:
                    continue
            if position > seg.last_packet:
                return
            yield packet
            position += 1
        if position is None:
            raise SeekMismatch(f"{self.path}: segment {seg.index}'s keyframe was not found after seeking")

    def frames(self) -> Iterator[av.VideoFrame]:
        """Decoded frames of the segment, in presentation order, with frames outside it dropped by pts."""
        with open_input(self.path) as container:
            stream = pick_video_stream(container, self.path)
            codec, _ = video_codec_context(stream)  # the whole-file decoder's choice; its note is in info.notes
            codec.thread_type = "AUTO"
            codec.thread_count = self.threads
            for packet in self._packets(container, stream):
                try:
                    decoded = codec.decode(packet)
                except (av.error.FFmpegError, ValueError):
                    self.report.corrupt_packets += 1
                    continue
                yield from self._kept(decoded)
            try:
                yield from self._kept(codec.decode(None))
            except (av.error.FFmpegError, ValueError):
                self.report.corrupt_packets += 1

    def _kept(self, frames: list[av.VideoFrame]) -> Iterator[av.VideoFrame]:
        for frame in frames:
            if frame.pts is not None and not self.segment.keeps(frame.pts):
                continue
            if self.report.frames == 0 and not self.from_start and frame.pts != self.segment.first_pts:
                raise SeekMismatch(
                    f"{self.path}: segment {self.segment.index} starts at pts {frame.pts}, expected {self.segment.first_pts}"
                )
            yield frame

    def _timestamp(self, frame: av.VideoFrame) -> int:
        """The frame's pts; a missing or non-increasing one (files that are one segment) gets the next free one."""
        pts = frame.pts
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            step = self._default_duration()
            pts = 0 if self._last_pts is None else self._last_pts + step
            self.report.repaired_pts += 1
        self._last_pts = pts
        return pts

    def _default_duration(self) -> int:
        rate = self.info.rate
        return max(1, round(1 / (rate * self.info.time_base))) if rate else 1

    def batches(self, batch_size: int) -> Iterator[Frames]:
        pixels: list = []  # RGB arrays, or (Y, U, V) planes on the YUV path
        alphas: list[np.ndarray] = []
        pts: list[int] = []
        durations: list[int] = []

        def batch() -> Frames:
            first = self.report.frames - len(pixels)
            if self.yuv is not None:
                return planes_batch(pixels, pts, durations, self.info.time_base, first, self.yuv)
            return FrameBatch(np.stack(pixels), pts[:], durations[:], self.info.time_base, first,
                              np.stack(alphas) if alphas else None)

        # each frame with its (pts, duration), read before bwdif if it runs (it hands frames out one late)
        stamped = ((f, (self._timestamp(f), f.duration or self._default_duration())) for f in self.frames())
        for frame, (stamp, duration) in deinterlaced(stamped, self.deinterlace, self.path):
            if frame.width != self.info.width or frame.height != self.info.height:
                raise InputError(
                    f"{self.path}: frame size changes mid-stream ({self.info.width}x{self.info.height} -> "
                    f"{frame.width}x{frame.height}), which is not supported"
                )
            if self.yuv is not None:
                pixels.append(read_planes(frame, self.yuv))
            else:
                pixels.append(frame.to_ndarray(format=self.rgb_format, **self._src_color))
            if self.alpha:
                alphas.append(read_alpha(frame, self.info.high_bit_depth))
            pts.append(stamp)
            durations.append(duration)
            self.report.frames += 1
            if len(pixels) == batch_size:
                yield batch()
                pixels, alphas, pts, durations = [], [], [], []
        if pixels:
            yield batch()
        self._finish_report()

    def _finish_report(self) -> None:
        seg, r = self.segment, self.report
        if r.corrupt_packets:
            r.warnings.append(f"{self.path}: {r.corrupt_packets} damaged video packet(s) in segment {seg.index} were skipped")
        if r.repaired_pts:
            r.warnings.append(
                f"{self.path}: {r.repaired_pts} frame(s) had a missing or non-increasing timestamp; each got the next free one"
            )
        if r.frames == 0:
            raise InputError(f"{self.path}: segment {seg.index} (pts {seg.first_pts}..{seg.last_pts}) has no decodable frame")
        if r.frames != seg.frames and not r.corrupt_packets:
            r.warnings.append(f"{self.path}: segment {seg.index} decoded {r.frames} frame(s), the index lists {seg.frames}")


class SegmentWriter:
    """Encode upscaled batches (RGB, or planes on the YUV path) into one NUT file with a fresh encoder (video only,
    source time base)."""

    def __init__(self, path: Path, plan: OutputPlan, info: VideoInfo, *, threads: int = 0) -> None:
        self.path = path
        self.plan = plan
        self.frames = 0
        try:
            # disabled: the muxer would otherwise shift every pts so that B-frame dts are not negative
            self.out = av.open(str(path), "w", format=SEGMENT_FORMAT, options={"avoid_negative_ts": "disabled"})
        except (av.error.FFmpegError, OSError) as error:
            raise OutputError(f"{path}: cannot be written ({describe_error(error)})") from error
        try:
            stream = cast(
                VideoStream,
                self.out.add_stream(plan.codec, rate=info.rate or 25, time_base=info.time_base, options=dict(plan.options)),
            )
            ctx = stream.codec_context
            ctx.width, ctx.height, ctx.pix_fmt = plan.width, plan.height, plan.pix_fmt
            ctx.time_base = info.time_base
            ctx.thread_count = threads
            ctx.colorspace, ctx.color_range = plan.color.matrix, plan.color.range
            ctx.color_primaries, ctx.color_trc = plan.color.primaries, plan.color.trc
            if info.sample_aspect_ratio:
                ctx.sample_aspect_ratio = info.sample_aspect_ratio
            self.video = stream
        except BaseException:
            self.abort()
            raise

    def write(self, batch: Frames) -> None:
        try:
            for frame in to_output_frames(batch, self.plan.pix_fmt, self.plan.color):
                self.out.mux(self.video.encode(frame))
                self.frames += 1
        except av.error.FFmpegError as error:
            raise OutputError(f"{self.path}: writing failed ({describe_error(error)})") from error

    def finish(self) -> None:
        try:
            self.out.mux(self.video.encode(None))
            self.out.close()
        except av.error.FFmpegError as error:
            self.abort()
            raise OutputError(f"{self.path}: finishing the segment failed ({describe_error(error)})") from error

    def abort(self) -> None:
        try:
            self.out.close()
        except Exception:  # the file is being thrown away; its close error does not matter
            pass


@dataclass(frozen=True)
class SegmentFacts:
    """What a finished segment file holds, read back from the file itself."""

    frames: int
    first_pts: int
    last_pts: int
    size: int
    sha256: str
    extradata_sha256: str


def segment_pts(container: av.container.InputContainer, stream: av.stream.Stream, path: Path) -> list[int]:
    """pts of a segment file's packets in decode order; every packet must have one."""
    pts = [p.pts for p in container.demux(stream) if p.size]
    found = [p for p in pts if p is not None]
    if not found or len(found) != len(pts):
        raise OutputError(f"{path}: segment file has no frames or frames without timestamps")
    return found


def read_segment_facts(path: Path, time_base: Fraction) -> SegmentFacts:
    """Demux a segment file (no decoding): its packet count, first/last pts in `time_base`, size and hashes.

    NUT may store the stream in a finer time base than the source's; pts are converted back exactly.
    """
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            extradata = bytes(stream.codec_context.extradata or b"")
            stored = stream_time_base(stream)
            pts = segment_pts(container, stream, path)
    except (av.error.FFmpegError, IndexError) as error:
        raise OutputError(f"{path}: segment file cannot be read back ({describe_error(error)})") from error
    first, last = (min(pts) * stored / time_base, max(pts) * stored / time_base)
    if first.denominator != 1 or last.denominator != 1:
        raise OutputError(f"{path}: segment timestamps do not map back to the source's time base {time_base}")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return SegmentFacts(
        len(pts), int(first), int(last), path.stat().st_size, digest.hexdigest(), hashlib.sha256(extradata).hexdigest()
    )


def verify_segment_file(path: Path, time_base: Fraction, frames: int, first_pts: int, last_pts: int) -> SegmentFacts:
    """Read the file back and check it holds exactly the frames that were encoded."""
    facts = read_segment_facts(path, time_base)
    if (facts.frames, facts.first_pts, facts.last_pts) != (frames, first_pts, last_pts):
        raise OutputError(
            f"{path}: segment check failed: holds {facts.frames} frames, pts {facts.first_pts}..{facts.last_pts}; "
            f"encoded {frames}, pts {first_pts}..{last_pts}"
        )
    return facts
