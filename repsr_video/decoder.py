"""Streaming decode of one video stream to RGB batches, with the other streams' packets passed along.

One demux pass reads every stream: the video stream is decoded (threaded) and converted to RGB with the
colour matrix and range read from the input; packets of audio, subtitle and other streams are handed on
untouched, in demux order, so the encoder can copy them. Nothing is held beyond the current batch.

The colour matrix and range (and the policy for untagged input) come from repsr_video.colour.

Timestamps are FFmpeg's best-effort ones (repsr_video.timestamps), so a file without pts (AVI with
B-frames) keeps the times ffmpeg and ffprobe show. Interlaced input is upscaled as progressive pictures
unless the caller sets `deinterlace` (the output plan's bwdif mode, repsr_video.deinterlace): frames then
pass through bwdif, one out per frame in, keeping the timestamps read here. Alpha is read only when the
caller sets `keep_alpha` (the output plan keeps it): each FrameBatch then carries the alpha plane beside
the RGB, which is converted exactly as without it. VP8/VP9 alpha lives in packet side data that only the
libvpx decoders read: `video_codec_context` picks the decoder, here and for the segments. When the caller
sets `yuv_layout` (the YUV path, repsr_video/yuv_path.py), frames are not converted: each batch is a
YuvFrameBatch of the decoded 4:2:0 planes, with the same timestamps.

Damaged input: packets the decoder rejects are skipped and counted, a demux error ends the stream early
(truncated file); every frame that decodes is kept and the report says how many packets were lost. A
file with no decodable frame at all is an error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, cast

import av
import av.error
import numpy as np
from av.codec.codec import UnknownCodecError

from repsr_video.alpha import read_alpha
from repsr_video.colour import AVCOL_SPC_UNSPECIFIED, bit_depth, conversion_args, resolve_color, rgb_format
from repsr_video.deinterlace import deinterlaced
from repsr_video.errors import InputError, describe_error
from repsr_video.frames import DecodeReport, FrameBatch, Frames, PacketGroup, VideoInfo
from repsr_video.timestamps import BestEffortClock, stores_pts
from repsr_video.yuv_layout import YuvLayout
from repsr_video.yuv_path import planes_batch, read_planes

if TYPE_CHECKING:
    from av.container.core import Chapter  # a TypedDict of PyAV's stubs only

_PACKETS_PER_GROUP = 64  # copied packets are forwarded in groups of at most this many


def open_input(path: str | Path) -> av.container.InputContainer:
    """Open a media file, turning every failure into a one-line InputError naming it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a video file")
    try:
        return av.open(str(path), "r")
    except av.error.EOFError as error:
        raise InputError(f"{path}: is empty or ends before any media data") from error
    except av.error.FFmpegError as error:
        raise InputError(f"{path}: not a media file FFmpeg can read ({describe_error(error)})") from error
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot be opened ({describe_error(error)})") from error


def pick_video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first real video stream (cover art, i.e. attached pictures, is copied, not upscaled)."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    kinds: list[str] = sorted({s.type for s in container.streams}) or ["no streams"]
    raise InputError(f"{path}: has no video stream (found: {', '.join(kinds)})")


# VP8/VP9 keep alpha as a second bitstream in Matroska BlockAdditional side data, and tag the stream
# alpha_mode=1. FFmpeg's native vp8/vp9 decoders ignore it; its libvpx wrappers decode it (yuva420p).
_SIDE_DATA_ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
# What a demuxer's own decoder context gets from the stream (avcodec_parameters_to_context) that libvpx
# does not read from the bitstream: the colour tags (primaries and transfer are container-only in VP9).
_STREAM_PARAMETERS = ("width", "height", "colorspace", "color_range", "color_primaries", "color_trc", "extradata")


def _tagged_alpha(stream: av.stream.Stream) -> bool:
    # Matroska tag names are case-insensitive: FFmpeg writes alpha_mode, a copy of the tag may read ALPHA_MODE
    return any(key.lower() == "alpha_mode" and str(value).strip() == "1" for key, value in stream.metadata.items())


def video_codec_context(stream: av.video.stream.VideoStream) -> tuple[av.VideoCodecContext, str | None]:
    """The decoder of `stream`, and a note when it cannot read all of it. Every reader of the video uses this.

    VP8/VP9 tagged alpha_mode=1 get FFmpeg's libvpx decoder, set up with the stream's parameters; a build
    without libvpx keeps the native one, and the note says the alpha is not read. Others keep the stream's own.
    """
    own = stream.codec_context
    name = _SIDE_DATA_ALPHA_DECODERS.get(own.codec.canonical_name)
    if name is None or name == own.name or not _tagged_alpha(stream):
        return own, None
    try:
        ctx = cast(av.VideoCodecContext, av.CodecContext.create(name, "r"))
    except (UnknownCodecError, av.error.FFmpegError, ValueError):
        return own, (f"the {own.codec.canonical_name.upper()} video has alpha (alpha_mode=1), but this FFmpeg build "
                     f"has no {name} decoder to read it: it is read as opaque")
    for attribute in _STREAM_PARAMETERS:
        value = getattr(own, attribute)
        if value is not None:
            setattr(ctx, attribute, value)
    return ctx, None


@dataclass(frozen=True)
class Source:
    """What an encoder takes from the input besides the upscaled frames; fixed when the input opens.

    `copied` is decided once, by the decoder's `copy_streams`: the decoder hands on the packets of
    exactly these streams, and the encoder copies, converts or leaves out each one as the output plan's
    stream policy says (repsr_video/streams.py), whether it muxes the packets itself (PyAV) or has
    ffmpeg read them from `path` again.
    """

    path: Path
    info: VideoInfo
    video: av.video.stream.VideoStream  # its tags and disposition go to the output's video stream
    copied: tuple[av.stream.Stream, ...]  # every other stream, or none
    chapters: tuple[Chapter, ...]
    metadata: dict[str, str]  # container tags


class VideoDecoder:
    """Decode the video stream of `path` into FrameBatch items; other streams' packets come as PacketGroup.

    Opening reads up to the first frame, so `info` (size, colour, rotation) is known before any output
    is created, and a file with no frame fails here. `copy_streams` says whether the other streams are
    handed on (all of them, for the stream policy to copy, convert or leave out) or none; `source` is
    what the encoder needs. Use as a context manager.
    """

    def __init__(self, path: str | Path, *, copy_streams: bool = True) -> None:
        self.path = Path(path)
        self.report = DecodeReport()
        self.container = open_input(self.path)
        try:
            self.stream = pick_video_stream(self.container, self.path)
            others = (s for s in self.container.streams if s is not self.stream)
            self.copied_streams: tuple[av.stream.Stream, ...] = tuple(others) if copy_streams else ()
            self.codec, self._codec_note = video_codec_context(self.stream)
            self.codec.thread_type = "AUTO"  # frame + slice threads; drained at the end
            if self.stream.time_base is None:  # demuxers always set one; a file without is unusable
                raise InputError(f"{self.path}: the video stream has no time base")
            self.time_base = Fraction(self.stream.time_base)
            self._clock = BestEffortClock(self._default_duration(), trust_pts=stores_pts(self.container.format.name))
            self._pending: deque = deque()
            self._items = self._demux_decode()
            first = self._peek_first_frame()
            self.info = self._read_info(first)
            self.source = Source(self.path, self.info, self.stream, self.copied_streams,
                                 tuple(self.container.chapters()), dict(self.container.metadata))
            self._src_color = conversion_args(self.info.color, "src")
            self.rgb_format = rgb_format(self.info.high_bit_depth)
            self.keep_alpha = False  # set by the caller when the output plan keeps the input's alpha
            self.deinterlace: str | None = None  # bwdif's deint value, set by the caller from the output plan
            self.yuv_layout: YuvLayout | None = None  # set by the caller when the run takes the YUV path
        except BaseException:
            self.container.close()
            raise

    # --- context manager -----------------------------------------------------------------------

    def __enter__(self) -> VideoDecoder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    # --- reading -----------------------------------------------------------------------------------

    def _default_duration(self) -> int:
        rate = self.stream.guessed_rate or self.stream.average_rate
        if not rate:
            return 1
        return max(1, round(1 / (Fraction(rate) * self.time_base)))

    def _demux_decode(self) -> Iterator:
        """Yield av.VideoFrame and av.Packet (copied streams) in demux order, then the drained frames."""
        streams = [self.stream, *self.copied_streams]
        try:
            for packet in self.container.demux(streams):
                if packet.size == 0:  # demux's flush packets and Ogg/Theora "repeat" packets: no data
                    continue
                if packet.stream is not self.stream:
                    yield packet
                    continue
                try:
                    frames = self.codec.decode(packet)
                except (av.error.FFmpegError, ValueError):
                    self.report.corrupt_packets += 1
                    continue
                yield from frames
        except av.error.FFmpegError as error:
            self.report.truncated = True
            self.report.warnings.append(
                f"{self.path}: reading stopped early ({describe_error(error)}); the file looks truncated or damaged"
            )
        try:
            yield from self.codec.decode(None)  # drain (frame threads hold frames back)
        except (av.error.FFmpegError, ValueError):
            self.report.corrupt_packets += 1

    def _peek_first_frame(self) -> av.VideoFrame:
        for item in self._items:
            self._pending.append(item)
            if isinstance(item, av.VideoFrame):
                return item
        raise InputError(f"{self.path}: contains no decodable video frame")

    def _read_info(self, first: av.VideoFrame) -> VideoInfo:
        ctx = self.stream.codec_context
        pix_fmt = first.format.name
        color = resolve_color(
            pix_fmt,
            first.width,
            first.height,
            first.colorspace if first.colorspace != AVCOL_SPC_UNSPECIFIED else ctx.colorspace,
            first.color_range or ctx.color_range,
            first.color_primaries or ctx.color_primaries,
            first.color_trc or ctx.color_trc,
        )
        rate = self.stream.guessed_rate or self.stream.average_rate
        return VideoInfo(
            path=str(self.path),
            stream_index=self.stream.index,
            codec=ctx.name,
            width=first.width,
            height=first.height,
            pix_fmt=pix_fmt,
            bit_depth=bit_depth(pix_fmt),
            time_base=self.time_base,
            rate=Fraction(rate) if rate else None,
            frame_count=self._estimate_frames(rate),
            rotation=int(first.rotation or 0),
            color=color,
            sample_aspect_ratio=Fraction(ctx.sample_aspect_ratio) if ctx.sample_aspect_ratio else None,
            interlaced=bool(first.interlaced_frame),
            notes=(self._codec_note,) if self._codec_note else (),
        )

    def _estimate_frames(self, rate) -> int | None:
        if self.stream.frames:
            return int(self.stream.frames)
        if rate and self.stream.duration:
            return max(1, round(self.stream.duration * self.time_base * Fraction(rate)))
        if rate and self.container.duration:
            return max(1, round(Fraction(self.container.duration, av.time_base) * Fraction(rate)))
        return None

    def _read(self, frame: av.VideoFrame) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The frame as RGB, or as its planes on the YUV path."""
        if frame.width != self.info.width or frame.height != self.info.height:
            raise InputError(
                f"{self.path}: frame size changes mid-stream ({self.info.width}x{self.info.height} -> "
                f"{frame.width}x{frame.height}), which is not supported"
            )
        if self.yuv_layout is not None:
            return read_planes(frame, self.yuv_layout)
        return frame.to_ndarray(format=self.rgb_format, **self._src_color)

    def _timestamp(self, frame: av.VideoFrame) -> tuple[int, int]:
        """(pts, duration) in the stream time base: FFmpeg's best-effort timestamp, repaired where it has none."""
        stamp = self._clock.next(frame.pts, frame.dts, frame.duration)
        self.report.repaired_pts = self._clock.repaired
        return stamp

    def batches(self, batch_size: int) -> Iterator[Frames | PacketGroup]:
        """Yield FrameBatch (YuvFrameBatch on the YUV path) of up to `batch_size` frames and PacketGroup of
        copied packets, in order."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        pixels: list = []  # RGB arrays, or (Y, U, V) planes on the YUV path
        alphas: list[np.ndarray] = []
        pts: list[int] = []
        durations: list[int] = []
        packets: list = []

        def flush_frames() -> Frames:
            first = self.report.frames - len(pixels)
            batch: Frames
            if self.yuv_layout is not None:
                batch = planes_batch(pixels, pts, durations, self.time_base, first, self.yuv_layout)
            else:
                batch = FrameBatch(np.stack(pixels), list(pts), list(durations), self.time_base, first,
                                   np.stack(alphas) if alphas else None)
            pixels.clear()
            alphas.clear()
            pts.clear()
            durations.clear()
            return batch

        def source() -> Iterator:
            while self._pending:
                yield self._pending.popleft()
            yield from self._items

        # each frame with its (pts, duration), read before bwdif if it runs (it hands frames out one late)
        stamped = ((item, self._timestamp(item)) if isinstance(item, av.VideoFrame) else item for item in source())
        for item in deinterlaced(stamped, self.deinterlace, self.path):
            if isinstance(item, tuple):
                # copied packets that came before this frame go first, so order is kept
                if packets and not pixels:
                    yield PacketGroup(packets)
                    packets = []
                frame, (p, d) = item
                pixels.append(self._read(frame))
                if self.keep_alpha:
                    alphas.append(read_alpha(frame, self.info.high_bit_depth))
                pts.append(p)
                durations.append(d)
                self.report.frames += 1
                if len(pixels) == batch_size:
                    yield flush_frames()
            else:
                packets.append(item)
                if len(packets) >= _PACKETS_PER_GROUP:
                    if pixels:
                        yield flush_frames()
                    yield PacketGroup(packets)
                    packets = []
        if pixels:
            yield flush_frames()
        if packets:
            yield PacketGroup(packets)
        self._finish_report()

    def _finish_report(self) -> None:
        r = self.report
        if r.corrupt_packets:
            r.warnings.append(
                f"{self.path}: {r.corrupt_packets} damaged video packet(s) could not be decoded and were skipped; "
                f"kept {r.frames} frames"
            )
        if r.repaired_pts:
            r.warnings.append(
                f"{self.path}: {r.repaired_pts} frame(s) had no timestamp FFmpeg could read (or one going back) "
                "and were placed one frame after the previous"
            )
        if r.frames == 0:
            raise InputError(f"{self.path}: contains no decodable video frame")
        if not r.truncated and self._ends_early():
            r.truncated = True
            r.warnings.append(
                f"{self.path}: the video ends before the length its container states; the file looks truncated "
                f"(kept {r.frames} frames)"
            )

    def _ends_early(self) -> bool:
        if self.stream.frames and self.report.frames < self.stream.frames:
            return True
        stated = stated_seconds(self.container, self.stream, self.time_base)
        if stated is None or self._clock.previous is None:
            return False
        start = self.stream.start_time or 0
        decoded = (self._clock.previous - start + self._default_duration()) * self.time_base
        return falls_short(decoded, stated)


def falls_short(decoded: Fraction, stated: Fraction) -> bool:
    """Decoded video that stops well before the length its container states (by more than 0.5 s and 5 %):
    a truncated file. The whole-file decoder and the segment index share this rule."""
    return decoded < stated - max(Fraction(1, 2), stated / 20)


def stated_seconds(container: av.container.InputContainer, stream: av.stream.Stream, time_base: Fraction) -> Fraction | None:
    """The video length the container states (stream duration, Matroska DURATION tag, or file duration)."""
    if stream.duration:
        return stream.duration * time_base
    tag = stream.metadata.get("DURATION")
    if tag:
        try:
            h, m, sec = tag.split(":")
            return Fraction(int(h) * 3600 + int(m) * 60) + Fraction(sec)
        except ValueError:
            pass
    if container.duration:
        return Fraction(container.duration, av.time_base)
    return None
