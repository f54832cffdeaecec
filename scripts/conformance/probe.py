"""Read media with an ffmpeg binary (another FFmpeg build than PyAV's): streams, frame and packet timings.

Only the `ffmpeg` executable is needed (no ffprobe), so the imageio-ffmpeg wheel's binary works too:
- streams come from the `ffmpeg -i` listing;
- decoded frames from `-f framecrc` with `-copyts -fps_mode passthrough` and the demuxer's time base, so
  each line is one frame at FFmpeg's best-effort timestamp (what the ffmpeg tool itself uses);
- packets of a stream from the same muxer with `-c copy`: timestamps, sizes and a checksum of the bytes.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from functools import cache


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # video, audio, subtitle, data, attachment
    codec: str
    profile: str  # "" when the listing shows none
    pix_fmt: str  # video only
    attached_pic: bool
    line: str


@dataclass(frozen=True)
class Entry:
    """One decoded frame or one packet: times in seconds (None when missing), size, checksum."""

    pts: Fraction | None
    duration: Fraction
    size: int
    crc: str


_STREAM = re.compile(r"Stream #0:(\d+)(?:\[[^]]*\])?(?:\([^)]*\))?: (Video|Audio|Subtitle|Data|Attachment): (\w+)(.*)")


_NOPTS = -(2**63)  # AV_NOPTS_VALUE as framecrc prints it


@cache
def ffmpeg_major(binary: str) -> int:
    banner = subprocess.run([binary, "-version"], capture_output=True, text=True).stdout
    match = re.match(r"ffmpeg version n?(\d+)\.", banner)
    return int(match.group(1)) if match else 99


def _run(binary: str, args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "-hide_banner", "-nostdin", *args], capture_output=True, timeout=timeout)


def streams(binary: str, path: str) -> list[StreamInfo]:
    text = _run(binary, ["-i", path]).stderr.decode(errors="replace")
    found = []
    for line in text.splitlines():
        match = _STREAM.search(line)
        if not match:
            continue
        index, kind, codec, rest = int(match.group(1)), match.group(2).lower(), match.group(3), match.group(4)
        profile = ""
        prof = re.match(r" \(([^)]*)\)", rest)
        if prof and "/" not in prof.group(1):  # "(High)" is a profile; "(avc1 / 0x...)" is a tag
            profile = prof.group(1)
        pix = re.search(r", ([a-z][a-z0-9_]+)(?:\(|,)", rest) if kind == "video" else None
        found.append(StreamInfo(index, kind, codec, profile, pix.group(1) if pix else "", "(attached pic)" in line, line.strip()))
    return found


def _time_base_arg(binary: str) -> str:
    return "demux" if ffmpeg_major(binary) >= 7 else "-1"


def _framecrc(binary: str, path: str, index: int, decode: bool) -> list[Entry]:
    args = ["-v", "error", "-copyts", "-i", path, "-map", f"0:{index}"]
    if decode:
        args += ["-fps_mode", "passthrough", "-enc_time_base", _time_base_arg(binary), "-c:v", "rawvideo", "-c:a", "pcm_s16le"]
    else:
        args += ["-c", "copy"]
    done = _run(binary, [*args, "-f", "framecrc", "-"])
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["ffmpeg failed"])
    tb = Fraction(1)
    entries = []
    for line in done.stdout.decode().splitlines():
        if line.startswith("#tb"):
            tb = Fraction(line.split(":")[1].strip())
            continue
        if line.startswith("#") or not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        pts = None if fields[2] in ("", "NOPTS") or int(fields[2]) == _NOPTS else int(fields[2]) * tb
        entries.append(Entry(pts, int(fields[3]) * tb, int(fields[4]), fields[5] if len(fields) > 5 else ""))
    return entries


def frames(binary: str, path: str, index: int) -> list[Entry]:
    """Every decoded frame of stream `index`, at its best-effort timestamp."""
    return _framecrc(binary, path, index, decode=True)


def packets(binary: str, path: str, index: int) -> list[Entry]:
    """Every packet of stream `index` as stored (copied, not decoded)."""
    return _framecrc(binary, path, index, decode=False)


def decode_errors(binary: str, path: str, spec: str) -> list[str]:
    """The error lines FFmpeg prints while decoding the streams `spec` (e.g. "v:0", "a")."""
    done = _run(binary, ["-v", "error", "-i", path, "-map", f"0:{spec}", "-f", "null", "-"])
    return [line for line in done.stderr.decode(errors="replace").splitlines() if line.strip()]


def gray_frames(binary: str, path: str, index: int) -> list[float]:
    """Mean luma (0-255) of every frame of stream `index`, in decode-output order."""
    done = _run(binary, ["-v", "error", "-i", path, "-map", f"0:{index}", "-fps_mode", "passthrough",
                         "-vf", "scale=8:8,format=gray", "-f", "rawvideo", "-"])
    data = done.stdout
    return [sum(data[i:i + 64]) / 64 for i in range(0, len(data) - 63, 64)]


def pcm(binary: str, path: str, index: int, rate: int = 48000) -> bytes:
    """Stream `index` decoded to mono signed 16-bit samples at `rate`, from its first sample on."""
    done = _run(binary, ["-v", "error", "-i", path, "-map", f"0:{index}", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"])
    return done.stdout
