"""Signals on the real command: SIGINT, SIGTERM and SIGHUP at any moment clean up, exit 128+N, print no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from media_factory import make_video
from repsr_video.signals import Interrupted, describe, exit_code

MODULE = [sys.executable, "-m", "repsr_video"]
SCRIPT = [str(Path(sys.executable).parent / "repsr-video")]  # the console script, as installed
WORKING = "working"  # send the signal once the partial output exists, i.e. mid-encoding


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("signals") / "in.mp4", frames=60, width=320, height=240)


def wait_for_partial(folder: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until the run writes beside its output: a partial file, or a segmented job's state folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(".partial" in p.name or p.name.endswith(".repsr-job") for p in folder.iterdir()):
            time.sleep(0.5)  # some frames in
            return
        time.sleep(0.02)
    raise AssertionError("the run never started writing")


def left_behind(out_dir: Path) -> list[str]:
    """What must not survive an interrupted run: the output, or any partial file (also inside a job's
    state folder). The job folder itself, with its finished segments, is kept on purpose: the same
    command resumes from it (docs/segments.md)."""
    return sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.name == "big.mp4" or ".partial" in p.name)


def wait_for_handlers(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until the command catches SIGTERM, i.e. its first statement has run. Before that only CPython's
    own start-up runs (~0.03 s idle, up to ~0.1 s on a loaded machine), where no code of ours can help."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if caught >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.002)
    raise AssertionError("the command never installed its signal handlers")


def shell_status(returncode: int) -> int:
    """What a shell reports: a process killed by signal N (Python: -N) shows as 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def run_and_signal(
    tmp_path: Path, clip: Path, signums: list[int], when: float | str, *extra: str, command: list[str] = MODULE
) -> tuple[int, str, Path]:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    command = [*command, str(clip), str(out_dir / "big.mp4"), "--device", "cpu", "--backend", "eager", *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for_handlers(proc)
    if when == WORKING:
        wait_for_partial(out_dir, proc)
    else:
        time.sleep(float(when))
    for signum in signums:
        proc.send_signal(signum)
        time.sleep(0.05)
    _, stderr = proc.communicate(timeout=180)
    return shell_status(proc.returncode), stderr, out_dir


CASES = [  # seconds after the command's first statement: loading torch, PyAV and the CLI takes ~1.5 s
    (signal.SIGINT, 0.0),
    (signal.SIGINT, 0.3),
    (signal.SIGINT, 0.8),
    (signal.SIGINT, 1.5),
    (signal.SIGTERM, 0.1),
    (signal.SIGTERM, 1.0),
    (signal.SIGHUP, 0.5),
    (signal.SIGINT, WORKING),
    (signal.SIGTERM, WORKING),
    (signal.SIGHUP, WORKING),
]


@pytest.mark.parametrize(("signum", "when"), CASES, ids=[f"{signal.Signals(s).name}-{w}" for s, w in CASES])
def test_a_signal_at_any_moment_cleans_up_without_traceback(tmp_path, clip, signum, when):
    code, stderr, out_dir = run_and_signal(tmp_path, clip, [signum], when)
    assert "Traceback" not in stderr, stderr
    assert code == 128 + signum, stderr
    assert left_behind(out_dir) == []


@pytest.mark.parametrize(("signum", "when"), [(signal.SIGINT, 0.2), (signal.SIGTERM, WORKING)])
def test_the_console_script_behaves_the_same(tmp_path, clip, signum, when):
    if not Path(SCRIPT[0]).exists():
        pytest.skip("the package is not installed with its console script here")
    code, stderr, out_dir = run_and_signal(tmp_path, clip, [signum], when, command=SCRIPT)
    assert "Traceback" not in stderr, stderr
    assert code == 128 + signum, stderr
    assert left_behind(out_dir) == []


def test_a_second_signal_does_not_cut_the_clean_up_short(tmp_path, clip):
    code, stderr, out_dir = run_and_signal(tmp_path, clip, [signal.SIGINT, signal.SIGTERM, signal.SIGINT], WORKING)
    assert "Traceback" not in stderr, stderr
    assert code in (130, 143)  # 143: the SIGTERM came after clean-up, while the interpreter shut down
    assert left_behind(out_dir) == []


def test_sigterm_with_the_ffmpeg_encoder_leaves_no_truncated_file(tmp_path, clip):
    code, stderr, out_dir = run_and_signal(tmp_path, clip, [signal.SIGTERM], WORKING, "--encoder", "ffmpeg")
    assert "Traceback" not in stderr, stderr
    assert code == 143
    assert left_behind(out_dir) == []


def test_exit_codes_and_words():
    assert exit_code(KeyboardInterrupt()) == 130
    assert exit_code(Interrupted(signal.SIGTERM)) == 143 and describe(Interrupted(signal.SIGTERM)) == "terminated"
    assert exit_code(Interrupted(signal.SIGHUP)) == 129 and describe(Interrupted(signal.SIGHUP)) == "hung up"
    assert isinstance(Interrupted(signal.SIGTERM), KeyboardInterrupt)  # every Ctrl-C clean-up path handles it
