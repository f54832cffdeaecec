"""What start-up costs: imports, the compile backend's warm-up, and the default against eager and compile as a user runs it.

    python benchmarks/startup.py                  # image + 3-s clip, 3 interleaved repeats
    python benchmarks/startup.py --clip-seconds 3 20 --repeats 2

Every figure is a fresh process, as a user's run is:
- "import torch" and "import torch._inductor": what a process pays before any work, and what the
  compile backend adds the moment it touches Inductor;
- "compile, cold cache" / "warm cache": one M4C16 x2 640x360 shape at the engine's default precision,
  compiled at once (compiling_at_once) in a process with an empty Inductor cache folder, then again
  in a new process with that folder filled; the eager first call is subtracted;
- "import openvino": what the default CPU runtime (OpenVINO, where installed) pays instead of torch;
- "repsr-video IMAGE OUT" and "repsr-video CLIP OUT" (generated 640x360 H.264 clips), the default backend
  (auto: OpenVINO on CPU where installed) against --backend eager and --backend compile, wall time of
  the whole command, repeats interleaved (order rotating).
The Inductor cache of the CLI rows is the user's own (warm after the first run), as in real use.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import os, sys, time
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
start = time.perf_counter()
import numpy as np, torch
sys.path.insert(0, {root!r})
from repsr_video.backends import compiled
from repsr_video.engine import EngineSettings, create_engine_for_network
from repsr_video.network import SRNet
torch.manual_seed(0)
net = SRNet(2, 4, 16).eval()
frames = np.random.default_rng(0).integers(0, 256, (1, 360, 640, 3), dtype=np.uint8)
eager = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager"))
t = time.perf_counter(); eager.upscale(frames); eager_first = time.perf_counter() - t
engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="compile"))
t = time.perf_counter()
with compiled.compiling_at_once():
    engine.upscale(frames)
print(time.perf_counter() - t - eager_first, engine.backend)
"""


def seconds_of(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, timeout=1800)
    return time.perf_counter() - start


def import_times(repeats: int) -> list[tuple[str, list[float]]]:
    py = sys.executable
    torch_only = [seconds_of([py, "-c", "import torch"]) for _ in range(repeats)]
    with_inductor = [seconds_of([py, "-c", "import torch, torch._inductor.config"]) for _ in range(repeats)]
    rows = [("import torch", torch_only), ("import torch + torch._inductor", with_inductor)]
    try:
        rows.append(("import openvino", [seconds_of([py, "-c", "import openvino"]) for _ in range(repeats)]))
    except subprocess.CalledProcessError:
        print("startup: openvino is not installed, its row is left out", file=sys.stderr)
    return rows


def compile_times(repeats: int) -> list[tuple[str, list[float]]]:
    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="repsr-inductor-") as cache:
            env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
            for bucket in (cold, warm):
                out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(ROOT))], env=env, check=True,
                                     capture_output=True, text=True, timeout=1800)
                seconds, backend = out.stdout.split()[-2:]
                if backend != "compile":
                    raise SystemExit(f"startup: the probe ran {backend}, not compile: {out.stderr[-500:]}")
                bucket.append(float(seconds))
    return [("compile M4C16 x2 640x360, cold Inductor cache", cold), ("same, warm Inductor cache", warm)]


def make_clip(path: Path, seconds: float, width: int = 640, height: int = 360, fps: int = 30) -> None:
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i * 3, axis=1), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def cli_times(clip_seconds: list[float], repeats: int, workdir: Path, backends: list[str]) -> list[tuple[str, list[float]]]:
    import numpy as np
    from PIL import Image

    image = workdir / "image.png"
    y, x = np.mgrid[0:360, 0:640]
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)).save(image)
    inputs = [("repsr-video IMAGE OUT (640x360 png)", image, ".png")]
    for seconds in clip_seconds:
        clip = workdir / f"clip{seconds:g}.mp4"
        make_clip(clip, seconds)
        inputs.append((f"repsr-video CLIP OUT ({seconds:g} s, 640x360, 30 fps)", clip, ".mp4"))
    results: dict[str, list[float]] = {}
    for round_number in range(repeats):
        for label, source, suffix in inputs:
            shift = round_number % len(backends)  # each backend takes each place in turn: no order bias
            for backend in backends[shift:] + backends[:shift]:
                out = workdir / f"out{suffix}"
                command = [sys.executable, "-m", "repsr_video", str(source), str(out), "--overwrite", "--quiet",
                           "--backend", backend, "--device", "cpu"]
                results.setdefault(f"{label}, backend {backend}", []).append(seconds_of(command))
    return list(results.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clip-seconds", type=float, nargs="*", default=[3.0])
    parser.add_argument("--skip-compile", action="store_true", help="leave out the cold/warm compile rows (slow)")
    parser.add_argument("--backends", nargs="+", default=["auto", "eager", "compile"],
                        help="backends of the CLI rows (auto is OpenVINO on CPU where installed)")
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    rows = import_times(args.repeats)
    if not args.skip_compile:
        rows += compile_times(max(1, args.repeats - 1))
    with tempfile.TemporaryDirectory(prefix="repsr-startup-") as tmp:
        rows += cli_times(args.clip_seconds, args.repeats, Path(tmp), args.backends)
    from repsr_video.engine import cpu_bf16_instructions

    bf16 = cpu_bf16_instructions()
    print(f"{os.cpu_count()} cores, {'with' if bf16 else 'without'} bf16 instructions; "
          f"load average (1 min) before {load:.1f}, after {os.getloadavg()[0]:.1f}; seconds, median of {args.repeats}")
    print("| what | median s | min s | max s |")
    print("|---|---|---|---|")
    for label, values in rows:
        print(f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
