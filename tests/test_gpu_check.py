"""benchmarks/gpu_check.sh --dry-run: the GPU check's own code (setup, CUDA test selection, the table)
runs on CPU with tiny sizes, so the script is known to work before a GPU machine runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_prints_the_whole_table():
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| what | net | backend | batch | frames/s")
    rows = table[1:]
    assert len([r for r in rows if r.startswith("| model-only | M4C16 x2 |")]) == 4  # eager/compile x batch 1/2
    assert any(r.startswith("| end-to-end 64x36 -> 128x72 | M4C16 x2 |") for r in rows)
    for row in rows:
        fps = row.split("|")[5].strip()
        assert float(fps) > 0, row  # neither failed nor skipped
