"""What happens to every stream besides the upscaled video: copied, converted, or left out (with a note).

FFmpeg's habit, decided once before anything is written:
- a stream the output container holds (and, for .mp4/.mov/.webm, that common players play) is copied
  packet for packet;
- audio it cannot hold is converted to the container's natural codec (AAC in .mp4/.mov, Opus in .webm
  and .mkv); text subtitles to mov_text (.mp4/.mov), WebVTT (.webm) or SubRip (.mkv);
- a QuickTime timecode track is left out; in .mkv its start is kept as the video's `timecode` tag (ffmpeg
  would rebuild the track in .mov/.mp4 from that tag, which needs a stream frame rate PyAV cannot set on a
  copied stream); other data streams, attachments outside Matroska and picture subtitles that cannot be
  held are left out;
- `--audio-codec` / `--subtitle-codec` force a codec (or `copy`), `-an` / `-sn` / `-dn` leave a kind out.
Every conversion or omission the user did not ask for gives one note line naming the stream and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import av

from repsr_video.errors import OutputError

Action = Literal["copy", "convert", "drop", "timecode"]

NATURAL_AUDIO = {"mp4": "aac", "mov": "aac", "webm": "libopus", "matroska": "libopus"}
NATURAL_SUBTITLE = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt", "matroska": "srt"}
# Audio copied into .mp4/.mov/.webm only when players decode it there; anything else is converted.
PLAYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "alac", "flac", "opus"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_f32le", "pcm_u8"},
    "webm": {"opus", "vorbis"},
}
SUBTITLES_HELD = {"mp4": {"mov_text"}, "mov": {"mov_text"}, "webm": {"webvtt"}}
TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"}
CODEC_ALIASES = {"opus": "libopus", "vorbis": "libvorbis", "mp3": "libmp3lame", "subrip": "srt", "vtt": "webvtt"}


@dataclass(frozen=True)
class StreamSettings:
    """What the user asked for the other streams; None/"copy" means copy where the container allows."""

    audio_codec: str | None = None
    subtitle_codec: str | None = None
    no_audio: bool = False
    no_subtitles: bool = False
    no_data: bool = False


@dataclass(frozen=True)
class StreamPlan:
    index: int  # in the input
    kind: str  # audio, subtitle, data, attachment
    codec: str  # the input's codec name
    action: Action
    target: str | None = None  # encoder name when converted
    note: str | None = None


def codec_name(stream: av.stream.Stream) -> str:
    """The codec's FFmpeg name (mp3, not the decoder's mp3float), which muxers' codec lists use."""
    ctx = stream.codec_context
    if ctx is not None:
        return ctx.codec.canonical_name
    return getattr(stream, "codec_name", None) or stream.type


def _audio_held(fmt: str, codec: str, accepted: set[str]) -> bool:
    return codec in accepted and (fmt not in PLAYABLE_AUDIO or codec in PLAYABLE_AUDIO[fmt])


def _encoder(name: str, kind: str, fmt: str, accepted: set[str]) -> str:
    """The encoder for a --audio-codec/--subtitle-codec value, checked against the container."""
    name = CODEC_ALIASES.get(name, name)
    try:
        codec = av.Codec(name, "w")
    except (ValueError, av.error.FFmpegError):
        raise OutputError(f"unknown {kind} encoder {name!r}") from None
    if codec.type != kind:
        raise OutputError(f"{name} is a {codec.type} encoder, not a {kind} encoder")
    if codec.canonical_name not in accepted:
        raise OutputError(f"the {fmt} container cannot hold {codec.canonical_name} {kind}; choose another --{kind}-codec")
    return name


def _audio(stream, fmt: str, accepted: set[str], settings: StreamSettings, label: str) -> StreamPlan:
    codec = codec_name(stream)
    if settings.no_audio:
        return StreamPlan(stream.index, "audio", codec, "drop")
    if settings.audio_codec is not None and settings.audio_codec != "copy":
        return StreamPlan(stream.index, "audio", codec, "convert", _encoder(settings.audio_codec, "audio", fmt, accepted))
    if _audio_held(fmt, codec, accepted):
        return StreamPlan(stream.index, "audio", codec, "copy")
    if settings.audio_codec == "copy":
        raise OutputError(f"{label} ({codec} audio) cannot be copied into {fmt}; drop --audio-codec copy or use .mkv")
    target = NATURAL_AUDIO[fmt]
    note = (f"{label}: {codec} audio cannot go into {fmt} as it is; converting it to {target.removeprefix('lib')} "
            "(--audio-codec NAME to choose, -an to leave audio out)")
    return StreamPlan(stream.index, "audio", codec, "convert", target, note)


def _subtitle(stream, fmt: str, accepted: set[str], settings: StreamSettings, label: str) -> StreamPlan:
    codec = codec_name(stream)
    if settings.no_subtitles:
        return StreamPlan(stream.index, "subtitle", codec, "drop")
    if settings.subtitle_codec not in (None, "copy"):
        target = _encoder(settings.subtitle_codec, "subtitle", fmt, accepted)
        if codec not in TEXT_SUBTITLES:
            raise OutputError(f"{label} ({codec}) holds pictures, which cannot be converted to {target}; use -sn or .mkv")
        return StreamPlan(stream.index, "subtitle", codec, "convert", target)
    if codec in accepted and (fmt not in SUBTITLES_HELD or codec in SUBTITLES_HELD[fmt]):
        return StreamPlan(stream.index, "subtitle", codec, "copy")
    if settings.subtitle_codec == "copy":
        raise OutputError(f"{label} ({codec} subtitles) cannot be copied into {fmt}; drop --subtitle-codec copy or use .mkv")
    if codec in TEXT_SUBTITLES:
        target = NATURAL_SUBTITLE[fmt]
        note = (f"{label}: {codec} subtitles cannot go into {fmt}; converting them to {target} "
                "(--subtitle-codec NAME to choose, -sn to leave them out)")
        return StreamPlan(stream.index, "subtitle", codec, "convert", target, note)
    note = f"{label}: {codec} subtitles (pictures) cannot go into {fmt} and are left out; use .mkv to keep them"
    return StreamPlan(stream.index, "subtitle", codec, "drop", note=note)


def _other(stream, fmt: str, settings: StreamSettings, label: str) -> StreamPlan:
    codec = codec_name(stream)
    if stream.type == "attachment":
        if fmt == "matroska":
            return StreamPlan(stream.index, "attachment", codec, "copy")
        note = f"{label}: attachment ({codec}) left out: only .mkv holds attachments"
        return StreamPlan(stream.index, "attachment", codec, "drop", note=note)
    if settings.no_data:
        return StreamPlan(stream.index, stream.type, codec, "drop")
    timecode = stream.metadata.get("timecode")
    if stream.type == "data" and timecode:
        if fmt == "matroska":
            note = f"{label}: timecode track left out (Matroska has none); its start {timecode} is kept as the video's tag"
            return StreamPlan(stream.index, "data", codec, "timecode", note=note)
        # .mov/.mp4 would rebuild a timecode track from a video tag, but need a stream frame rate PyAV cannot set
        note = f"{label}: timecode track ({timecode}) left out: it is not rebuilt in .{fmt}; .mkv keeps it as a tag"
        return StreamPlan(stream.index, "data", codec, "drop", note=note)
    note = f"{label}: {stream.type} stream ({codec}) left out: {fmt} cannot hold it (-dn leaves data out quietly)"
    return StreamPlan(stream.index, stream.type, codec, "drop", note=note)


_CONTAINER_TAGS_SKIPPED = {"encoder", "major_brand", "minor_version", "compatible_brands"}  # the muxer's own


def container_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The input file's tags for the output file, less those its muxer writes itself."""
    return {k: v for k, v in tags.items() if k.lower() not in _CONTAINER_TAGS_SKIPPED}


# Tags of the input video that describe its encoding, not the upscaled stream (the muxer writes its own).
_VIDEO_TAGS_SKIPPED = {"encoder", "duration", "bps", "number_of_frames", "number_of_bytes", "_statistics_writing_app",
                       "_statistics_writing_date_utc", "_statistics_tags", "vendor_id"}


def video_tags(tags: Mapping[str, str], fmt: str, alpha: bool) -> dict[str, str]:
    """The input video's tags for the output video: none that describe the input's encoding; no timecode
    in .mov/.mp4, where the muxer would build a timecode track that a copied stream's missing frame rate
    makes fail; and WebM's alpha_mode only when the output keeps the alpha (`alpha`), so an opaque output
    does not claim an alpha channel."""
    drop = _VIDEO_TAGS_SKIPPED | ({"timecode"} if fmt in ("mov", "mp4") else set()) | (set() if alpha else {"alpha_mode"})
    return {k: v for k, v in tags.items() if k.lower() not in drop}


def plan_streams(streams: Iterable[av.stream.Stream], fmt: str, accepted: set[str], settings: StreamSettings) -> list[StreamPlan]:
    """One StreamPlan per stream (video excluded by the caller), in input order.

    `fmt` is the output's FFmpeg format name and `accepted` the codec names its muxer takes.
    """
    plans = []
    for stream in streams:
        label = f"stream #{stream.index}"
        if stream.type == "audio":
            plans.append(_audio(stream, fmt, accepted, settings, label))
        elif stream.type == "subtitle":
            plans.append(_subtitle(stream, fmt, accepted, settings, label))
        else:
            plans.append(_other(stream, fmt, settings, label))
    return plans
