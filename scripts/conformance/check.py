"""Conformance check: run repsr-video on every corpus file and verify the output with another FFmpeg.

For each input and each output kind it runs `repsr-video IN OUT` (a tiny random-weight x2 preset, CPU,
eager backend: the check is about containers and timing, not pictures), then reads input and output with
an ffmpeg binary that is not PyAV's (Debian's by default) and asserts:
- frames: the same count, and every frame's best-effort timestamp equal to the input's (1 ms when either
  side is Matroska/WebM, which store milliseconds; half a millisecond otherwise);
- audio/subtitle streams: packets byte-identical (size and checksum) at the same times when copied;
  the same start and duration (within 50 ms) when converted; none lost without a note;
- flash-and-beep clips: the audio/video offset measured from the content is the input's (within 2 ms);
- the output decodes without errors;
- .mp4/.mov/.webm outputs play in a common player profile (H.264 up to High 4:2:0 8-bit, HEVC Main/Main 10,
  AV1 Main, VP8, VP9 profile 0/2, with audio a browser decodes).
A run that exits with a one-line `error:` is reported as refused with that line. Inputs longer than
1.5 seconds are cut first to their first second with `ffmpeg -c copy` (so the check stays fast).

    python scripts/conformance/check.py                        # media/conformance/{real,torture}
    python scripts/conformance/check.py FILE... --json out.json --ffmpeg /usr/bin/ffmpeg
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import probe  # noqa: E402
import torch  # noqa: E402
import torture  # noqa: E402

MATROSKA = {".mkv", ".webm"}
NATURAL = {".mp4": ".mp4", ".m4v": ".mp4", ".3gp": ".mp4", ".mov": ".mov", ".webm": ".webm"}
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
CUT_OVER_S = 1.5
NOT_CUT = {".rmvb", ".rm"}  # ffmpeg's RealMedia muxer wrote a head that PyAV's decoder could not read
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


@dataclass
class Result:
    file: str
    kind: str
    output: str
    encoder: str
    result: str  # pass, FAIL, refused
    detail: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def tiny_preset(folder: Path) -> Path:
    """A real preset file (M1C4 x2, fixed random weights): fast, and pictures do not matter here."""
    from repsr_video.network import SRNet
    from repsr_video.train.preset import write_preset

    torch.manual_seed(0)
    return write_preset(SRNet(2, 1, 4), folder, name="conformance-x2", description="conformance check (random weights)")


def duration_of(binary: str, path: Path) -> float | None:
    text = probe._run(binary, ["-i", str(path)]).stderr.decode(errors="replace")
    for line in text.splitlines():
        if "Duration:" in line:
            value = line.split("Duration:")[1].split(",")[0].strip()
            if value != "N/A":
                h, m, s = value.split(":")
                return int(h) * 3600 + int(m) * 60 + float(s)
    return None


def first_second(binary: str, source: Path, folder: Path) -> Path:
    """The first second of `source`, stream-copied into the same kind of file (all streams if possible)."""
    if source.suffix.lower() in NOT_CUT:
        return source
    out = folder / f"{source.stem}.head{source.suffix}"
    for maps in (["-map", "0"], ["-map", "0:v", "-map", "0:a?", "-map", "0:s?"]):
        done = probe._run(binary, ["-v", "error", "-y", "-i", str(source), *maps, "-c", "copy", "-t", "1", str(out)])
        if done.returncode == 0:
            return out
    return source


def jobs_for(binary: str, source: Path, work: Path) -> list[Job]:
    case = next((c for c in torture.CASES if c.name == source.name), None)
    if case is not None:
        pyav, ff, sync, kind = case.outputs, case.ffmpeg_outputs, case.sync, case.covers
        src = source
    else:
        natural = NATURAL.get(source.suffix.lower())
        pyav = (".mkv", natural) if natural else (".mkv",)
        has_audio = any(s.kind == "audio" for s in probe.streams(binary, str(source)))
        ff, sync = ((".mkv",) if has_audio else ()), False
        length = duration_of(binary, source)
        src = first_second(binary, source, work) if length and length > CUT_OVER_S else source
        kind = describe(binary, source) + (" (first 1 s)" if src != source else "")
    return [Job(source, src, s, "pyav", sync, kind) for s in pyav] + [Job(source, src, s, "ffmpeg", sync, kind) for s in ff]


def describe(binary: str, path: Path) -> str:
    parts = [path.suffix.lstrip(".")]
    for s in probe.streams(binary, str(path)):
        parts.append(s.codec if s.kind in ("video", "audio") else s.kind)
    return " ".join(parts)


def run_repsr(job: Job, output: Path, preset: Path) -> tuple[int, str, list[str]]:
    """Run the CLI in this process (through main(argv), as the tests do): (exit code, stderr, warnings).

    `--json` gives the warnings (notes) even where `--quiet` keeps the terminal silent."""
    from repsr_video.cli import main

    speed = "realtime" if job.suffix == ".webm" else "ultrafast"
    argv = [str(job.input), str(output), "--preset", str(preset), "--device", "cpu", "--backend", "eager",
            "--encoder-preset", speed, "--encoder", job.encoder, "--overwrite", "--quiet", "--json"]
    err, out = io.StringIO(), io.StringIO()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a shared 2-core machine two OpenMP threads ran the tiny net 10-40x slower than one
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except Exception as error:  # a crash is a failure of the tool, reported as such
            return 99, f"crash: {type(error).__name__}: {error}", []
        finally:
            torch.set_num_threads(threads)
    try:
        warnings = [w for f in json.loads(out.getvalue())["files"] for w in f.get("warnings", [])]
    except (ValueError, KeyError, TypeError):
        warnings = []
    return code, err.getvalue(), warnings


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


def run_job(binary: str, job: Job, work: Path, preset: Path) -> Result:
    output = work / f"{job.source.stem}.{job.encoder}{job.suffix}"
    started = time.perf_counter()
    code, stderr, warnings = run_repsr(job, output, preset)
    lines = [line for line in stderr.splitlines() if line.strip()]
    notes = [line for line in lines if line.startswith(("warning:", "note:"))] + warnings
    result = Result(job.source.name, job.kind, job.suffix, job.encoder, "pass", notes=notes)
    errors = [line for line in lines if line.startswith("error:")]
    if code != 0:
        one_line = len(errors) == 1 and code == 1
        result.result, result.detail = ("refused", errors[0][7:]) if one_line else ("FAIL", (lines or [f"exit {code}"])[-1])
        result.detail = result.detail.replace(f"{work}/", "")
    else:
        try:
            problems = verify(binary, job, output, "\n".join(notes))
        except Exception as error:  # noqa: BLE001 - an unreadable output is a failure of the run
            problems = [f"output unreadable: {type(error).__name__}: {error}"]
        if problems:
            result.result, result.detail = "FAIL", "; ".join(problems)
    result.seconds = time.perf_counter() - started
    output.unlink(missing_ok=True)
    return result


def default_inputs(root: Path) -> list[Path]:
    real = sorted(p for p in (root / "real").glob("*") if p.name != "manifest.json")
    made = [root / "torture" / c.name for c in torture.CASES if (root / "torture" / c.name).exists()]
    return real + made


def print_table(results: list[Result], out=sys.stdout) -> None:
    rows = [("file", "kind", "out", "encoder", "result", "what differed / why refused")]
    rows += [(r.file[:44], r.kind[:40], r.output, r.encoder, r.result, r.detail) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True)) + " | " + row[5], file=out)
    counts = {k: sum(r.result == k for r in results) for k in ("pass", "refused", "FAIL")}
    print(f"\n{len(results)} runs of {len({r.file for r in results})} files: {counts['pass']} pass, "
          f"{counts['refused']} refused, {counts['FAIL']} FAIL", file=out)


def check_files(inputs: list[Path], binary: str, only_encoder: str | None = None, log=None) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="repsr-conformance-") as tmp:
        work = Path(tmp)
        preset = tiny_preset(work / "preset")
        for source in inputs:
            for job in jobs_for(binary, source, work):
                if only_encoder and job.encoder != only_encoder:
                    continue
                result = run_job(binary, job, work, preset)
                results.append(result)
                if log:
                    line = f"{result.result:7} {result.file} -> {result.output} ({result.encoder}) {result.detail}"
                    print(line, file=log, flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="inputs (default: the gathered corpus and the torture set)")
    parser.add_argument("--root", type=Path, default=Path("media/conformance"), help="corpus folder (default media/conformance)")
    parser.add_argument("--ffmpeg", help="ffmpeg binary to verify with (default: the system's, else imageio-ffmpeg's)")
    parser.add_argument("--encoder", choices=("pyav", "ffmpeg"), help="only runs with this --encoder")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    binary = torture.ffmpeg_binary(args.ffmpeg)
    if shutil.which(binary) is None and not Path(binary).exists():
        parser.error(f"no ffmpeg binary at {binary}")
    inputs = args.files or default_inputs(args.root)
    if not inputs:
        parser.error(f"no inputs: run gather.py and torture.py first (looked in {args.root})")
    results = check_files(inputs, binary, args.encoder, log=sys.stderr)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return 1 if any(r.result == "FAIL" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
