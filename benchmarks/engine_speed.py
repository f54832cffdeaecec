"""Engine frames/s on CPU or GPU for each backend/precision, uint8 frames in and out.

    python benchmarks/engine_speed.py --size M4C16 --scale 2 --width 640 --height 360

"plain net" is the bare SRNet in fp32 NCHW on float tensors (no conversions), the baseline that
every engine variant must beat. Engine rows include the uint8 <-> float conversions. Weights are
random unless --preset is given: speed does not depend on their values. Prints the median of
--repeats timed runs of --frames frames each (variants interleaved), after warm-up (compilation included in "warm-up s").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

# As the CLI does: idle OpenMP threads sleep rather than spin (the 2 cores here are shared).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from repsr_video.backends import compiled  # noqa: E402
from repsr_video.engine import EngineSettings, create_engine_for_network  # noqa: E402
from repsr_video.network import SRNet, parse_size  # noqa: E402

VARIANTS = {  # name -> (backend, precision)
    "eager fp32": ("eager", "fp32"),
    "eager bf16": ("eager", "bf16"),
    "compile fp32": ("compile", "fp32"),
    "compile bf16": ("compile", "bf16"),
    "eager fp16": ("eager", "fp16"),
    "compile fp16": ("compile", "fp16"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="M4C16")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--preset", help="use this preset's net instead of random weights")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=0)
    parser.add_argument("--frames", type=int, default=8, help="frames per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variants", nargs="+", choices=["plain net", *VARIANTS],
                        default=["plain net", "eager fp32", "eager bf16", "compile fp32", "compile bf16"])
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    if args.preset:
        from repsr_video.preset import load_preset

        net = load_preset(args.preset).build_network()
    else:
        net = SRNet(args.scale, *parse_size(args.size)).eval()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (args.frames, args.height, args.width, 3), dtype=np.uint8)
    runners = []  # (variant, ran as, batch, warm-up s, notes, run-one-timed-pass)
    for variant in args.variants:
        if variant == "plain net":
            x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255).contiguous()

            def plain(x=x):
                with torch.inference_mode():
                    for i in range(args.frames):
                        net(x[i : i + 1])

            start = time.perf_counter()
            with torch.inference_mode():
                net(x[:1])
            runners.append([variant, "fp32 NCHW", 1, time.perf_counter() - start, "", plain])
            continue
        backend, precision = VARIANTS[variant]
        settings = EngineSettings(device=args.device, backend=backend, batch=args.batch)
        engine = create_engine_for_network(net, settings, precision=precision)
        start = time.perf_counter()
        with compiled.compiling_at_once():  # the compiled backend compiles now, then one compiled call
            for _ in range(2):
                engine.upscale(frames[: engine.batch])
        warm = time.perf_counter() - start
        runners.append([variant, f"{engine.backend} {engine.precision}", engine.batch, warm, "; ".join(engine.notes),
                        lambda engine=engine: engine.upscale(frames)])
    # Round-robin: the machine is shared, so each variant sees the same mix of quiet and busy moments.
    rates: dict[str, list[float]] = {r[0]: [] for r in runners}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        for variant, *_rest, run in runners:
            begin = time.perf_counter()
            run()
            rates[variant].append(args.frames / (time.perf_counter() - begin))
    rows = [(v, ran, b, w, statistics.median(rates[v]), max(rates[v]), n) for v, ran, b, w, n, _ in runners]

    print(f"{args.size} x{args.scale}, {args.width}x{args.height} input, device {args.device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.repeats} x {args.frames} frames")
    print(f"load average (1 min) before {load_before:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"{'variant':14} {'ran as':14} {'batch':>5} {'warm-up s':>9} {'median fps':>10} {'best fps':>9}  notes")
    for variant, ran_as, batch, warm, fps, best, notes in rows:
        print(f"{variant:14} {ran_as:14} {batch:5d} {warm:9.1f} {fps:10.1f} {best:9.1f}  {notes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
