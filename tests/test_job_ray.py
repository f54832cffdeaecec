"""Segments as Ray tasks on a local cluster: same output as local workers, GPU scheduling with logical
GPUs, and a worker killed mid-segment is retried harmlessly. Skipped where Ray is not installed (it is
the optional `ray` extra; CI installs it)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from job_helpers import NearestFactory, decoded, gop_clip
from repsr_video.jobs import JobSettings, job_dir_for, run_job
from repsr_video.output_plan import EncodeSettings

ray = pytest.importorskip("ray", reason='Ray is the optional extra: pip install "repsr-video[ray]"')

LOSSLESS = EncodeSettings(codec="ffv1")
TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module: 2 CPUs and 2 logical GPUs (no real GPU is needed to schedule them)."""
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    ray.init(
        num_cpus=2,
        num_gpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_WAIT_POLICY": "PASSIVE"}},
    )
    yield
    ray.shutdown()


def _same_frames(a: Path, b: Path) -> bool:
    pts_a, img_a = decoded(a)
    pts_b, img_b = decoded(b)
    return pts_a == pts_b and all(np.array_equal(x, y) for x, y in zip(img_a, img_b, strict=True))


def test_ray_tasks_give_the_same_output_and_use_one_gpu_each(cluster, tmp_path):
    clip = gop_clip(tmp_path / "c.mkv", frames=60, keyint=10, audio_tracks=1)
    pids = tmp_path / "pids"
    pids.mkdir()
    local, on_ray = tmp_path / "local.mkv", tmp_path / "ray.mkv"
    run_job(clip, local, NearestFactory(), encode=LOSSLESS, job=JobSettings(segment_seconds=0.4, workers=2))
    result = run_job(
        clip,
        on_ray,
        NearestFactory(device="cuda", pid_folder=str(pids)),
        encode=LOSSLESS,
        job=JobSettings(segment_seconds=0.4, ray_address="auto"),
    )
    assert result.segments == 6 and _same_frames(local, on_ray)
    seen = {p.read_text() for p in pids.iterdir()}
    # each task got one of the two logical GPUs (Ray sets CUDA_VISIBLE_DEVICES) and used it as cuda:0
    assert all(s.startswith("cuda:0 ") for s in seen) and {s.split()[1] for s in seen} <= {"0", "1"}


def test_a_worker_killed_mid_segment_is_retried(cluster, tmp_path):
    clip = gop_clip(tmp_path / "c.mkv", frames=80, keyint=10)
    out = tmp_path / "ray.mkv"
    folder = job_dir_for(out)
    killed: list[int] = []

    def kill_one_mid_segment() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            partial = list(folder.glob(".seg*.partial.nut")) if folder.exists() else []
            if partial:  # a segment is being written: its writer's pid is in the name
                pid = int(partial[0].name.split(".")[2])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_mid_segment)
    killer.start()
    result = run_job(
        clip, out, NearestFactory(delay=0.02), encode=LOSSLESS, job=JobSettings(segment_seconds=0.8, ray_address="auto")
    )
    killer.join()
    assert killed, "no segment was seen in progress"
    assert result.segments == 4 and result.frames == 80
    reference = tmp_path / "local.mkv"
    run_job(clip, reference, NearestFactory(), encode=LOSSLESS, job=JobSettings(segment_seconds=0.8))
    assert _same_frames(out, reference)
