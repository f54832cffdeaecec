"""Converting an audio or subtitle stream that the output container cannot hold (see streams.py).

Audio is decoded, resampled where the encoder needs it (Opus: 48 kHz) and encoded; the decoded frames keep
their timestamps, so the converted stream starts where the input's did. Text subtitles are converted
packet for packet (SubRip, ASS/SSA, mov_text, WebVTT in; mov_text, WebVTT, SubRip out): each cue keeps its
exact start and duration, only the text encoding changes; ASS styling is reduced to plain text.
"""

from __future__ import annotations

import re
import struct
from fractions import Fraction
from typing import cast

import av
import av.audio.stream
import av.error
import av.subtitles.stream

from repsr_video.errors import OutputError, describe_error

# The ASS header FFmpeg's text subtitle encoders need to open (what its decoders produce for plain text).
ASS_HEADER = (
    b"[Script Info]\r\nScriptType: v4.00+\r\nPlayResX: 384\r\nPlayResY: 288\r\n\r\n[V4+ Styles]\r\n"
    b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
    b"Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, "
    b"MarginV, Encoding\r\nStyle: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\r\n\r\n"
    b"[Events]\r\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\r\n"
)
SUBTITLE_TARGETS = ("mov_text", "webvtt", "srt")
_ASS_OVERRIDE = re.compile(r"\{[^}]*\}")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def subtitle_text(codec: str, data: bytes) -> str:
    """The plain text of one subtitle packet of `codec` as Matroska/MP4 store it."""
    if codec == "mov_text":
        (length,) = struct.unpack(">H", data[:2]) if len(data) >= 2 else (0,)
        return data[2 : 2 + length].decode("utf-8", "replace")
    text = data.decode("utf-8", "replace")
    if codec in ("ass", "ssa"):  # ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text
        text = text.split(",", 8)[-1]
        text = _ASS_OVERRIDE.sub("", text).replace("\\N", "\n").replace("\\n", "\n").replace("\\h", " ")
    return text.strip("\r\n")


def subtitle_payload(target: str, text: str) -> bytes:
    """One packet of `target` carrying `text` (tags kept for WebVTT/SubRip, which use the same ones)."""
    if target == "mov_text":
        raw = _TAG.sub("", text).encode("utf-8")
        return struct.pack(">H", len(raw)) + raw
    return text.encode("utf-8")


class SubtitleConverter:
    """Re-encodes the text of each packet of one subtitle stream into a new output stream."""

    def __init__(self, in_stream: av.stream.Stream, out: av.container.OutputContainer, target: str) -> None:
        if target not in SUBTITLE_TARGETS:
            raise OutputError(f"subtitles can be converted to {', '.join(SUBTITLE_TARGETS)}, not {target}")
        self.codec = in_stream.codec_context.name
        self.target = target
        self.stream = cast(av.subtitles.stream.SubtitleStream, out.add_stream(target))
        self.stream.codec_context.subtitle_header = ASS_HEADER
        self.stream.time_base = in_stream.time_base
        self.stream.metadata.update(in_stream.metadata)
        self.stream.disposition = in_stream.disposition

    def convert(self, packet: av.Packet) -> list[av.Packet]:
        text = subtitle_text(self.codec, bytes(packet))
        new = av.Packet(subtitle_payload(self.target, text))
        new.pts, new.dts, new.duration, new.time_base = packet.pts, packet.pts, packet.duration, packet.time_base
        new.stream = self.stream
        return [new]

    def flush(self) -> list[av.Packet]:
        return []


def _rate(codec: av.Codec, rate: int) -> int:
    rates = codec.audio_rates or ()
    if not rates or rate in rates:
        return rate
    return 48000 if 48000 in rates else max(rates)


class AudioConverter:
    """Decodes one audio stream and encodes it with `target`, keeping its timestamps."""

    def __init__(self, in_stream: av.audio.stream.AudioStream, out: av.container.OutputContainer, target: str) -> None:
        self.in_stream = in_stream
        ctx = in_stream.codec_context
        codec = av.Codec(target, "w")
        rate = _rate(codec, ctx.sample_rate or 48000)
        channels = ctx.layout.nb_channels if ctx.layout else 2  # a named layout: "1 channels" (AVI) opens no encoder
        layout = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(channels, "stereo")
        self.stream = cast(av.audio.stream.AudioStream, out.add_stream(target, rate=rate, layout=layout))
        self.stream.time_base = Fraction(1, rate)
        self.stream.metadata.update(in_stream.metadata)
        self.stream.disposition = in_stream.disposition

    def convert(self, packet: av.Packet) -> list[av.Packet]:
        try:
            frames = self.in_stream.decode(packet)
        except (av.error.FFmpegError, ValueError):
            return []  # a damaged audio packet: its samples are lost, as in ffmpeg
        return [p for frame in frames for p in self._encode(frame)]

    def flush(self) -> list[av.Packet]:
        try:
            frames = self.in_stream.decode(None)
        except (av.error.FFmpegError, ValueError):
            frames = []
        packets = [p for frame in frames for p in self._encode(frame)]
        return packets + list(self.stream.encode(None))

    def _encode(self, frame: av.AudioFrame) -> list[av.Packet]:
        if frame.time_base is None:  # drained frames (av 18.1) come without one
            frame.time_base = self.in_stream.time_base
        try:
            return list(self.stream.encode(frame))
        except av.error.FFmpegError as error:
            raise OutputError(f"converting audio stream #{self.in_stream.index} failed ({describe_error(error)})") from error


Converter = AudioConverter | SubtitleConverter


def open_converter(in_stream: av.stream.Stream, out: av.container.OutputContainer, target: str) -> Converter:
    """A converter writing a new stream of `out` from the packets of `in_stream` (audio or subtitles)."""
    if isinstance(in_stream, av.audio.stream.AudioStream):
        return AudioConverter(in_stream, out, target)
    return SubtitleConverter(in_stream, out, target)
