"""Local worker processes: same output as one worker, and no worker outlives the main process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from job_helpers import NearestFactory, decoded, gop_clip
from repsr_video.jobs import JobSettings, job_dir_for, run_job
from repsr_video.jobs.workers import WorkerError
from repsr_video.output_plan import EncodeSettings

LOSSLESS = EncodeSettings(codec="ffv1")
TESTS = Path(__file__).parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its new parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_two_workers_give_the_same_output_as_one(tmp_path):
    clip = gop_clip(tmp_path / "c.mkv", frames=60, keyint=10, audio_tracks=1)
    one, two = tmp_path / "one.mkv", tmp_path / "two.mkv"
    pids = tmp_path / "pids"
    pids.mkdir()
    run_job(clip, one, NearestFactory(), encode=LOSSLESS, job=JobSettings(segment_seconds=0.4))
    seen = []
    result = run_job(
        clip,
        two,
        # slow on purpose (1 s a segment): one worker must not finish all six before the other has started
        NearestFactory(delay=0.1, pid_folder=str(pids)),
        encode=LOSSLESS,
        job=JobSettings(segment_seconds=0.4, workers=2),
        progress=seen.append,
    )
    assert result.segments == 6 and result.frames == 60
    assert len(list(pids.iterdir())) == 2 and str(os.getpid()) not in os.listdir(pids)  # two worker processes
    pts_one, img_one = decoded(one)
    pts_two, img_two = decoded(two)
    assert pts_one == pts_two and all(np.array_equal(a, b) for a, b in zip(img_one, img_two, strict=True))
    assert seen[-1].frames_done == 60 and seen[-1].segments_done == 6
    assert [e.frames_done for e in seen] == sorted(e.frames_done for e in seen)  # one display across workers


def _start_job(tmp_path: Path, clip: Path, pids: Path) -> subprocess.Popen:
    script = textwrap.dedent(f"""
        from pathlib import Path
        from job_helpers import NearestFactory
        from repsr_video.jobs import JobSettings, run_job
        run_job(Path({str(clip)!r}), Path({str(tmp_path / "out.mkv")!r}),
                NearestFactory(delay=0.05, pid_folder={str(pids)!r}), job=JobSettings(segment_seconds=0.4, workers=2))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True)


def test_sigkill_of_the_main_process_takes_the_workers_down(tmp_path):
    clip = gop_clip(tmp_path / "c.mkv", frames=200, keyint=10)
    pids = tmp_path / "pids"
    pids.mkdir()
    main = _start_job(tmp_path, clip, pids)
    try:
        assert _wait_for(lambda: len(list(pids.iterdir())) == 2, 60), "workers did not start"
        workers = [int(p.name) for p in pids.iterdir()]
        assert all(_alive(pid) for pid in workers)
        main.send_signal(signal.SIGKILL)
        main.wait(10)
        assert _wait_for(lambda: not any(_alive(pid) for pid in workers), 5), "a worker outlived the main process"
    finally:
        main.kill()
        main.wait()
    assert job_dir_for(tmp_path / "out.mkv").exists()  # the saved work stays for a resume


def test_a_killed_worker_fails_the_run_and_the_rerun_resumes(tmp_path):
    clip = gop_clip(tmp_path / "c.mkv", frames=120, keyint=10)
    pids = tmp_path / "pids"
    pids.mkdir()
    main = _start_job(tmp_path, clip, pids)
    folder = job_dir_for(tmp_path / "out.mkv")
    try:
        assert _wait_for(lambda: len(list(folder.glob("seg*.done.json"))) >= 2, 60)
        os.kill(int(next(pids.iterdir()).name), signal.SIGKILL)
        _, stderr = main.communicate(timeout=60)
    finally:
        main.kill()
        main.wait()
    assert main.returncode != 0 and "WorkerError: a worker process was killed by signal 9" in stderr
    result = run_job(clip, tmp_path / "out.mkv", NearestFactory(), job=JobSettings(segment_seconds=0.4, workers=2))
    assert result.segments_resumed >= 2 and result.frames == 120


def test_a_failing_worker_reports_its_error_in_one_line(tmp_path):
    clip = gop_clip(tmp_path / "c.mkv", frames=40, keyint=10)
    with pytest.raises(WorkerError, match=r"c.mkv: upscaling failed at frame \d+ \(ZeroDivisionError"):
        run_job(clip, tmp_path / "out.mkv", _Broken(), job=JobSettings(segment_seconds=0.4, workers=2))


class _Broken(NearestFactory):
    def __call__(self, device=None):
        engine = super().__call__(device)
        engine.upscale = lambda frames: 1 / 0
        return engine
