"""Small, deterministic media files made with PyAV for the decoder/encoder/pipeline tests."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def frame_pixels(i: int, width: int, height: int, dtype=np.uint8) -> np.ndarray:
    """A gradient with a moving square: different in every frame, smooth enough to compress well."""
    top = 65535 if dtype == np.uint16 else 255
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.float64)
    img[..., 0] = x / max(1, width - 1)
    img[..., 1] = y / max(1, height - 1)
    img[..., 2] = 0.5
    s = max(2, min(width, height) // 4)
    x0 = (i * 3) % max(1, width - s)
    img[4 : 4 + s, x0 : x0 + s] = (1.0, 1.0 - (i % 5) / 5, 0.2)
    return np.round(img * top).astype(dtype)


def make_video(
    path: Path,
    *,
    frames: int = 10,
    width: int = 64,
    height: int = 48,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rate: int = 25,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    audio_tracks: int = 0,
    subtitles: bool = False,
    attachment: bytes | None = None,
    chapters: bool = False,
    metadata: dict[str, str] | None = None,
    rotation: int = 0,
    color: tuple[int, int, int, int] | None = None,  # (matrix, range, primaries, trc) tagged and used
    options: dict[str, str] | None = None,
) -> Path:
    """Write a clip; `pts` (in `time_base`, default 1/rate) makes it variable frame rate."""
    path = Path(path)
    time_base = time_base or Fraction(1, rate)
    pts = pts if pts is not None else [round(i / rate / time_base) for i in range(frames)]
    assert len(pts) == frames
    with av.open(str(path), "w") as out:
        if metadata:
            out.metadata.update(metadata)
        default_options = {"crf": "20", "preset": "ultrafast"} if codec.startswith("libx26") else {}
        v = out.add_stream(codec, rate=rate, time_base=time_base, options=options or default_options)
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        v.codec_context.time_base = time_base
        v.metadata["title"] = "main video"
        if color:
            ctx = v.codec_context
            ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc = color
        if rotation:
            v.set_display_rotation(rotation)
        audio = []
        for n in range(audio_tracks):
            a = out.add_stream("aac", rate=48000, layout="stereo" if n == 0 else "mono")
            a.metadata["language"] = ["eng", "fra", "deu"][n % 3]
            a.metadata["title"] = f"track {n}"
            audio.append(a)
        sub_in = None
        if subtitles:
            srt = path.with_suffix(".srt")
            srt.write_text("1\n00:00:00,000 --> 00:00:00,200\nHello\n\n2\n00:00:00,200 --> 00:00:00,380\nWorld\n\n")
            sub_in = av.open(str(srt))
            sub_out = out.add_stream_from_template(sub_in.streams.subtitles[0], opaque=True)
            sub_out.metadata["language"] = "spa"
        if attachment is not None:
            out.add_attachment("font.ttf", "font/ttf", attachment)
        if chapters:
            out.set_chapters([
                {"id": 1, "start": 0, "end": 200, "time_base": Fraction(1, 1000), "metadata": {"title": "One"}},
                {"id": 2, "start": 200, "end": 400, "time_base": Fraction(1, 1000), "metadata": {"title": "Two"}},
            ])
        high = av.VideoFormat(pix_fmt).components[0].bits > 8
        for i, p in enumerate(pts):
            img = frame_pixels(i, width, height, np.uint16 if high else np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb48le" if high else "rgb24")
            kwargs = {}
            if color:
                from repsr_video.colour import sws_matrix, sws_range

                kwargs = {"dst_colorspace": sws_matrix(color[0]), "dst_color_range": sws_range(color[1])}
            frame = frame.reformat(format=pix_fmt, **kwargs)
            frame.pts, frame.time_base = p, time_base
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        duration_s = (pts[-1] * time_base) + Fraction(1, rate) if pts else Fraction(0)
        for a in audio:
            samples = int(48000 * duration_s)
            t = np.arange(samples) / 48000
            channels = 2 if a.layout.name == "stereo" else 1
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = np.tile(tone[start : start + 1024], (channels, 1))
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout=a.layout.name)
                af.sample_rate, af.pts, af.time_base = 48000, start, Fraction(1, 48000)
                out.mux(a.encode(af))
            out.mux(a.encode(None))
        if sub_in is not None:
            for packet in sub_in.demux(sub_in.streams.subtitles[0]):
                if packet.size:
                    packet.stream = sub_out
                    out.mux(packet)
            sub_in.close()
    return path


def make_audio_only(path: Path, seconds: float = 0.3) -> Path:
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=48000, layout="mono")
        samples = int(48000 * seconds)
        for start in range(0, samples, 1024):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, start
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    return path


def make_zero_frame_video(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    return path


def truncate(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def ffmpeg_exe() -> str | None:
    """The ffmpeg binary: system one, or the imageio-ffmpeg wheel's (in the test extra)."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


def make_theora_with_empty_packets(path: Path, frames: int = 12, empty_after: tuple[int, ...] = (3, 7)) -> tuple[Path, int]:
    """Ogg/Theora with zero-size ("repeat previous frame") packets; returns (path, real frame count).

    PyAV has no Theora encoder, so ffmpeg encodes and PyAV re-muxes, adding the empty packets.
    """
    exe = ffmpeg_exe()
    if exe is None:
        raise RuntimeError("no ffmpeg binary to make a Theora clip")
    plain = path.with_name("plain_" + path.name)
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", str(frames),
                    "-c:v", "libtheora", str(plain)], check=True)
    with av.open(str(plain)) as inp, av.open(str(path), "w") as out:
        s = inp.streams.video[0]
        o = out.add_stream_from_template(s, opaque=True)
        shift = 0  # each empty packet takes one frame slot: later frames move one step on
        for i, packet in enumerate(p for p in inp.demux(s) if p.size):
            tb = packet.time_base
            packet.pts = packet.dts = i + shift
            packet.stream = o
            out.mux(packet)
            if i in empty_after:
                shift += 1
                empty = av.Packet(b"")
                empty.stream, empty.pts, empty.dts, empty.time_base = o, i + shift, i + shift, tb
                out.mux(empty)
    return path, frames


class NearestEngine:
    """A stand-in following the engine contract: nearest-neighbour upscaling in numpy."""

    def __init__(self, scale: int = 2, batch: int = 4) -> None:
        self.scale, self.batch, self.device, self.backend = scale, batch, "cpu", "nearest"
        self.calls: list[int] = []

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        assert frames.ndim == 4 and frames.shape[-1] == 3 and frames.dtype in (np.uint8, np.uint16)
        self.calls.append(len(frames))
        return np.repeat(np.repeat(frames, self.scale, axis=1), self.scale, axis=2)


def video_frames(path: Path, fmt: str = "rgb24") -> tuple[list[int], list[np.ndarray], Fraction]:
    """pts and RGB arrays of every frame of the first video stream, and the stream's time base."""
    pts, images = [], []
    with av.open(str(path)) as inp:
        stream = inp.streams.video[0]
        for frame in inp.decode(stream):
            pts.append(frame.pts)
            images.append(frame.to_ndarray(format=fmt))
        time_base = Fraction(stream.time_base)
    return pts, images, time_base


def packets_bytes(path: Path, stream_type: str) -> list[list[bytes]]:
    """Packet payloads of every stream of a type, per stream, in order."""
    with av.open(str(path)) as inp:
        streams = [s for s in inp.streams if s.type == stream_type]
        if not streams:  # (demux of no streams would read them all)
            return []
        out: list[list[bytes]] = [[] for _ in streams]
        index = {s.index: n for n, s in enumerate(streams)}
        for packet in inp.demux(streams):
            if packet.size:
                out[index[packet.stream.index]].append(bytes(packet))
    return out
