"""Decide how the output is written: container, codec, pixel format, codec options, colour tags.

Shared by the in-process PyAV encoder and the ffmpeg-process encoder. Every choice is checked up front
with a throwaway encoder (never the real stream: a stream whose open failed must not be retried), so a
bad --codec/--pix-fmt/--crf/--encoder-preset fails before any decoding starts.

Pixel format policy. .mkv and an explicit --pix-fmt keep the input's chroma layout (4:2:0, 4:2:2, 4:4:4;
RGB input -> 4:4:4) and bit depth (8, or 10 for >8-bit input), as far as the codec supports it.
.mp4/.mov/.webm are written for common players: 4:2:0, and 10 bits only where players decode it (HEVC
Main 10, AV1 Main, VP9 profile 2); 10-bit input with the default H.264 becomes 8-bit, because H.264 High 10
plays almost nowhere (browsers, phones, QuickTime), and H.264 stays the default because it plays everywhere.
Each such change is one note saying how to keep the source's layout. Output sizes that a subsampled layout
cannot carry (odd width or height, only possible with --scale 3) get the 4:4:4 variant, said in a note;
an explicit --pix-fmt that cannot carry the size is an error.

Alpha is kept when the input has it and the output can hold it: the alpha variant of the chosen format
(or the codec's closest format with alpha), e.g. ffv1 yuva420p in .mkv, png rgba; one note says it is
kept, or why it is dropped: a codec without alpha such as libx264, a --pix-fmt without alpha, --encoder
ffmpeg (fed opaque frames). libvpx/libvpx-vp9 keep alpha as packet side data, which the NUT segment
files drop, so such a video is written in one pass (repsr_video.jobs.video).

Interlaced input: `deinterlace` resolves --deinterlace to bwdif's mode for the decoder (repsr_video.deinterlace);
off, the frames are upscaled as progressive pictures and one note says how to deinterlace.

The other streams are planned here too (repsr_video.streams): copied, converted or left out, with notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.error
from av.codec.codec import UnknownCodecError

from repsr_video.alpha import alpha_pix_fmt, has_alpha
from repsr_video.choices import DEINTERLACE_MODES, ENCODERS, YUV_PATH_MODES, DeinterlaceMode, EncoderKind, YuvPathMode
from repsr_video.codec_limits import QUIET_OPTIONS, check_crf, check_preset
from repsr_video.colour import is_rgb_format, output_color
from repsr_video.deinterlace import bwdif_deint
from repsr_video.errors import OutputError, describe_error
from repsr_video.frames import ColorInfo, VideoInfo
from repsr_video.streams import StreamPlan, StreamSettings, plan_streams

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}
CODEC_ALIASES = {
    "h264": "libx264", "x264": "libx264", "avc": "libx264",
    "hevc": "libx265", "h265": "libx265", "x265": "libx265",
    "av1": "libsvtav1", "vp9": "libvpx-vp9", "vp8": "libvpx",
}
NVENC_FALLBACK = {"h264_nvenc": "libx264", "hevc_nvenc": "libx265", "av1_nvenc": "libsvtav1"}
PLAYER_FORMATS = ("mp4", "mov", "webm")  # outputs written for common players by default
TEN_BIT_PLAYABLE = {"libx265", "hevc_nvenc", "libsvtav1", "libaom-av1", "av1_nvenc", "libvpx-vp9"}
DEFAULT_CRF = {"libx264": 18, "libx265": 20, "libvpx-vp9": 30, "libvpx": 10, "libsvtav1": 30}


@dataclass(frozen=True)
class EncodeSettings:
    """What the user asked for; None means the default for the container / input."""

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    encoder: EncoderKind = "pyav"
    streams: StreamSettings = StreamSettings()
    deinterlace: DeinterlaceMode = "off"  # bwdif in the decoder (repsr_video.deinterlace)
    yuv_path: YuvPathMode = "auto"  # 4:2:0 planes converted on the engine's device (repsr_video.yuv_path)

    def __post_init__(self) -> None:
        if self.yuv_path not in YUV_PATH_MODES:
            raise OutputError(f"unknown --yuv-path {self.yuv_path!r}; choose one of {', '.join(YUV_PATH_MODES)}")
        if self.encoder not in ENCODERS:
            raise OutputError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(ENCODERS)}")
        if self.deinterlace not in DEINTERLACE_MODES:
            raise OutputError(f"unknown --deinterlace {self.deinterlace!r}; choose one of {', '.join(DEINTERLACE_MODES)}")
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise OutputError(f"--crf {self.crf} is out of range 0..63")
        codec = CODEC_ALIASES.get(self.codec or "", self.codec)
        if codec is not None:  # a named encoder is checked now; the container's default one when planned
            if self.crf is not None:
                check_crf(codec, self.crf)
            if self.preset is not None:
                check_preset(codec, self.preset)


@dataclass(frozen=True)
class OutputPlan:
    path: Path
    container_format: str
    codec: str
    pix_fmt: str
    width: int
    height: int
    options: dict[str, str]
    color: ColorInfo  # what is tagged on the output (the matrix/range used for RGB->YUV)
    rgb_output: bool  # the codec takes RGB planes: no matrix is applied
    notes: list[str] = field(default_factory=list)
    streams: tuple[StreamPlan, ...] = ()  # what happens to each other stream of the input
    alpha: bool = False  # the input's alpha is upscaled and written (pix_fmt has alpha)
    deinterlace: str | None = None  # bwdif's deint value the decoder applies ("interlaced", "all"), or None
    yuv_path: YuvPathMode = "auto"  # EncodeSettings.yuv_path, for repsr_video.yuv_path.yuv_layout where the engine runs


def default_codec(fmt: str) -> str:
    """The video encoder used when --codec is not given: VP9 for WebM (which holds nothing else we write), else H.264."""
    return "libvpx-vp9" if fmt == "webm" else "libx264"


def container_format(path: Path) -> str:
    fmt = CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(f"{path}: unsupported output type {path.suffix or '(none)'!r}; use one of {', '.join(CONTAINERS)}")
    return fmt


def _codec_options(codec: str, crf: int | None, preset: str | None, notes: list[str]) -> dict[str, str]:
    options: dict[str, str] = dict(QUIET_OPTIONS.get(codec, {}))
    if crf is not None:
        check_crf(codec, crf)
    if preset is not None:
        check_preset(codec, preset)
    if crf is None:
        crf = DEFAULT_CRF.get(codec)
    if crf is not None:
        if codec in ("libx264", "libx265", "libsvtav1", "libvpx-vp9", "libvpx"):
            options["crf"] = str(crf)
            if codec.startswith("libvpx"):
                options["b"] = "0"  # constant quality: crf alone is a cap otherwise
        elif codec.endswith("_nvenc"):
            options.update(rc="vbr", cq=str(crf))
        else:
            notes.append(f"--crf is ignored by {codec}")
    if preset is not None:
        if codec.startswith("libvpx"):
            options["deadline" if preset in ("good", "best", "realtime") else "cpu-used"] = preset
        else:
            options["preset"] = preset
    return options


_LAYOUT = {"420": "4:2:0", "422": "4:2:2", "444": "4:4:4"}


def _chroma(pix_fmt: str) -> str:
    if is_rgb_format(pix_fmt):
        return "444"
    fmt = av.VideoFormat(pix_fmt)
    if len(fmt.components) < 3:  # gray
        return "420"
    h_sub = fmt.chroma_width(2) == 1
    v_sub = fmt.chroma_height(2) == 1
    return "420" if h_sub and v_sub else "422" if h_sub else "444"


def _fits(pix_fmt: str, width: int, height: int) -> bool:
    fmt = av.VideoFormat(pix_fmt)
    if len(fmt.components) < 3 or is_rgb_format(pix_fmt):
        return True
    return (width % 2 == 0 or fmt.chroma_width(2) == 2) and (height % 2 == 0 or fmt.chroma_height(2) == 2)


def _layout_notes(info: VideoInfo, deint: str | None) -> list[str]:
    """Interlacing: deinterlaced, or carried as combing; and the input's own notes."""
    notes = list(info.notes)
    if deint == "all":
        notes.append("every frame is deinterlaced with bwdif (--deinterlace on), one frame per frame; the output is progressive")
    elif deint:
        notes.append("the video is interlaced: frames flagged interlaced are deinterlaced with bwdif, one frame per frame; "
                     "the output is progressive")
    elif info.interlaced:
        notes.append("the video is interlaced; its frames are upscaled as progressive pictures (combing is kept and the "
                     "output is marked progressive): --deinterlace auto deinterlaces it with bwdif first")
    return notes


# Alpha as a second bitstream in packet side data, which the NUT segment files drop: such outputs with
# alpha are written in one pass (repsr_video.jobs.video).
SIDE_DATA_ALPHA = {"libvpx-vp9", "libvpx"}
_KEEP_ALPHA = "use --codec ffv1 (.mkv) or --codec png (.mkv/.mov) to keep it"


def _alpha_choice(codec: av.Codec, info: VideoInfo, pix_fmt: str, settings: EncodeSettings, notes: list[str]) -> str:
    """`pix_fmt`, or its alpha variant when the input has alpha and the output can keep it; one note either way."""
    if not has_alpha(info.pix_fmt):
        return pix_fmt
    why = ""
    if settings.encoder != "pyav":
        why = f"--encoder {settings.encoder} is fed opaque frames; the default encoder keeps it"
    elif settings.pix_fmt and not has_alpha(pix_fmt):
        why = f"--pix-fmt {pix_fmt} has none; pick a format with alpha (e.g. yuva420p) to keep it"
    elif not settings.pix_fmt:
        pix_fmt = alpha_pix_fmt(pix_fmt, [f.name for f in codec.video_formats or []]) or pix_fmt
        if not has_alpha(pix_fmt):
            why = f"{codec.name} cannot carry it; {_KEEP_ALPHA}"
    if why:
        notes.append(f"alpha dropped ({info.pix_fmt} input): {why}; the output is opaque")
    else:
        notes.append(f"alpha kept: written as {pix_fmt}, upscaled with bicubic interpolation (the network sees RGB only)")
    return pix_fmt


def _player_layout(codec: av.Codec, info: VideoInfo, fmt: str, notes: list[str]) -> tuple[str, bool]:
    """(chroma, deep) for .mp4/.mov/.webm: 4:2:0, 10-bit only where players decode it; a note per change."""
    chroma, deep = _chroma(info.pix_fmt), info.bit_depth > 8
    keep = f"yuv{chroma}p" + ("10le" if deep else "")
    changed = []
    if chroma != "420":
        changed.append(f"{_LAYOUT[chroma]} -> 4:2:0")
        chroma = "420"
    if deep and codec.name not in TEN_BIT_PLAYABLE:
        changed.append(f"{info.bit_depth}-bit -> 8-bit ({codec.name} 10-bit plays almost nowhere; "
                       "--codec libx265 gives HEVC Main 10)")
        deep = False
    if changed:
        notes.append(f"{info.pix_fmt} input written as {', '.join(changed)} so common players play the .{fmt}; "
                     f"--pix-fmt {keep} keeps the source's layout (or write .mkv)")
    return chroma, deep


def _default_pix_fmt(codec: av.Codec, info: VideoInfo, width: int, height: int, fmt: str, notes: list[str]) -> str:
    if fmt in PLAYER_FORMATS:
        chroma, deep = _player_layout(codec, info, fmt, notes)
    else:
        chroma, deep = _chroma(info.pix_fmt), info.bit_depth > 8
    if chroma != "444" and (width % 2 or (chroma == "420" and height % 2)):
        notes.append(f"output size {width}x{height} is odd, which {_LAYOUT[chroma]} cannot carry: writing 4:4:4")
        chroma = "444"
    base = {"420": "yuv420p", "422": "yuv422p", "444": "yuv444p"}[chroma]
    if deep:
        candidates = [base + "10le", *(["p010le"] if chroma == "420" else []), base]
    else:
        candidates = [base, *(["nv12"] if chroma == "420" else [])]
    supported = [f.name for f in codec.video_formats or []]
    if not supported:
        return candidates[0]
    for name in candidates:
        if name in supported:
            if deep and "10" not in name:
                notes.append(f"{codec.name} cannot write 10-bit {base}: writing 8-bit {name}")
            return name
    fitting = [name for name in supported if _fits(name, width, height)]
    if not fitting:
        raise OutputError(f"{codec.name} has no pixel format that can carry {width}x{height}")
    notes.append(f"{codec.name} cannot write {candidates[0]}: writing {fitting[0]}")
    return fitting[0]


def _check_pix_fmt(codec: av.Codec, pix_fmt: str, width: int, height: int, path: Path) -> str:
    try:
        av.VideoFormat(pix_fmt)
    except (ValueError, av.error.FFmpegError):
        raise OutputError(f"{path}: unknown pixel format {pix_fmt!r}") from None
    supported = [f.name for f in codec.video_formats or []]
    if supported and pix_fmt not in supported:
        raise OutputError(f"{path}: {codec.name} cannot encode pixel format {pix_fmt}; it supports: {', '.join(supported)}")
    if not _fits(pix_fmt, width, height):
        raise OutputError(
            f"{path}: pixel format {pix_fmt} cannot carry the odd output size {width}x{height}; "
            "use a 4:4:4 format such as yuv444p"
        )
    return pix_fmt


def probe_encoder(codec: str, pix_fmt: str, width: int, height: int, options: dict[str, str], rate: Fraction | None) -> None:
    """Open and discard an encoder with these settings; raise the FFmpeg error if it will not open."""
    ctx = cast(av.VideoCodecContext, av.CodecContext.create(codec, "w"))  # a video codec (plan_output checks)
    ctx.width, ctx.height, ctx.pix_fmt = width, height, pix_fmt
    ctx.time_base = Fraction(1, 1000) if not rate else 1 / Fraction(rate)
    if rate:
        ctx.framerate = Fraction(rate)
    ctx.options = dict(options)
    try:
        ctx.open()
    finally:
        del ctx


def _encoder_codec(name: str, path: Path) -> av.Codec:
    try:
        codec = av.Codec(name, "w")
    except UnknownCodecError:
        examples = "libx264, libx265, libsvtav1, libvpx-vp9, h264_nvenc"
        raise OutputError(f"{path}: unknown video encoder {name!r} (examples: {examples})") from None
    if codec.type != "video":
        raise OutputError(f"{path}: {name} is a {codec.type} encoder, not a video encoder")
    return codec


def plan_output(
    info: VideoInfo, scale: int, path: str | Path, settings: EncodeSettings, streams: Sequence[av.stream.Stream] = ()
) -> OutputPlan:
    """Choose and check everything the encoder needs; OutputError with the reason if it cannot work.

    `streams` are the input's other streams (the decoder's Source.copied): each gets a StreamPlan.
    """
    path = Path(path)
    fmt = container_format(path)
    try:
        stream_plans = tuple(plan_streams(streams, fmt, _supported_codecs(fmt), settings.streams))
    except OutputError as error:
        raise OutputError(f"{path}: {error}") from None
    deint = bwdif_deint(settings.deinterlace, info.interlaced)
    notes: list[str] = [*_layout_notes(info, deint), *(p.note for p in stream_plans if p.note)]
    width, height = info.width * scale, info.height * scale
    name = settings.codec or default_codec(fmt)
    name = CODEC_ALIASES.get(name, name)
    codec = _encoder_codec(name, path)
    if fmt in ("webm", "mp4", "mov") and codec.canonical_name not in _supported_codecs(fmt):
        raise OutputError(
            f"{path}: the {fmt} container cannot hold {codec.canonical_name} video ({name}); pick another --codec or extension"
        )

    for attempt in range(2):
        attempt_notes: list[str] = []
        if settings.pix_fmt:
            pix_fmt = _check_pix_fmt(codec, settings.pix_fmt, width, height, path)
        else:
            pix_fmt = _default_pix_fmt(codec, info, width, height, fmt, attempt_notes)
        pix_fmt = _alpha_choice(codec, info, pix_fmt, settings, attempt_notes)
        try:
            options = _codec_options(codec.name, settings.crf, settings.preset, attempt_notes)
        except OutputError as error:  # the container's default encoder: say which output it is for
            raise OutputError(f"{path}: {error}") from None
        if codec.name == "libvpx" and has_alpha(pix_fmt):  # libvpx's VP8 refuses alpha with alt-ref frames on
            options["auto-alt-ref"] = "0"
        try:
            probe_encoder(codec.name, pix_fmt, width, height, options, info.rate)
            notes.extend(attempt_notes)
            break
        except (av.error.FFmpegError, ValueError) as error:
            fallback = NVENC_FALLBACK.get(codec.name)
            if attempt == 0 and fallback:
                reason = describe_error(error)
                notes.append(f"{codec.name} is not available here ({reason}); using the CPU encoder {fallback} instead")
                codec = _encoder_codec(fallback, path)
                continue
            detail = ", ".join(f"{k}={v}" for k, v in options.items())
            rejected = f"pix_fmt={pix_fmt} {width}x{height} {detail}"
            raise OutputError(f"{path}: encoder {codec.name} rejected {rejected} ({describe_error(error)})") from error
    rgb_output = is_rgb_format(pix_fmt)
    color = output_color(info, rgb_output)
    alpha = has_alpha(info.pix_fmt) and has_alpha(pix_fmt) and settings.encoder == "pyav"
    return OutputPlan(
        path, fmt, codec.name, pix_fmt, width, height, options, color, rgb_output, notes, stream_plans, alpha, deint,
        settings.yuv_path,
    )


_SUPPORTED: dict[str, set[str]] = {}


def _supported_codecs(fmt: str) -> set[str]:
    """Codec names a muxer accepts (asked of FFmpeg through a never-written output container)."""
    if fmt not in _SUPPORTED:
        import io

        with av.open(io.BytesIO(), "w", format=fmt) as out:
            _SUPPORTED[fmt] = set(out.supported_codecs)
    return _SUPPORTED[fmt]


def supported_codecs(fmt: str) -> set[str]:
    return _supported_codecs(fmt)
