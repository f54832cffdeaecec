"""`--encoder ffmpeg`: upscaled frames are piped to an ffmpeg process, which encodes and copies the rest.

The pipe carries raw frames already converted to the output pixel format with the plan's matrix (so
ffmpeg converts nothing), wrapped in NUT so every frame keeps its pts (a bare rawvideo pipe has none and
would force a constant rate). ffmpeg reads the original input a second time for the copied streams,
chapters and metadata (`-map 1:N -c copy`, `-map_metadata 1 -map_chapters 1`), so the copied streams'
packets that the decoder hands on are not needed here. Which streams are copied, converted (`-c:N aac`)
or left out (not mapped) is the plan's stream choice, the same as for the PyAV encoder. `-copyts` keeps
every timestamp as the input has it: without it ffmpeg moved the piped video to start at 0 while the
copied audio kept its start (0.5 s apart on a late-starting file). Copied audio also gets a fine time
base (`copy_clock`), so ffmpeg rounds its packet times to the container's clock as they are, as the PyAV
encoder does, instead of laying the packets end to end. The command is built with
ffmpeg-python; the binary is the one shipped in the imageio-ffmpeg wheel, or a system ffmpeg >= 7.
Build it through `repsr_video.encoder.open_encoder`.
"""

from __future__ import annotations

import collections
import math
import shutil
import subprocess
import threading
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import IO, cast

import av
import av.error

from repsr_video.colour import to_output_frames
from repsr_video.decoder import Source
from repsr_video.errors import OutputError
from repsr_video.frames import Frames, PacketGroup
from repsr_video.output_plan import OutputPlan
from repsr_video.streams import StreamPlan

MIN_FFMPEG_MAJOR = 7  # -display_rotation and -enc_time_base demux
FINEST_MUXER_CLOCK = Fraction(1, 10**6)  # finer than any muxer's audio clock (Matroska 1 ms, MP4 1/rate, TS 1/90000)


def ffmpeg_binary() -> str:
    """imageio-ffmpeg's binary (a known, recent build) first, else a system ffmpeg new enough."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        pass
    found = shutil.which("ffmpeg")
    if not found:
        raise OutputError("--encoder ffmpeg needs an ffmpeg binary: `pip install imageio-ffmpeg` or install ffmpeg >= 7")
    major = _ffmpeg_major_version(found)
    if major is not None and major < MIN_FFMPEG_MAJOR:
        raise OutputError(
            f"{found}: ffmpeg {major} is too old for --encoder ffmpeg (needs >= {MIN_FFMPEG_MAJOR}); `pip install imageio-ffmpeg`"
        )
    return found


def _ffmpeg_major_version(binary: str) -> int | None:
    import re
    import subprocess

    try:
        banner = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"ffmpeg version n?(\d+)\.", banner)
    return int(match.group(1)) if match else None  # a git build: trust it


def copy_clock(time_base: Fraction) -> Fraction:
    """A time base that divides `time_base` exactly and is no coarser than FINEST_MUXER_CLOCK.

    ffmpeg moves stream-copied audio from a time base coarser than the muxer's with av_rescale_delta,
    which puts each packet where the previous one ended (by sample count) whenever that lies within the
    packet's own tick: five AAC packets an AVI stores at one time (its sample size set) came out at 0,
    11, 11, 11, 11 ms, and every later packet 11 ms late. From a time base at least as fine as the
    muxer's it rounds each time as it is. `-time_base:N` sets this one on the output stream; packets are
    converted to it only on the way into a bitstream filter, hence `-bsf:N null` (which changes nothing).
    """
    return Fraction(1, time_base.denominator * math.ceil(1 / (FINEST_MUXER_CLOCK * time_base.denominator)))


def _copied_audio_options(source: Source, kept: Sequence[StreamPlan]) -> dict[str, str]:
    """`-time_base:N` and `-bsf:N null` for every copied audio stream N (output numbering): see copy_clock."""
    time_bases = {s.index: s.time_base for s in source.copied}
    options: dict[str, str] = {}
    for n, p in enumerate(kept, start=1):
        time_base = time_bases.get(p.index)
        if p.action == "copy" and p.kind == "audio" and time_base:
            options.update({f"time_base:{n}": str(copy_clock(Fraction(time_base))), f"bsf:{n}": "null"})
    return options


def build_command(source: Source, plan: OutputPlan, path: Path, binary: str) -> list[str]:
    import ffmpeg

    info = source.info
    input_options: dict[str, object] = {"format": "nut"}
    if info.rotation:
        # ffmpeg >= 7; same counter-clockwise sign as PyAV. autorotate off: tag it, do not turn the pixels.
        input_options.update(display_rotation=info.rotation, noautorotate=None)
    frames = ffmpeg.input("pipe:", **input_options)
    original = ffmpeg.input(str(source.path))
    # NUT carries no colour description and ffmpeg takes the frames' over its output options: set it on them.
    video = frames["v"].filter("setparams", colorspace=plan.color.matrix, range=plan.color.range,
                                color_primaries=plan.color.primaries, color_trc=plan.color.trc)
    kept = [p for p in plan.streams if p.action in ("copy", "convert")]
    streams = [video, *(original[str(p.index)] for p in kept)]
    codecs = {f"c:{n}": p.target for n, p in enumerate(kept, start=1) if p.action == "convert"}
    if not kept:
        # ffmpeg-python leaves out inputs no stream is taken from, but metadata and chapters come from
        # this one: an optional map that matches nothing (the input has no stream but the video) keeps it.
        streams.append(original["a?"])
    options = {
        "format": plan.container_format,
        "c": "copy",
        "c:v:0": plan.codec,
        "pix_fmt": plan.pix_fmt,
        "fps_mode": "passthrough",
        "enc_time_base:v:0": "demux",  # else the encoder rounds every pts to 1/frame-rate
        "map_metadata": 1,
        "map_chapters": 1,
        "colorspace": plan.color.matrix,
        "color_range": plan.color.range,
        "color_primaries": plan.color.primaries,
        "color_trc": plan.color.trc,
        **{f"{key}:v:0": value for key, value in plan.options.items()},
        **codecs,
        **_copied_audio_options(source, kept),
    }
    flags = ("-hide_banner", "-nostdin", "-loglevel", "error", "-copyts")
    out = ffmpeg.output(*streams, str(path), **options).global_args(*flags)
    return out.overwrite_output().compile(cmd=binary)


class FFmpegEncoder:
    """Pipe the upscaled frames to an ffmpeg process writing `path`. Satisfies `repsr_video.encoder.Encoder`."""

    def __init__(self, source: Source, plan: OutputPlan, path: Path) -> None:
        self.plan = plan
        self.frames = 0
        command = build_command(source, plan, path, ffmpeg_binary())
        self._errors: collections.deque[str] = collections.deque(maxlen=20)
        try:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as error:
            raise OutputError(f"{plan.path}: cannot start ffmpeg ({error})") from error
        # Popen(stdin=PIPE, stderr=PIPE) always sets both; the casts only tell the type checker.
        self._stdin, self._stderr = cast(IO[bytes], self.process.stdin), cast(IO[bytes], self.process.stderr)
        self._reader = threading.Thread(target=self._read_errors, daemon=True)
        self._reader.start()
        info = source.info
        self.pipe = av.open(self._stdin, "w", format="nut")
        self.stream = self.pipe.add_stream("rawvideo", rate=info.rate or 25, time_base=info.time_base)
        self.stream.width, self.stream.height, self.stream.pix_fmt = plan.width, plan.height, plan.pix_fmt
        self.stream.codec_context.time_base = info.time_base
        self._tags = {"colorspace": plan.color.matrix, "color_range": plan.color.range,
                      "color_primaries": plan.color.primaries, "color_trc": plan.color.trc}
        for key, value in self._tags.items():  # ffmpeg takes the frames' tags over its own options
            setattr(self.stream.codec_context, key, value)

    def _read_errors(self) -> None:
        for line in self._stderr:
            text = line.decode(errors="replace").strip()
            if text:
                self._errors.append(text)

    def _failure(self, what: str) -> OutputError:
        detail = self._errors[-1] if self._errors else f"exit status {self.process.poll()}"
        return OutputError(f"{self.plan.path}: ffmpeg {what} ({detail})")

    def write(self, item: Frames | PacketGroup) -> None:
        if isinstance(item, PacketGroup):  # ffmpeg copies the other streams from the input itself
            return
        try:
            for frame in to_output_frames(item, self.plan.pix_fmt, self.plan.color):
                for key, value in self._tags.items():
                    setattr(frame, key, value)
                self.pipe.mux(self.stream.encode(frame))
                self.frames += 1
        except (av.error.FFmpegError, OSError) as error:
            self.process.wait(timeout=10)
            raise self._failure("stopped") from error

    def finish(self) -> None:
        try:
            self.pipe.mux(self.stream.encode(None))
            self.pipe.close()
            self._stdin.close()
        except (av.error.FFmpegError, OSError) as error:
            raise self._failure("stopped") from error
        code = self.process.wait()
        self._reader.join(timeout=5)
        if code != 0:
            raise self._failure("failed")

    def abort(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        try:
            self.pipe.close()
        except Exception:  # the pipe is already broken; the output is being thrown away
            pass
