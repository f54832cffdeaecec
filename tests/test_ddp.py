"""`repsr-video train` under torchrun: two processes, DistributedDataParallel over gloo on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from repsr_video.preset import load_preset
from train_images import write_images

ROOT = Path(__file__).resolve().parents[1]


def test_two_process_gloo_training_writes_one_checked_preset(tmp_path):
    data = write_images(tmp_path / "data", count=4)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "repsr_video", "train", "--data", str(data), "--scale", "2", "--name", "ddp", "--size", "M1C4",
        "--iters", "6", "--batch-size", "2", "--patch", "16", "--out", str(out), "--device", "cpu", "--quiet",
        "--freeze-bn-at", "0.5",
    ]
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    preset = load_preset(out / "ddp.toml")
    assert preset.recipe["world_size"] == 2
    assert preset.recipe["bn_frozen_at_iteration"] == 3
    assert preset.recipe["merge_max_abs_error"] <= 1e-4
    state = torch.load(out / "ddp.ckpt", map_location="cpu", weights_only=True)
    assert state["iteration"] == 6
    # the checkpoint holds the plain module's weights (not DDP's "module." names), so it resumes anywhere
    assert all(not key.startswith("module.") for key in state["model"])
    assert list(out.glob("*.partial*")) == []
