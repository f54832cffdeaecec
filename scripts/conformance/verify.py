"""Verify one conformance output against its input with an independent ffmpeg/ffprobe (probe.py):
frame count and timestamps, copied and converted streams, audio/video sync of flash-and-beep clips,
a clean decode, and a common player profile. check.py runs the jobs and prints the table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import probe  # noqa: E402

MATROSKA = {".mkv", ".webm"}
PLAYABLE_VIDEO = {  # (codec, profile word, pix_fmts) players decode in .mp4/.mov and .webm
    ".mp4": {"h264": ({"Constrained Baseline", "Baseline", "Main", "High"}, {"yuv420p", "yuvj420p"}),
             "hevc": ({"Main", "Main 10"}, {"yuv420p", "yuv420p10le"}),
             "av1": ({"Main"}, {"yuv420p", "yuv420p10le"})},
    ".webm": {"vp9": ({"Profile 0", "Profile 2"}, {"yuv420p", "yuv420p10le"}), "vp8": (set(), {"yuv420p"}),
              "av1": ({"Main"}, {"yuv420p", "yuv420p10le"})},
}
PLAYABLE_VIDEO[".mov"] = PLAYABLE_VIDEO[".mp4"]
PLAYABLE_AUDIO = {".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "flac", "opus"}, ".webm": {"opus", "vorbis"}}
PLAYABLE_AUDIO[".mov"] = PLAYABLE_AUDIO[".mp4"] | {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_f32le", "pcm_u8"}
CONVERTED_TOLERANCE = Fraction(1, 20)
SYNC_TOLERANCE_S = 0.002


@dataclass
class Job:
    source: Path  # the corpus file
    input: Path  # what repsr-video reads (the source, or its first second)
    suffix: str
    encoder: str
    sync: bool = False
    kind: str = ""


def _tolerance(job: Job) -> Fraction:
    matroska = job.suffix in MATROSKA or job.input.suffix.lower() in MATROSKA
    return Fraction(1, 1000) if matroska else Fraction(1, 2000)


def matroska_shift(binary: str, job: Job, ins: list[probe.StreamInfo], outs: list[probe.StreamInfo]) -> Fraction:
    """Matroska holds no negative timestamps: its muxer moves every stream later by the same amount
    (AAC priming in MP4, B-frame delay), as ffmpeg's own remux does. That shift is allowed, nothing else.
    It comes from the video and the copied streams (a converted stream starts where its encoder says)."""
    if job.suffix not in MATROSKA:
        return Fraction(0)
    kept = [s for s in ins if s.kind == "video" or any(o.kind == s.kind and o.codec == s.codec for o in outs)]
    starts = [_first(probe.packets(binary, str(job.input), s.index)) for s in kept if s.kind in ("video", "audio", "subtitle")]
    earliest = min((t for t in starts if t is not None), default=Fraction(0))
    return max(Fraction(0), -earliest)


def check_frames(binary: str, job: Job, output: Path, vin: int, vout: int, shift: Fraction = Fraction(0)) -> list[str]:
    a, b = probe.frames(binary, str(job.input), vin), probe.frames(binary, str(output), vout)
    a = [probe.Entry(None if x.pts is None else x.pts + shift, x.duration, x.size, x.crc) for x in a]
    problems = []
    if len(a) != len(b):
        problems.append(f"{len(b)} frames, input has {len(a)}")
    tol = _tolerance(job)
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x.pts is None or y.pts is None or abs(x.pts - y.pts) > tol:
            off = "" if x.pts is None or y.pts is None else f" ({float(y.pts - x.pts) * 1000:+.1f} ms)"
            problems.append(f"frame {i} at {_s(y.pts)} s, input {_s(x.pts)} s{off}")
            break
    return problems


def _s(t: Fraction | None) -> str:
    return "none" if t is None else f"{float(t):.4f}"


def check_stream(
    binary: str, job: Job, output: Path, sin: probe.StreamInfo, sout: probe.StreamInfo, shift: Fraction = Fraction(0)
) -> list[str]:
    name = f"{sin.kind} #{sin.index}"
    a, b = probe.packets(binary, str(job.input), sin.index), probe.packets(binary, str(output), sout.index)
    a = [probe.Entry(None if x.pts is None else x.pts + shift, x.duration, x.size, x.crc) for x in a]
    if not a:
        return []
    if sin.codec == sout.codec:  # copied: the same bytes at the same times
        if len(a) != len(b):
            return [f"{name}: {len(b)} packets, input has {len(a)}"]
        tol = _tolerance(job)
        adts = sin.codec == "aac" and a[0].size - b[0].size in (7, 9)  # the muxer drops ADTS headers (aac_adtstoasc)
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if (x.size, x.crc) != (y.size, y.crc) and not (adts and x.size - y.size in (7, 9)):
                return [f"{name}: packet {i} differs"]
            if x.pts is not None and (y.pts is None or abs(x.pts - y.pts) > tol):
                return [f"{name}: packet {i} at {_s(y.pts)} s, input {_s(x.pts)} s"]
        return []
    if sin.kind == "subtitle":  # MP4 fills gaps between cues with empty samples: not cues
        b = [e for e in b if e.size > 2]
    else:  # converted audio: compare what plays (decoded, encoder delay and priming removed), not packets
        a, b = probe.frames(binary, str(job.input), sin.index), probe.frames(binary, str(output), sout.index)
        a = [probe.Entry(None if x.pts is None else x.pts + shift, x.duration, x.size, x.crc) for x in a]
    start_a, start_b = _first(a), _first(b)  # converted: same start and length
    len_a, len_b = _span(a), _span(b)
    problems = []
    if start_a is not None and (start_b is None or abs(start_a - start_b) > CONVERTED_TOLERANCE):
        problems.append(f"{name} ({sin.codec}->{sout.codec}) starts at {_s(start_b)} s, input {_s(start_a)} s")
    if abs(len_a - len_b) > CONVERTED_TOLERANCE:
        problems.append(f"{name} ({sin.codec}->{sout.codec}) lasts {float(len_b):.3f} s, input {float(len_a):.3f} s")
    return problems


def _first(entries: list[probe.Entry]) -> Fraction | None:
    times = [e.pts for e in entries if e.pts is not None]
    return min(times) if times else None


def _span(entries: list[probe.Entry]) -> Fraction:
    timed = [e for e in entries if e.pts is not None]
    if not timed:
        return Fraction(0)
    return max(e.pts + e.duration for e in timed) - min(e.pts for e in timed)


def av_offset(binary: str, path: Path, vindex: int, aindex: int) -> float | None:
    """Mean (flash time - beep time) in seconds, measured from the pictures and the sound."""
    times = [float(f.pts) for f in probe.frames(binary, str(path), vindex) if f.pts is not None]
    lumas = probe.gray_frames(binary, str(path), vindex)
    flashes = [t for t, y in zip(times, lumas, strict=False) if y > 200]
    audio = probe.frames(binary, str(path), aindex)
    if not flashes or not audio or audio[0].pts is None:
        return None
    start, rate, samples = float(audio[0].pts), 48000, probe.pcm(binary, str(path), aindex)
    beeps, quiet = [], rate  # a beep starts where the level rises after at least 0.1 s of silence
    for i in range(0, len(samples) // 2):
        level = abs(int.from_bytes(samples[2 * i:2 * i + 2], "little", signed=True))
        if level > 3000:
            if quiet >= rate // 10:
                beeps.append(start + i / rate)
            quiet = 0
        else:
            quiet += 1
    if not beeps:
        return None
    offsets = [f - min(beeps, key=lambda b: abs(b - f)) for f in flashes]
    return sum(offsets) / len(offsets)


def check_playable(out_streams: list[probe.StreamInfo], suffix: str) -> list[str]:
    if suffix not in PLAYABLE_VIDEO:
        return []
    problems = []
    video = next(s for s in out_streams if s.kind == "video")
    allowed = PLAYABLE_VIDEO[suffix].get(video.codec)
    if allowed is None:
        problems.append(f"{video.codec} video is not commonly playable in {suffix}")
    else:
        profiles, pix_fmts = allowed
        if (profiles and video.profile not in profiles) or video.pix_fmt not in pix_fmts:
            problems.append(f"{video.codec} {video.profile or ''} {video.pix_fmt} is not commonly playable".replace("  ", " "))
    for s in out_streams:
        if s.kind == "audio" and s.codec not in PLAYABLE_AUDIO[suffix]:
            problems.append(f"{s.codec} audio is not commonly playable in {suffix}")
    return problems


def verify(binary: str, job: Job, output: Path, notes: str) -> list[str]:
    ins, outs = probe.streams(binary, str(job.input)), probe.streams(binary, str(output))
    vin = next(s for s in ins if s.kind == "video" and not s.attached_pic)
    vout = next((s for s in outs if s.kind == "video"), None)
    if vout is None:
        return ["no video stream in the output"]
    shift = matroska_shift(binary, job, ins, outs)
    if shift:  # the shift is allowed, not required: a muxer that keeps negative timestamps (ffmpeg -copyts) is exact
        first_in = _first(probe.frames(binary, str(job.input), vin.index))
        first_out = _first(probe.frames(binary, str(output), vout.index))
        if first_in is not None and first_out is not None and abs(first_out - first_in) < abs(first_out - first_in - shift):
            shift = Fraction(0)
    problems = check_frames(binary, job, output, vin.index, vout.index, shift)
    for kind in ("audio", "subtitle"):
        a = [s for s in ins if s.kind == kind]
        b = [s for s in outs if s.kind == kind]
        for sin, sout in zip(a, b, strict=False):
            problems += check_stream(binary, job, output, sin, sout, shift)
        if len(b) < len(a) and f"{kind}" not in notes:
            problems.append(f"{len(a) - len(b)} {kind} stream(s) left out without a note")
    if job.sync:
        aout = next((s for s in outs if s.kind == "audio"), None)
        ain = next((s for s in ins if s.kind == "audio"), None)
        if aout and ain:
            before, after = av_offset(binary, job.input, vin.index, ain.index), av_offset(binary, output, vout.index, aout.index)
            if before is None or after is None:
                problems.append("flash/beep not found")
            elif abs(after - before) > SYNC_TOLERANCE_S:
                problems.append(f"A/V offset {after * 1000:+.1f} ms, input {before * 1000:+.1f} ms")
    errors = [e for e in probe.decode_errors(binary, str(output), "v") if not e.startswith("[null @")]
    if errors:
        problems.append(f"decode errors: {errors[0][:80]}")
    return problems + check_playable(outs, job.suffix)
