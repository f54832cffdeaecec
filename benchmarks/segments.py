"""Segmented jobs: resume after a SIGKILL, local workers, Ray. Prints a table of wall times and checks.

    python benchmarks/segments.py CLIP [--segment 2] [--backend eager] [--codec ffv1]

Every run is the command a user types (`python -m repsr_video CLIP OUT --segment ...`), timed from
start to exit:
- whole: one uninterrupted run;
- killed + rerun: a run SIGKILLed once half of the frames are in finished segments, then the same
  run again; the rerun's time against the whole run's, and its output against the whole run's
  (decoded frames and pts; use the lossless --codec ffv1 for a pixel comparison);
- --workers 2 against 1, and Ray (a local cluster started by the run, 2 CPUs) against --workers 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from repsr_video.choices import BACKENDS


def _command(args: argparse.Namespace, out: Path, workers: int = 1, ray: str | None = None) -> list[str]:
    """The user's command: repsr-video CLIP OUT ... (as `python -m repsr_video`)."""
    cmd = [sys.executable, "-m", "repsr_video", str(args.clip), str(out), "--device", "cpu", "--segment", str(args.segment)]
    cmd += ["--backend", args.backend, "--codec", args.codec, "--workers", str(workers)]
    cmd += ["--preset", args.preset] if args.preset else []
    return cmd + (["--ray", ray] if ray else [])


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes and the children they waited for:
    unlike wall time, hardly changed by other work on a shared machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str]) -> tuple[float, dict]:
    """Run a command; its seconds and what its closing lines say (frames, segments, resumed)."""
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"run failed: {done.stderr[-2000:]}")
    said = " ".join(done.stderr.split())
    frames = re.search(r"(\d+) frame\(s\)", said)
    segments = re.search(r"(?<!of )(\d+) segment\(s\)(?:; (\d+) were done by an earlier run)?", said)
    resumed = re.search(r"resuming; \d+ of \d+ segment\(s\) \((\d+) frames\)", said)
    return time.perf_counter() - start, {
        "frames": int(frames.group(1)) if frames else 0,
        "segments": int(segments.group(1)) if segments else 1,
        "resumed": int(segments.group(2) or 0) if segments else 0,
        "frames_resumed": int(resumed.group(1)) if resumed else 0,
        "cpu": _children_cpu() - cpu,
    }


def _kill_half_way(cmd: list[str], out: Path, total_frames: int) -> float:
    """Start the run, SIGKILL it once half the frames are in finished segments; returns seconds it ran."""
    folder = out.parent / f".{out.name}.repsr-job"
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    )
    while proc.poll() is None:
        done = 0
        for marker in folder.glob("seg*.done.json"):
            try:
                done += json.loads(marker.read_text())["facts"]["frames"]
            except (OSError, ValueError, KeyError):
                pass
        if done * 2 >= total_frames:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return time.perf_counter() - start
        time.sleep(0.05)
    raise SystemExit("the run finished before it could be killed half-way; use a longer clip or shorter --segment")


def _frames(path: Path) -> tuple[list[float], list[np.ndarray]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pairs = [(float(f.pts * s.time_base), f.to_ndarray(format="rgb24")) for f in c.decode(s)]
    return [round(t, 6) for t, _ in pairs], [img for _, img in pairs]


def _same(a: Path, b: Path) -> str:
    pts_a, img_a = _frames(a)
    pts_b, img_b = _frames(b)
    if pts_a != pts_b:
        return f"pts differ ({len(pts_a)} vs {len(pts_b)} frames)"
    worst = max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(img_a, img_b, strict=True))
    return f"identical ({len(pts_a)} frames, pts equal)" if worst == 0 else f"pts equal, max pixel diff {worst}"


def measure(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="repsr-segbench-"))
    try:
        whole = work / "whole.mkv"
        t_whole, facts = _timed(_command(args, whole))
        rows = [_row("whole run, 1 worker", t_whole, facts, f"{facts['segments']} segments, {facts['frames']} frames", "")]
        killed = work / "killed.mkv"
        t_kill = _kill_half_way(_command(args, killed), killed, facts["frames"])
        rows.append(("SIGKILL at half-way", f"{t_kill:.1f}", "-", "", ""))
        t_rerun, again = _timed(_command(args, killed))
        ratio = f"rerun/whole: wall {t_rerun / t_whole:.2f}, CPU {again['cpu'] / facts['cpu']:.2f}"
        resumed = f"resumed {again['resumed']} segments, {again['frames_resumed']} frames"
        rows.append(_row("same command again", t_rerun, again, resumed, f"{ratio}; {_same(killed, whole)}"))
        two = work / "two.mkv"
        t_two, two_facts = _timed(_command(args, two, workers=2))
        rows.append(
            _row("--workers 2", t_two, two_facts, "", f"wall 1 worker/2 workers = {t_whole / t_two:.2f}x; {_same(two, whole)}")
        )
        if not args.no_ray:
            on_ray = work / "ray.mkv"
            t_ray, ray_facts = _timed(_command(args, on_ray, ray="local"))
            rows.append(
                _row(
                    "Ray, local cluster",
                    t_ray,
                    ray_facts,
                    "",
                    f"wall Ray - workers 2 = {t_ray - t_two:+.1f} s; {_same(on_ray, whole)}",
                )
            )
        _print(args, rows)
        print(overhead(args.clip, args.codec))
        print(cut_cost(args.clip, args.segment))
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Nearest:
    """A trivial upscaler: isolates what segments add (index, segment file, join) from the model's cost."""

    scale, batch = 2, 4

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(frames, 2, axis=1), 2, axis=2)


def overhead(clip: Path, codec: str) -> str:
    """What the segmented path adds to a one-segment run: the index pass and the join (remux) pass."""
    from repsr_video.jobs import JobSettings, run_job
    from repsr_video.jobs.index import index_video
    from repsr_video.output_plan import EncodeSettings

    start = time.perf_counter()
    index_video(clip)
    t_index = time.perf_counter() - start
    marks: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        run_job(
            clip,
            Path(folder) / "one.mkv",
            engine=_Nearest(),
            encode=EncodeSettings(codec=codec),
            job=JobSettings(segment_seconds=1e6),
            progress=lambda e: marks.append(time.perf_counter()),
        )
        end = time.perf_counter()
    t_join = end - marks[-1]  # from the segment's marker to the published output
    return (
        f"one-segment overhead on this clip: index {t_index * 1000:.0f} ms, join + publish {t_join * 1000:.0f} ms "
        f"(whole run with a trivial upscaler: {end - start:.1f} s)"
    )


def cut_cost(clip: Path, segment: float) -> str:
    """Output size with --segment SECONDS against one segment (libx264 defaults): what the extra IDR frames cost."""
    from repsr_video.jobs import JobSettings, run_job

    sizes = {}
    with tempfile.TemporaryDirectory() as folder:
        for seconds in (1e6, segment):
            out = Path(folder) / f"{seconds}.mkv"
            result = run_job(clip, out, engine=_Nearest(), job=JobSettings(segment_seconds=seconds))
            sizes[seconds] = (out.stat().st_size, result.segments)
    (one, _), (cut, count) = sizes[1e6], sizes[segment]
    return f"libx264 output size, {count} segments vs 1: {cut / one - 1:+.2%} ({cut} vs {one} bytes)"


def _row(name: str, seconds: float, facts: dict, work: str, check: str) -> tuple[str, str, str, str, str]:
    return name, f"{seconds:.1f}", f"{facts['cpu']:.1f}", work, check


def _print(args: argparse.Namespace, rows: list[tuple[str, str, str, str, str]]) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"clip {args.clip}, --segment {args.segment}, backend {args.backend}, codec {args.codec}, {os.cpu_count()} CPUs, "
        f"load average at the end {load}; CPU = user+system seconds of the command and the workers it waited for "
        "(Ray's own processes are not counted)"
    )
    head = ("run", "wall s", "CPU s", "work", "check")
    widths = [max(len(r[i]) for r in [*rows, head]) for i in range(5)]
    for row in [head, *rows]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", type=Path)
    parser.add_argument("--segment", type=float, default=2.0, help="segment seconds (short, so a short clip has several)")
    parser.add_argument("--backend", default="eager", choices=BACKENDS)
    parser.add_argument("--codec", default="ffv1", help="ffv1 (lossless) lets the check compare pixels")
    parser.add_argument("--preset", help="preset name or TOML (default: the default x2 preset)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray row")
    measure(parser.parse_args())


if __name__ == "__main__":
    main()
