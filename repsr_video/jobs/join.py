"""Join finished segments into the output with one remux pass (no re-encoding).

Video: the segments' packets in order, pts as the segments hold them (the source's), checked strictly
increasing across boundaries; codec headers (extradata) of all segments checked equal. Each segment's
encoder started with its own decode delay, so dts are rebuilt for the whole stream the way one encoder
would have set them: the dts of the j-th packet is the j-th smallest pts, `delay` packets later
(delay = the largest reorder depth seen in any segment). That makes dts strictly increasing, never
above pts, and independent of where the cuts are.

Every other stream (audio, subtitles, attachments, data) is copied once from the source, packet by
packet, with chapters and metadata; with a time range, packets outside it are left out and all
timestamps are shifted so the output starts at 0, as FFmpeg does with -ss/-t.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error

from repsr_video.decoder import open_input, pick_video_stream
from repsr_video.errors import OutputError, describe_error
from repsr_video.frames import VideoInfo
from repsr_video.jobs.index import stream_time_base
from repsr_video.jobs.segment import segment_pts
from repsr_video.output_plan import EncodeSettings, OutputPlan, plan_output
from repsr_video.pyav_encoder import add_copied_stream
from repsr_video.stream_convert import Converter, open_converter
from repsr_video.streams import container_tags, video_tags


@dataclass(frozen=True)
class Window:
    """The part of the source the output covers, in seconds of the source's clock (None: unbounded)."""

    start: Fraction | None = None
    end: Fraction | None = None
    shift: Fraction = Fraction(0)  # subtracted from every timestamp (the output's time 0)

    def keeps(self, t: Fraction) -> bool:
        return (self.start is None or t >= self.start) and (self.end is None or t < self.end)


@dataclass
class JoinReport:
    video_packets: int = 0
    copied_packets: int = 0
    streams: list[str] = field(default_factory=list)  # "video libx264", "audio aac", ...
    delay: int = 0



def _segment_timeline(files: list[Path]) -> tuple[list[int], int, Fraction]:
    """All pts in presentation order, the decode delay and the segments' common time base.

    Checks that every segment has the first one's codec header and time base, and that each starts
    after the previous one ends."""
    all_pts: list[int] = []
    delay, extradata, time_base = 0, None, None
    previous_last = None
    for path in files:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            data = bytes(stream.codec_context.extradata or b"")
            tb = stream_time_base(stream)
            pts = segment_pts(container, stream, path)
        if extradata is None:
            extradata, time_base = data, tb
        elif data != extradata or tb != time_base:
            raise OutputError(
                f"{path}: its codec header differs from the first segment's; the segments cannot be joined "
                "(run again with --restart)"
            )
        rank = {p: r for r, p in enumerate(sorted(pts))}
        delay = max(delay, max(i - rank[p] for i, p in enumerate(pts)))
        if previous_last is not None and min(pts) <= previous_last:
            raise OutputError(f"{path}: its first pts {min(pts)} is not after the previous segment's last pts {previous_last}")
        previous_last = max(pts)
        all_pts.extend(sorted(pts))
    assert time_base is not None  # files is not empty
    return all_pts, delay, time_base


def _decode_timestamps(all_pts: list[int], delay: int) -> list[int]:
    """dts of the j-th packet: the (j - delay)-th pts; before that, earlier by the first frame interval."""
    step = max(1, all_pts[1] - all_pts[0]) if len(all_pts) > 1 else 1
    return [all_pts[j - delay] if j >= delay else all_pts[0] - (delay - j) * step for j in range(len(all_pts))]


def _codec_name(stream) -> str:
    return stream.codec_context.name if stream.codec_context else getattr(stream, "codec_name", None) or stream.type


def plan_with_streams(source_path: Path, info: VideoInfo, scale: int, output: Path, encode: EncodeSettings) -> OutputPlan:
    """The output plan, with a choice (copy, convert, leave out) for each other stream of the source."""
    with open_input(source_path) as source:
        video = pick_video_stream(source, source_path)
        return plan_output(info, scale, output, encode, [s for s in source.streams if s is not video])


class _Joiner:
    def __init__(self, out: av.container.OutputContainer, source: av.container.InputContainer, window: Window) -> None:
        self.out, self.source, self.window = out, source, window
        self.report = JoinReport()
        self.converters: dict[int, Converter] = {}

    def add_video(self, template, info: VideoInfo, plan: OutputPlan, source_video) -> av.stream.Stream:
        stream = self.out.add_stream_from_template(template, opaque=True)
        ctx = stream.codec_context
        ctx.colorspace, ctx.color_range = plan.color.matrix, plan.color.range
        ctx.color_primaries, ctx.color_trc = plan.color.primaries, plan.color.trc
        if info.sample_aspect_ratio:
            ctx.sample_aspect_ratio = info.sample_aspect_ratio
            stream.sample_aspect_ratio = info.sample_aspect_ratio
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        stream.metadata.update(video_tags(source_video.metadata, plan.container_format, plan.alpha))
        stream.disposition = source_video.disposition
        self.report.streams.append(f"video {plan.codec}")
        return stream

    def add_copies(self, copied: list, plan: OutputPlan, video: av.stream.Stream) -> dict[int, av.stream.Stream]:
        """Streams to copy (returned by input index); converted ones go to self.converters (repsr_video.streams)."""
        by_index = {s.index: s for s in copied}
        mapping = {}
        for choice in plan.streams:
            in_stream = by_index[choice.index]
            if choice.action == "copy":
                mapping[in_stream.index] = add_copied_stream(self.out, in_stream)
                self.report.streams.append(f"{in_stream.type} {_codec_name(in_stream)}")
            elif choice.action == "convert" and choice.target:
                self.converters[in_stream.index] = open_converter(in_stream, self.out, choice.target)
                self.report.streams.append(f"{in_stream.type} {_codec_name(in_stream)} -> {choice.target}")
            elif choice.action == "timecode" and "timecode" not in video.metadata:
                video.metadata["timecode"] = in_stream.metadata["timecode"]  # .mov/.mp4 rebuild the track
        return mapping

    def add_chapters_and_metadata(self) -> None:
        chapters = []
        for c in self.source.chapters():
            tb = Fraction(c["time_base"] or 1)
            start, end = c["start"] * tb, c["end"] * tb
            if (self.window.end is not None and start >= self.window.end) or (
                self.window.start is not None and end <= self.window.start
            ):
                continue
            lo = max(start, self.window.start) if self.window.start is not None else start
            hi = min(end, self.window.end) if self.window.end is not None else end
            chapters.append({**c, "start": round((lo - self.window.shift) / tb), "end": round((hi - self.window.shift) / tb)})
        if chapters:
            self.out.set_chapters(chapters)  # type: ignore[arg-type]
        self.out.metadata.update(container_tags(self.source.metadata))


def _video_packets(files: list[Path], dts: list[int], shift: int) -> Iterator[tuple[Fraction, int, av.Packet]]:
    j = 0
    for path in files:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if not packet.size or packet.pts is None:  # (segment_pts checked that every packet has a pts)
                    continue
                packet.pts, packet.dts = packet.pts - shift, dts[j] - shift
                j += 1
                yield packet.dts * packet.time_base, 0, packet


def _copied_packets(
    source: av.container.InputContainer, streams: list, window: Window
) -> Iterator[tuple[Fraction, int, av.Packet]]:
    if not streams:
        return
    for packet in source.demux(streams):
        if not packet.size or packet.time_base is None:
            continue
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is not None and not window.keeps(stamp * packet.time_base):
            continue
        if window.shift:
            offset = round(window.shift / packet.time_base)
            packet.pts = None if packet.pts is None else packet.pts - offset
            packet.dts = None if packet.dts is None else packet.dts - offset
        key = (packet.dts if packet.dts is not None else stamp or 0) * packet.time_base
        yield key, 1, packet


def join_segments(
    files: list[Path], source_path: Path, output: Path, plan: OutputPlan, info: VideoInfo, window: Window = Window()
) -> JoinReport:
    """Write `output` (container `plan.container_format`) from the segment files and the source's other streams."""
    if not files:
        raise OutputError(f"{plan.path}: nothing to join")
    all_pts, delay, time_base = _segment_timeline(files)
    dts = _decode_timestamps(all_pts, delay)
    shift_ticks = round(window.shift / time_base)
    with open_input(source_path) as source, av.open(str(files[0])) as first:
        source_video = pick_video_stream(source, source_path)
        copied = [s for s in source.streams if s is not source_video]
        try:
            out = av.open(str(output), "w", format=plan.container_format)
        except (av.error.FFmpegError, OSError) as error:
            raise OutputError(f"{plan.path}: cannot be written ({describe_error(error)})") from error
        joiner = _Joiner(out, source, window)
        try:
            video = joiner.add_video(first.streams.video[0], info, plan, source_video)
            mapping = joiner.add_copies(copied, plan, video)
            joiner.add_chapters_and_metadata()
            merged = heapq.merge(
                _video_packets(files, dts, shift_ticks), _copied_packets(source, copied, window), key=lambda t: (t[0], t[1])
            )
            for _, kind, packet in merged:
                if kind == 1 and packet.stream.index in joiner.converters:
                    out.mux(joiner.converters[packet.stream.index].convert(packet))
                    continue
                if kind == 1 and packet.stream.index not in mapping:  # left out (the plan's notes say so)
                    continue
                packet.stream = video if kind == 0 else mapping[packet.stream.index]
                out.mux(packet)
                if kind == 0:
                    joiner.report.video_packets += 1
                else:
                    joiner.report.copied_packets += 1
            for converter in joiner.converters.values():
                out.mux(converter.flush())
            out.close()
        except av.error.FFmpegError as error:
            _close_quietly(out)
            raise OutputError(f"{plan.path}: joining the segments failed ({describe_error(error)})") from error
        except BaseException:
            _close_quietly(out)
            raise
    joiner.report.delay = delay
    return joiner.report


def _close_quietly(out) -> None:
    try:
        out.close()
    except Exception:  # the file is being thrown away
        pass
