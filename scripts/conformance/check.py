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
Allowed, and nothing else: the one start shift a Matroska output gives every stream (it holds no
negative timestamps), AAC packets that differ only by the ADTS header the MP4/Matroska muxer strips,
and converted audio compared as decoded sound, not packets. The checks are scripts/conformance/verify.py.
A run that exits with a one-line `error:` is reported as refused with that line. Inputs longer than
1.5 seconds are cut first to their first second with `ffmpeg -c copy` (so the check stays fast), except
RealMedia, which runs whole (its cut did not decode).

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import probe  # noqa: E402
import torch  # noqa: E402
import torture  # noqa: E402
from verify import MATROSKA, Job, check_frames, verify  # noqa: E402, F401 - check_frames: tests call it here

NATURAL = {".mp4": ".mp4", ".m4v": ".mp4", ".3gp": ".mp4", ".mov": ".mov", ".webm": ".webm"}
CUT_OVER_S = 1.5
NOT_CUT = {".rmvb", ".rm"}  # ffmpeg's RealMedia muxer wrote a head that PyAV's decoder could not read


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
