"""Tiling and memory: working bytes per output pixel, tiled-vs-untiled differences, and big frames end to end.

    python benchmarks/tile_memory.py per-pixel            # measured vs repsr_video.budget's estimate
    python benchmarks/tile_memory.py seams --tile 128     # max |tiled - untiled| per preset and precision
    python benchmarks/tile_memory.py big --side 8000      # peak RSS of `repsr-video` on an 8000x8000 PNG, x2 and x4

per-pixel: each row runs in a fresh process (the allocator keeps freed memory, so a warm process
under-reports); the peak RSS rise of one upscale of a W x W frame (after a 64x64 warm-up), taken at
two sizes, gives the bytes per output pixel as the slope. CPU: VmHWM reset through
/proc/self/clear_refs; CUDA: torch.cuda.max_memory_allocated.

big: runs the real command under /usr/bin/time -v with the default memory budget and reports its
maximum resident set size, wall time and the tile the engine chose.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CHILD = r"""
import json, sys
import numpy as np, torch
from repsr_video.engine import EngineSettings, create_engine_for_network
from repsr_video.network import SRNet
blocks, channels, scale, precision, side, device = sys.argv[1:]
blocks, channels, scale, side = int(blocks), int(channels), int(scale), int(side)
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
engine = create_engine_for_network(SRNet(scale, blocks, channels).eval(),
                                   EngineSettings(device=device, backend="eager", tile=0), precision=precision)
engine.upscale(np.zeros((1, 64, 64, 3), np.uint8))
frames = np.random.default_rng(0).integers(0, 256, (1, side, side, 3), dtype=np.uint8)
if device == "cpu":
    open("/proc/self/clear_refs", "w").write("5")
    before = status("VmRSS:")
    out = engine.upscale(frames)
    peak = status("VmHWM:") - before
else:
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    out = engine.upscale(frames)
    peak = torch.cuda.max_memory_allocated() - before
print(json.dumps({"peak": peak}))
"""


def _peak(blocks: int, channels: int, scale: int, precision: str, side: int, device: str) -> int:
    args = [sys.executable, "-c", CHILD, str(blocks), str(channels), str(scale), precision, str(side), device]
    run = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])["peak"]


def per_pixel(args: argparse.Namespace) -> None:
    from repsr_video.budget import bytes_per_output_pixel

    precisions = ["fp32", "bf16"] if args.device == "cpu" else ["fp32", "fp16"]
    print(f"device {args.device}; eager engine, uint8 frames; sizes {args.small} and {args.large} px square")
    print("| net | scale | precision | measured B/out px | estimate B/out px |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        blocks, channels = (int(v) for v in re.fullmatch(r"M(\d+)C(\d+)", size).groups())
        for scale in (2, 4):
            for precision in precisions:
                low = _peak(blocks, channels, scale, precision, args.small, args.device)
                high = _peak(blocks, channels, scale, precision, args.large, args.device)
                slope = (high - low) / ((args.large**2 - args.small**2) * scale * scale)
                estimate = bytes_per_output_pixel(channels, scale)
                print(f"| {size} | x{scale} | {precision} | {slope:.0f} | {estimate:.0f} |", flush=True)


def seams(args: argparse.Namespace) -> None:
    import numpy as np

    from repsr_video.engine import EngineSettings, create_engine_for_network
    from repsr_video.preset import load_preset

    rng = np.random.default_rng(1)
    y, x = np.mgrid[0 : args.height, 0 : args.width]
    smooth = (np.stack([x / args.width, y / args.height, (x + y) / (args.width + args.height)], -1) * 255)
    frames = np.clip(smooth + rng.normal(0, 20, smooth.shape), 0, 255).astype(np.uint8)[None]
    print(f"{args.width}x{args.height} frame (gradient + noise), tiles of {args.tile} px; device {args.device}, eager")
    print("| preset | precision | max abs diff | pixels that differ |")
    print("|---|---|---|---|")
    for name in args.presets:
        preset = load_preset(name)
        for precision in (["fp32", "bf16"] if args.device == "cpu" else ["fp32", "fp16"]):
            net = preset.build_network()
            whole = create_engine_for_network(net, EngineSettings(device=args.device, backend="eager", tile=0),
                                              precision=precision)
            tiled = create_engine_for_network(net, EngineSettings(device=args.device, backend="eager", tile=args.tile),
                                              precision=precision)
            a, b = whole.upscale(frames), tiled.upscale(frames)
            diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
            differ = f"{np.count_nonzero(diff.any(-1))} of {diff.shape[1] * diff.shape[2]}"
            print(f"| {name} | {precision} | {int(diff.max())} | {differ} |", flush=True)


def big(args: argparse.Namespace) -> None:
    import numpy as np
    from PIL import Image

    folder = Path(tempfile.mkdtemp(prefix="repsr-big-"))
    source = folder / f"big{args.side}.png"
    y, x = np.mgrid[0 : args.side, 0 : args.side].astype(np.float32)
    rgb = np.stack([x / args.side, y / args.side, 0.5 + 0.5 * np.sin((x + y) / 50)], -1) * 255
    Image.fromarray(rgb.astype(np.uint8)).save(source, compress_level=1)
    del rgb, x, y
    print(f"{args.side}x{args.side} PNG; `repsr-video` defaults (memory budget, backend auto), device cpu; "
          f"MemAvailable before: {_mem_available() / 1e9:.1f} GB")
    print("| scale | preset | tile chosen | peak RSS (GB) | wall s | exit |")
    print("|---|---|---|---|---|---|")
    for scale in args.scales:
        out = folder / f"out-x{scale}.png"
        plan = subprocess.run([sys.executable, "-m", "repsr_video", str(source), str(out), "-s", str(scale), "--device", "cpu",
                               "--dry-run", "--json"], capture_output=True, text=True)
        tile = json.loads(plan.stdout)["files"][0]["tile"] if plan.returncode == 0 else "?"
        start = time.perf_counter()
        run = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "repsr_video", str(source), str(out), "-s", str(scale),
                              "--device", "cpu", "-q"], capture_output=True, text=True)
        wall = time.perf_counter() - start
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)) * 1024
        preset = json.loads(plan.stdout)["preset"] if plan.returncode == 0 else "?"
        print(f"| x{scale} | {preset} | {tile} | {rss / 1e9:.2f} | {wall:.0f} | {run.returncode} |", flush=True)
        out.unlink(missing_ok=True)
    source.unlink()
    folder.rmdir()


def _mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("per-pixel", help="measured working bytes per output pixel vs the estimate")
    p.add_argument("--sizes", nargs="+", default=["M4C16", "M8C32"])
    p.add_argument("--small", type=int, default=256)
    p.add_argument("--large", type=int, default=768)
    p.add_argument("--device", default="cpu")
    s = sub.add_parser("seams", help="max |tiled - untiled| per preset and precision")
    s.add_argument("--presets", nargs="+", default=["general-x2-fast", "general-x2", "general-x4-fast", "general-x4"])
    s.add_argument("--tile", type=int, default=128)
    s.add_argument("--width", type=int, default=701)
    s.add_argument("--height", type=int, default=523)
    s.add_argument("--device", default="cpu")
    b = sub.add_parser("big", help="peak RSS of the command on a big PNG")
    b.add_argument("--side", type=int, default=8000)
    b.add_argument("--scales", type=int, nargs="+", default=[2, 4])
    args = parser.parse_args(argv)
    {"per-pixel": per_pixel, "seams": seams, "big": big}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
