"""One table of what the CUDA path does: model-only fps, end-to-end fps and peak GPU memory.

    python benchmarks/gpu_check.py                 # on a CUDA machine (benchmarks/gpu_check.sh runs it)
    python benchmarks/gpu_check.py --dry-run       # the same code on CPU, tiny sizes, a few frames

Model-only rows: the engine's own backends (eager, and compile = Inductor + CUDA graphs) on uint8
frames already on the GPU, random weights of each size (speed does not depend on their values),
1920x1080 in, x2, fp16, batch 1/4/8; frames/s is frames / wall time after warm-up, synchronised.
End-to-end rows: `repsr_video.bench.run_bench` on a generated 1080p H.264 clip, 1080p -> 4K, with
the engine's default backend and PyAV's libx264 (its own encoder threads on the CPU cores), once with
the YUV path forced on (4:2:0 planes cross to the GPU and are converted there; the CUDA default) and
once off (swscale converts to and from RGB on the CPU); the backend column says which (`yuv on`/`off`)
and whether the run took it.
Peak memory is torch.cuda.max_memory_allocated over each row (0 on CPU).
Rows that would start after --budget seconds are listed as skipped, so the table always prints.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from repsr_video.backends import compiled  # noqa: E402
from repsr_video.backends.compiled import CompiledBackend  # noqa: E402
from repsr_video.backends.eager import EagerBackend  # noqa: E402
from repsr_video.backends.graph import FrameGraph, Residual  # noqa: E402
from repsr_video.network import SRNet, parse_size  # noqa: E402

SIZES = ("M4C16", "M8C32", "M16C64")
BATCHES = (1, 4, 8)
BACKENDS = ("eager", "compile")


@dataclass(frozen=True)
class Plan:
    device: torch.device
    precision: torch.dtype
    width: int
    height: int
    frames: int  # timed frames per model-only row
    clip_frames: int  # frames of the end-to-end clip
    budget: float  # seconds after which no new row starts
    sizes: tuple[str, ...] = SIZES
    batches: tuple[int, ...] = BATCHES
    end_to_end_sizes: tuple[str, ...] = ("M4C16", "M8C32")
    yuv_modes: tuple[str, ...] = ("on", "off")  # EncodeSettings.yuv_path per end-to-end row
    end_to_end_backend: str = "auto"  # the dry run: eager torch, which has the YUV path (OpenVINO has not)


def make_plan(dry_run: bool, budget: float) -> Plan:
    if dry_run:  # every code path once, few compiles (each takes seconds on a small CPU)
        return Plan(torch.device("cpu"), torch.float32, 64, 36, 4, 6, budget, ("M4C16",), (1, 2), ("M4C16",),
                    end_to_end_backend="eager")
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check: torch sees no CUDA GPU (use --dry-run to check the script on CPU)")
    return Plan(torch.device("cuda"), torch.float16, 1920, 1080, 64, 240, budget)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mb(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0


def build_backend(net: SRNet, backend: str, plan: Plan):
    """The engine's residual -> FrameGraph -> backend chain for uint8 frames, as the engine builds it."""
    residual = Residual(net).eval().requires_grad_(False)
    residual = residual.to(device=plan.device, dtype=plan.precision, memory_format=torch.channels_last)
    eager = EagerBackend({torch.uint8: FrameGraph(residual, net.scale, plan.precision, torch.uint8, 255.0)})
    return eager if backend == "eager" else CompiledBackend(eager, plan.device)


def model_only(size: str, backend: str, batch: int, plan: Plan) -> tuple[float, float, str]:
    """(frames/s, peak MB, note) for one row."""
    torch.manual_seed(0)
    run = build_backend(SRNet(2, *parse_size(size)).eval(), backend, plan)
    frames = torch.randint(0, 256, (batch, plan.height, plan.width, 3), dtype=torch.uint8, device=plan.device)
    _reset_peak(plan.device)
    with compiled.compiling_at_once():
        for _ in range(3):  # compile (compile rows) and let cuDNN pick its kernels
            run(frames)
    _sync(plan.device)
    calls = max(1, plan.frames // batch)
    start = time.perf_counter()
    for _ in range(calls):
        run(frames)
    _sync(plan.device)
    fps = calls * batch / (time.perf_counter() - start)
    return fps, _peak_mb(plan.device), run.note if backend == "compile" and run.failed else ""


def make_clip(path: Path, width: int, height: int, frames: int) -> None:
    """A moving gradient with noise, H.264 yuv420p: enough detail that the encoder works for real."""
    import av

    rng = np.random.default_rng(0)
    ramp = (np.arange(width + frames * 4, dtype=np.uint16)[None, :] * 255 // (width + frames * 4)).astype(np.uint8)
    noise = rng.integers(0, 24, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(frames):
            shifted = np.repeat(ramp[:, i * 4 : i * 4 + width], height, axis=0)
            rgb = np.stack([shifted, shifted[::-1], np.roll(shifted, i, axis=1)], axis=2) // 2 + noise
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def end_to_end(size: str, plan: Plan, workdir: Path, yuv: str) -> tuple[str, float, float, str]:
    """(stage fps summary, end-to-end fps, peak MB, engine description) over a generated clip, with the
    YUV path set to `yuv` ("on"/"off"); the description says whether it was taken."""
    from repsr_video.bench import run_bench
    from repsr_video.engine import EngineSettings, create_engine_for_network
    from repsr_video.jobs.runner import read_video_info
    from repsr_video.output_plan import EncodeSettings, plan_output
    from repsr_video.yuv_path import yuv_layout

    clip = workdir / f"clip_{plan.width}x{plan.height}.mp4"
    if not clip.exists():
        make_clip(clip, plan.width, plan.height, plan.clip_frames)
    torch.manual_seed(0)
    settings = EngineSettings(device=plan.device.type, backend=plan.end_to_end_backend)  # type: ignore[arg-type]
    engine = create_engine_for_network(SRNet(2, *parse_size(size)).eval(), settings)
    encode = EncodeSettings(preset="veryfast", yuv_path=yuv)  # type: ignore[arg-type]
    taken = yuv_layout(engine, info := read_video_info(clip), plan_output(info, 2, workdir / "probe.mp4", encode))
    _reset_peak(plan.device)
    report = run_bench(clip, engine, frames=plan.clip_frames, encode=encode, workdir=workdir)
    stages = ", ".join(f"{s.stage} {s.fps:.1f}" for s in report.stages if s.stage != "end-to-end")
    path = f"yuv {yuv}" + ("" if (taken is not None) == (yuv == "on") else " (not taken)")
    return stages, report.end_to_end.fps, _peak_mb(plan.device), f"{report.engine}, {path}"


def describe_machine(device: torch.device) -> str:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU (dry run)"
    return (f"{gpu}; torch {torch.__version__}, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPU cores; input {'' if device.type == 'cuda' else 'tiny '}frames")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="run on CPU with tiny sizes and few frames")
    parser.add_argument("--budget", type=float, default=330.0, help="seconds after which no new row starts")
    args = parser.parse_args(argv)
    plan = make_plan(args.dry_run, args.budget)
    started = time.perf_counter()
    rows: list[str] = []

    def over_budget() -> bool:
        return time.perf_counter() - started > plan.budget

    for size in plan.sizes:
        for backend in BACKENDS:
            for batch in plan.batches:
                graphs = " + CUDA graphs" if backend == "compile" and plan.device.type == "cuda" else ""
                label = f"| model-only | {size} x2 | {backend}{graphs} | {batch} |"
                if over_budget():
                    rows.append(f"{label} skipped (time budget) | | |")
                    continue
                try:
                    fps, peak, note = model_only(size, backend, batch, plan)
                    rows.append(f"{label} {fps:.1f} | {peak:.0f} | {note} |")
                except Exception as error:  # noqa: BLE001 - one failing row must not hide the others
                    rows.append(f"{label} failed | | {type(error).__name__}: {str(error).splitlines()[0][:120]} |")
                print(rows[-1], file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="repsr-gpu-check-") as tmp:
        for size, yuv in [(size, yuv) for size in plan.end_to_end_sizes for yuv in plan.yuv_modes]:
            label = f"| end-to-end {plan.width}x{plan.height} -> {plan.width * 2}x{plan.height * 2} | {size} x2 |"
            if over_budget():
                rows.append(f"{label} default, yuv {yuv} | auto | skipped (time budget) | | |")
                continue
            try:
                stages, fps, peak, engine = end_to_end(size, plan, Path(tmp), yuv)
                rows.append(f"{label} {engine} | auto | {fps:.1f} | {peak:.0f} | stages alone: {stages} |")
            except Exception as error:  # noqa: BLE001
                rows.append(f"{label} default, yuv {yuv} | auto | failed | | "
                            f"{type(error).__name__}: {str(error).splitlines()[0][:120]} |")
            print(rows[-1], file=sys.stderr, flush=True)
    print(f"GPU check: {describe_machine(plan.device)} {plan.width}x{plan.height}; "
          f"{time.perf_counter() - started:.0f} s")
    print("| what | net | backend | batch | frames/s | peak GPU MB | notes |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
