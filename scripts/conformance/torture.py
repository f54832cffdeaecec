"""The generated torture set: small clips made with an ffmpeg binary for what the real corpus lacks.

Each case is one ffmpeg command (lavfi sources, about a second, small sizes) plus the outputs the checker
writes from it. `sync` clips flash the picture white and beep at the same instants (every 12th frame at
24000/1001 fps), so the checker can measure audio/video offset from the content itself.

    python scripts/conformance/torture.py [DEST] [--ffmpeg PATH]    # default DEST: media/conformance/torture
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RATE = "24000/1001"
FLASH_EVERY = 12  # frames between flashes; a beep starts at the same instant
_FLASH_T = f"{FLASH_EVERY}*1001/24000"


def flash_video(size: str = "160x120", seconds: float = 2.0) -> list[str]:
    """testsrc2 (motion, so encoders use B-frames) with every 12th frame painted white."""
    graph = (f"testsrc2=s={size}:r={RATE}:d={seconds},"
             f"drawbox=x=0:y=0:w=iw:h=ih:c=white:t=fill:enable='eq(mod(n\\,{FLASH_EVERY})\\,0)'")
    return ["-f", "lavfi", "-i", graph]


def beep_audio(seconds: float = 2.0, rate: int = 48000) -> list[str]:
    expr = f"if(lt(mod(t\\,{_FLASH_T})\\,0.02)\\,0.8*sin(2*PI*1000*t)\\,0)"
    return ["-f", "lavfi", "-i", f"aevalsrc='{expr}':s={rate}:d={seconds}"]


def video(size: str = "160x120", rate: str = "25", seconds: float = 1.0, pix_fmt: str | None = None) -> list[str]:
    graph = f"testsrc2=s={size}:r={rate}:d={seconds}" + (f",format={pix_fmt}" if pix_fmt else "")
    return ["-f", "lavfi", "-i", graph]


def tone(seconds: float = 1.0, rate: int = 48000, freq: int = 440) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=f={freq}:r={rate}:d={seconds}"]


VP9 = ["-c:v", "libvpx-vp9", "-deadline", "realtime"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-bf", "3", "-tune", "film"]  # ultrafast alone turns B-frames off


@dataclass(frozen=True)
class Case:
    name: str  # file name of the clip, with its extension
    args: list[str]  # ffmpeg arguments between the binary and the output path
    outputs: tuple[str, ...] = (".mkv",)  # the checker writes one output per suffix
    ffmpeg_outputs: tuple[str, ...] = ()  # the same, with --encoder ffmpeg
    sync: bool = False  # flash-and-beep content: the checker measures the A/V offset
    covers: str = ""  # what the case is for (shown in the table)
    then: list[str] | None = None  # a second ffmpeg pass over the first result (FIRST), e.g. a stream-copy cut


SRT = "1\n00:00:00,100 --> 00:00:00,500\nHello\n\n2\n00:00:00,600 --> 00:00:00,900\nWorld\n\n"

CASES: list[Case] = [
    Case("avi-h264-bframes-sync.avi", [*flash_video(), *beep_audio(), *X264, "-c:a", "pcm_s16le"],
         (".mkv", ".mp4"), (".mkv",), True, "H.264 B-frames in AVI (no pts), A/V sync"),
    Case("avi-xvid-bframes-sync.avi", [*flash_video(), *beep_audio(), "-c:v", "mpeg4", "-bf", "2", "-vtag", "XVID", "-q:v", "4",
                                       "-c:a", "libmp3lame", "-b:a", "96k"],
         (".mkv",), (".mkv",), True, "MPEG-4 ASP (Xvid) B-frames in AVI, MP3, A/V sync"),
    Case("mkv-late-start-sync.mkv", [*flash_video(), *beep_audio(), *X264, "-c:a", "libopus", "-output_ts_offset", "0.5"],
         (".mkv",), (".mkv",), True, "late start (0.5 s) in Matroska, Opus"),
    Case("mp4-aac-sync.mp4", [*flash_video(), *beep_audio(), *X264, "-c:a", "aac"],
         (".mp4", ".webm", ".mkv"), (".mp4",), True, "H.264+AAC MP4 (edit list, AAC priming) -> WebM"),
    Case("flv-h264-aac-sync.flv", [*flash_video(), *beep_audio(rate=44100), *X264, "-c:a", "aac", "-ar", "44100"],
         (".mkv", ".mp4"), (".mkv",), True, "FLV, H.264+AAC"),
    Case("ts-h264-aac-sync.ts", [*flash_video(), *beep_audio(), *X264, "-x264opts", "open-gop=1", "-c:a", "aac"],
         (".mkv", ".mp4"), (".mkv",), True, "MPEG-TS (start 1.4 s), open GOP"),
    Case("mpg-mpeg2-mp2-sync.mpg", [*flash_video("352x288"), *beep_audio(), "-c:v", "mpeg2video", "-bf", "2", "-q:v", "4",
                                    "-c:a", "mp2", "-f", "vob"],
         (".mkv",), (".mkv",), True, "MPEG-PS, MPEG-2 with B-frames, MP2"),
    Case("mkv-subs-2audio-attach.mkv", [*video(), *tone(), *tone(freq=880), "-f", "srt", "-i", "SUBS.srt", "-attach", "FONT",
                                        "-map", "0", "-map", "1", "-map", "2", "-map", "3", *X264, "-c:a", "flac",
                                        "-c:s", "srt", "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
                                        "-metadata:s:t", "mimetype=application/x-truetype-font"],
         (".mkv", ".mp4", ".webm"), (".mkv",), False, "2 audio tracks, SRT, font attachment -> MP4/WebM"),
    Case("mov-timecode.mov", [*video(), *tone(), *X264, "-c:a", "aac", "-timecode", "01:00:00:00"],
         (".mov", ".mkv", ".mp4"), (".mov",), False, "QuickTime timecode (tmcd data) track"),
    Case("mp4-edit-list-cut.mp4", [*video(seconds=2), *tone(2), *X264, "-g", "48", "-c:a", "aac"],
         (".mp4", ".mkv"), (".mp4",), False, "edit list starting mid-GOP (stream-copy cut at 0.3 s)",
         then=["-ss", "0.3", "-i", "FIRST", "-c", "copy"]),
    Case("mkv-vfr.mkv", ["-f", "lavfi", "-i", "testsrc2=s=160x120:r=30:d=1,setpts='N/30/TB+if(gte(N\\,10)\\,N/60/TB\\,0)'",
                         *X264, "-fps_mode", "passthrough"],
         (".mkv", ".mp4"), (), False, "variable frame rate"),
    Case("m2ts-h264-ac3.m2ts", [*video(rate="30000/1001"), *tone(), *X264, "-c:a", "ac3", "-mpegts_m2ts_mode", "1"],
         (".mkv",), (".mkv",), False, "M2TS (BDAV), AC-3"),
    Case("wmv-wmv2-wma.wmv", [*video(), *tone(rate=44100), "-c:v", "wmv2", "-c:a", "wmav2"],
         (".mkv",), (), False, "ASF, WMV2+WMA2"),
    Case("3gp-h263-aac.3gp", [*video("176x144", rate="15"), *tone(rate=16000), "-c:v", "h263", "-c:a", "aac", "-ar", "16000"],
         (".mkv", ".mp4"), (), False, "3GP, H.263"),
    Case("mxf-mpeg2-pcm.mxf", [*video("320x240"), *tone(), "-c:v", "mpeg2video", "-c:a", "pcm_s16le"],
         (".mkv",), (), False, "MXF, MPEG-2 + PCM"),
    Case("ogv-theora-vorbis.ogv", [*video(), *tone(), "-c:v", "libtheora", "-c:a", "libvorbis"],
         (".mkv", ".webm"), (), False, "Ogg Theora+Vorbis"),
    Case("webm-vp9-opus.webm", [*video(), *tone(), "-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus"],
         (".webm", ".mp4"), (), False, "VP9+Opus"),
    Case("mkv-hevc.mkv", [*video(), "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"],
         (".mkv", ".mp4"), (), False, "HEVC"),
    Case("mkv-av1.mkv", [*video(), "-c:v", "libaom-av1", "-cpu-used", "8", "-crf", "40"], (".mkv", ".webm"), (), False, "AV1"),
    Case("mkv-h264-10bit.mkv", [*video(pix_fmt="yuv420p10le"), *X264, "-pix_fmt", "yuv420p10le"],
         (".mkv", ".mp4"), (), False, "10-bit H.264"),
    Case("webm-vp9-10bit.webm", [*video(pix_fmt="yuv420p10le"), *VP9, "-pix_fmt", "yuv420p10le"],
         (".webm", ".mkv"), (), False, "VP9 profile 2 (10-bit)"),
    Case("mp4-h264-444.mp4", [*video(pix_fmt="yuv444p"), *X264, "-pix_fmt", "yuv444p"],
         (".mp4", ".mkv"), (), False, "4:4:4 H.264"),
    Case("mkv-ffv1-rgb.mkv", [*video(pix_fmt="bgr0"), "-c:v", "ffv1"], (".mkv", ".mp4"), (), False, "RGB (FFV1 bgr0)"),
    Case("mkv-ffv1-alpha.mkv", [*video(pix_fmt="yuva420p"), "-c:v", "ffv1"],
         (".mkv", ".webm"), (), False, "alpha (FFV1 yuva420p)"),
    Case("webm-vp9-alpha.webm", [*video(pix_fmt="yuva420p"), *VP9, "-pix_fmt", "yuva420p"],
         (".webm", ".mkv"), (), False, "alpha (VP9 yuva420p)"),
    Case("mov-prores-alpha.mov", [*video(pix_fmt="yuva444p10le"), "-c:v", "prores_ks", "-profile:v", "4444",
                                  "-pix_fmt", "yuva444p10le"],
         (".mov", ".mkv"), (), False, "ProRes 4444 with alpha, 10-bit"),
    Case("mp4-h264-interlaced.mp4", [*video("320x240"), *X264, "-flags", "+ildct+ilme", "-x264opts", "tff=1"],
         (".mp4", ".mkv"), (), False, "interlaced H.264 (TFF)"),
    Case("avi-dv-pal.avi", [*video("720x576", pix_fmt="yuv420p"), *tone(), "-c:v", "dvvideo", "-c:a", "pcm_s16le"],
         (".mkv",), (), False, "DV PAL (interlaced) in AVI"),
    Case("mkv-vp8-odd-size.mkv", [*video("100x76"), "-vf", "crop=99:75:0:0:exact=1", "-c:v", "libvpx", "-deadline", "realtime"],
         (".mkv", ".webm"), (), False, "odd size 99x75"),
    Case("mp4-rotation-90.mp4", [*video(), *X264, "-metadata:s:v", "rotate=90"],
         (".mp4", ".mkv"), (), False, "display rotation 90"),
    Case("avi-msmpeg4v2.avi", [*video(), "-c:v", "msmpeg4v2"], (".mkv",), (), False, "MS-MPEG4 v2"),
    Case("avi-cinepak.avi", [*video(), "-c:v", "cinepak"], (".mkv",), (), False, "Cinepak in AVI"),
    Case("avi-mjpeg-pcm.avi", [*video(pix_fmt="yuvj422p"), *tone(), "-c:v", "mjpeg", "-c:a", "pcm_s16le"],
         (".mkv",), (), False, "MJPEG 4:2:2 full range"),
]


def ffmpeg_binary(explicit: str | None = None) -> str:
    """An explicit binary, else the system's ffmpeg, else the one bundled in the imageio-ffmpeg wheel."""
    if explicit:
        return explicit
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _font(dest: Path) -> Path:
    """A small stand-in font attachment: bytes are what is checked, not glyphs."""
    path = dest / "font.ttf"
    if not path.exists():
        path.write_bytes(bytes(range(256)) * 40)
    return path


def make(case: Case, dest: Path, ffmpeg: str) -> Path:
    """Write the clip of `case` into `dest` (once) and return its path."""
    out = dest / case.name
    if out.exists():
        return out
    subs = dest / "subs.srt"
    subs.write_text(SRT)
    args = [str(subs) if a == "SUBS.srt" else str(_font(dest)) if a == "FONT" else a for a in case.args]
    first = out.with_name(f".{out.stem}.first{out.suffix}") if case.then else out
    base = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*base, *args, str(first)], check=True)
    if case.then:
        subprocess.run([*base, *(str(first) if a == "FIRST" else a for a in case.then), str(out)], check=True)
        first.unlink()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", nargs="?", default="media/conformance/torture")
    parser.add_argument("--ffmpeg", help="ffmpeg binary (default: the system's, else imageio-ffmpeg's)")
    parser.add_argument("--only", nargs="*", help="case names to make (default: all)")
    args = parser.parse_args()
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    binary = ffmpeg_binary(args.ffmpeg)
    failed = 0
    chosen = [c for c in CASES if not args.only or c.name in args.only]
    for case in chosen:
        try:
            make(case, dest, binary)
        except subprocess.CalledProcessError as error:
            failed += 1
            print(f"{case.name}: ffmpeg failed ({error.returncode})", file=sys.stderr)
    print(f"{len(chosen) - failed} torture clips in {dest}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
