"""Measure the shipped presets and print the README's preset table.

    python scripts/measure_presets.py [--presets presets] [--images docs/images] [--frames 24]
                                      [--compare NAME=IMAGE ...]

For every preset in --presets: the CPU frames/s of the engine as a user gets it (default settings:
OpenVINO where installed, else the torch compile; 640x360 RGB frames in, after warm-up), written into
the TOML's quality.cpu_fps; a
side-by-side comparison PNG (bicubic | preset | original) on the given held-out image (its LR
H.264-compressed for a preset trained with --degrade video); then a
markdown table of every preset (size, scale, mean/worst PSNR-Y gain over bicubic as measured by
`repsr-video train` on held-out images, CPU speed).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np

from repsr_video.backends.compiled import compiling_at_once
from repsr_video.engine import EngineSettings, create_engine
from repsr_video.preset import Preset, read_preset
from repsr_video.preset_writer import write_preset_files
from repsr_video.train.evaluate import load_eval_pictures, write_compare

WIDTH, HEIGHT = 640, 360


def cpu_fps(preset, frames: int) -> tuple[float, str]:
    engine = create_engine(preset, EngineSettings(device="cpu"))
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, HEIGHT, WIDTH, 3), dtype=np.uint8)
    with compiling_at_once():  # the torch compile backend compiles this shape now, not after its threshold
        for _ in range(3):
            engine.upscale(frame)
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        engine.upscale(frame)
        times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times), f"{engine.backend}/{engine.precision}"


def record_cpu_fps(preset: Preset, fps: float) -> Preset:
    """Write the preset's TOML again with quality.cpu_fps set; returns it read back."""
    measured = dataclasses.replace(preset, quality=dataclasses.replace(preset.quality, cpu_fps=round(fps, 1)))
    return write_preset_files(preset.path.parent, measured.to_table(), preset.weights_path.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="presets")
    parser.add_argument("--images", default="docs/images")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--compare", nargs="*", default=[], metavar="NAME=IMAGE")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    compare = dict(item.split("=", 1) for item in args.compare)
    rows = []
    for toml_path in sorted(Path(args.presets).glob("*.toml")):
        preset = read_preset(toml_path)
        if not args.skip_speed:
            fps, how = cpu_fps(preset, args.frames)
            preset = record_cpu_fps(preset, fps)
            print(f"{preset.name}: {fps:.1f} frames/s at {WIDTH}x{HEIGHT} on CPU ({how})", flush=True)
        if preset.name in compare:
            degrade = "video" if preset.recipe.get("degrade") == "video" else "bicubic"  # its use: compressed input
            picture = load_eval_pictures([compare[preset.name]], preset.scale, degrade)[0]
            out = Path(args.images) / f"{preset.name}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            write_compare(preset.build_network(), picture, preset.scale, out)
            print(f"{preset.name}: comparison {out}", flush=True)
        q = preset.quality
        rows.append(
            f"| {preset.name}{' (default)' if preset.default else ''} | x{preset.scale} | {preset.size} | "
            f"{q.eval_set} | {q.mean_gain_db:+.2f} | {q.worst_gain_db:+.2f} | "
            f"{'-' if q.cpu_fps is None else f'{q.cpu_fps:.1f}'} | {'-' if q.gpu_fps is None else f'{q.gpu_fps:.1f}'} |"
        )
    print("\n| preset | scale | size | held-out images | mean gain (dB) | worst gain (dB) | CPU fps 640x360 | GPU fps 1080p |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
