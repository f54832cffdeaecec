"""Our engine against the other CPU runtimes on the same weights and the same uint8 frames.

    pip install -e ".[bench]"        # onnxruntime, openvino, onnx, onnxscript
    python benchmarks/cpu_runtimes.py                      # the 4 general presets, 960x540 in
    python benchmarks/cpu_runtimes.py --presets general-x2 --rounds 7

Every runner takes one (H,W,3) uint8 RGB frame and returns the (sH,sW,3) uint8 frame, so the
uint8 <-> float conversions are part of every figure:
- "engine ..." is repsr_video's engine (batch 1, as the CLI runs on CPU); "auto" is what the CLI
  runs by default (the OpenVINO backend where openvino is installed), "compile" its Inductor backend
  (compiled before timing); "default" is the engine's default precision on this CPU.
- "torch eager fp32" is the plain SRNet module in NCHW fp32, conversions in torch.
- ONNX Runtime and OpenVINO run an ONNX export of the whole merged net (skip included), float NCHW
  in and out, with the conversions in numpy. OpenVINO also gets the conversion built into its
  graph (uint8 NHWC in through its PrePostProcessor) where that is faster; the faster form is shown.
  OpenVINO's "f32" pins INFERENCE_PRECISION_HINT=f32; its "default" lets it pick (bf16 on CPUs
  with bf16 instructions).
Rounds are interleaved (every runner once per round, in turn), so a shared machine's busy moments
hit all runners alike; the table gives the median frames/s, and the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI does

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from repsr_video.backends import compiled
from repsr_video.engine import (
    Engine,
    EngineSettings,
    cpu_bf16_instructions,
    cpu_has_native_bf16,
    create_engine_for_network,
)
from repsr_video.network import SRNet
from repsr_video.preset import load_preset

Runner = Callable[[np.ndarray], np.ndarray]
PRESETS = ("general-x2-fast", "general-x2", "general-x4-fast", "general-x4")
RUNNERS = ("torch eager fp32", "engine compile fp32", "engine auto fp32", "engine compile default",
           "engine auto default", "onnxruntime fp32", "openvino f32", "openvino default")


def cpu_description() -> str:
    model = platform.processor() or "unknown CPU"
    flags: list[str] = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", "unknown CPU", "x86_64"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                break
    except OSError:
        pass
    bf16 = cpu_bf16_instructions()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {os.cpu_count()} cores, {isa}, {'with' if bf16 else 'without'} bf16 instructions"


# --- conversions shared by the non-engine runners ---------------------------------------------


def to_nchw(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)


def to_frame(image: np.ndarray) -> np.ndarray:
    """(1,3,H,W) float in [0,1] -> (H,W,3) uint8, rounded as the engine rounds."""
    levels = np.rint(np.clip(image[0], 0.0, 1.0) * 255.0)
    return np.ascontiguousarray(levels.transpose(1, 2, 0)).astype(np.uint8)


# --- runners ----------------------------------------------------------------------------------


def torch_eager(net: SRNet) -> Runner:
    def run(frame: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.from_numpy(frame).permute(2, 0, 1)[None].float().div(255).contiguous()
            y = net(x).clamp(0, 1).mul(255).round().to(torch.uint8)
            return y[0].permute(1, 2, 0).contiguous().numpy()

    return run


def engine_runner(net: SRNet, backend: str, precision: str | None) -> tuple[Runner, Engine]:
    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend=backend, batch=1), precision=precision)
    return (lambda frame: engine.upscale(frame[None])[0]), engine


def export_onnx(net: SRNet, shape: tuple[int, ...], path: Path) -> None:
    """The whole merged net (skip included), fixed shape, float32 NCHW in and out."""
    example = torch.zeros(shape)
    try:
        import onnxscript  # noqa: F401 - the torch.export-based exporter needs it

        torch.onnx.export(net, (example,), str(path), dynamo=True, verbose=False)
    except ImportError:
        torch.onnx.export(net, (example,), str(path), dynamo=False, opset_version=17)


def onnxruntime_runner(onnx_path: Path) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda frame: to_frame(session.run(None, {name: to_nchw(frame)})[0])


def openvino_runner(onnx_path: Path, hint: str | None, frame: np.ndarray, rounds: int) -> tuple[Runner, str]:
    """The faster of: numpy conversions around the float net, or uint8 NHWC in through OpenVINO's
    own preprocessing (the conversion fused into its graph)."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": torch.get_num_threads()}
    if hint:
        config["INFERENCE_PRECISION_HINT"] = hint
    plain = core.compile_model(core.read_model(str(onnx_path)), "CPU", config)
    request = plain.create_infer_request()

    def run_plain(f: np.ndarray) -> np.ndarray:
        return to_frame(request.infer({0: to_nchw(f)})[0])

    model = core.read_model(str(onnx_path))
    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).scale(255.0).convert_layout(ov.Layout("NCHW"))
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    fused = core.compile_model(ppp.build(), "CPU", config)
    fused_request = fused.create_infer_request()

    def run_fused(f: np.ndarray) -> np.ndarray:
        return to_frame(fused_request.infer({0: f[None]})[0])

    forms = {"numpy conversions": run_plain, "u8 NHWC preprocessing": run_fused}
    label = min(forms, key=lambda k: _seconds(forms[k], frame, rounds))
    return forms[label], label


def _seconds(run: Runner, frame: np.ndarray, repeats: int) -> float:
    run(frame)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(frame)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --- the table --------------------------------------------------------------------------------


def build_runners(net: SRNet, frame: np.ndarray, names: list[str], workdir: Path) -> dict[str, tuple[Runner, str]]:
    """name -> (runner, what it ran as); a runner that cannot be built is reported and skipped."""
    shape = (1, 3, *frame.shape[:2])
    onnx_path = workdir / "net.onnx"
    out: dict[str, tuple[Runner, str]] = {}
    for name in names:
        start = time.perf_counter()
        try:
            if name == "torch eager fp32":
                out[name] = (torch_eager(net), "NCHW fp32")
            elif name.startswith("engine"):
                run, engine = engine_runner(net, name.split()[1], "fp32" if name.endswith("fp32") else None)
                with compiled.compiling_at_once():
                    run(frame)  # compiles now; timing starts after it
                out[name] = (run, f"{engine.backend} {engine.precision}")
            else:
                if not onnx_path.exists():
                    export_onnx(net, shape, onnx_path)
                if name == "onnxruntime fp32":
                    out[name] = (onnxruntime_runner(onnx_path), "fp32")
                else:
                    hint = "f32" if name == "openvino f32" else None
                    run, form = openvino_runner(onnx_path, hint, frame, 2)
                    out[name] = (run, f"{hint or 'default'}, {form}")
        except ImportError as error:
            print(f"  {name}: skipped ({error})", file=sys.stderr)
            continue
        print(f"  {name}: ready in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return out


def measure(runners: dict[str, tuple[Runner, str]], frame: np.ndarray, rounds: int, frames: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {name: [] for name in runners}
    for run, _ in runners.values():
        run(frame)  # warm caches and allocators before the first timed round
    for _ in range(rounds):
        for name, (run, _) in runners.items():
            start = time.perf_counter()
            for _ in range(frames):
                run(frame)
            rates[name].append(frames / (time.perf_counter() - start))
    return rates


def check_agreement(runners: dict[str, tuple[Runner, str]], frame: np.ndarray) -> str:
    """Max difference in levels from torch eager fp32, so a fast wrong runner shows."""
    if "torch eager fp32" not in runners:
        return ""
    reference = runners["torch eager fp32"][0](frame).astype(np.int16)
    parts = []
    for name, (run, _) in runners.items():
        if name != "torch eager fp32":
            parts.append(f"{name} {int(np.abs(run(frame).astype(np.int16) - reference).max())}")
    return "max |difference| from torch eager fp32, levels: " + ", ".join(parts)


RATIOS = (("engine auto fp32", "openvino f32"), ("engine auto default", "openvino default"),
          ("engine compile fp32", "openvino f32"), ("engine compile default", "openvino default"),
          ("engine compile fp32", "torch eager fp32"))


def ratio_table(table: list) -> str:
    """Median over rounds of the per-round speed ratio: on a shared machine a busy moment slows both
    runners of a round, so the ratio is steadier than either median."""
    pairs = [(a, b) for a, b in RATIOS if all(a in row[3] and b in row[3] for row in table)]
    lines = ["| net | " + " | ".join(f"{a} / {b}" for a, b in pairs) + " |", "|---|" + "---|" * len(pairs)]
    for label, _, _, rates, _ in table:
        cells = [f"{statistics.median(x / y for x, y in zip(rates[a], rates[b], strict=True)):.2f}x" for a, b in pairs]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--runners", nargs="+", default=list(RUNNERS), choices=RUNNERS)
    parser.add_argument("--width", type=int, default=960)
    parser.add_argument("--height", type=int, default=540)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median taken)")
    parser.add_argument("--frames", type=int, default=3, help="frames per runner per round")
    args = parser.parse_args(argv)

    frame = np.random.default_rng(0).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    print(f"CPU: {cpu_description()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"engine default precision on CPU: {'bf16' if cpu_has_native_bf16() else 'fp32'}")
    print(f"{args.width}x{args.height} uint8 in, batch 1, median of {args.rounds} interleaved rounds x {args.frames} frames")
    table = []
    for name in args.presets:
        preset = load_preset(name)
        net = preset.build_network()
        print(f"{name}: building runners", file=sys.stderr)
        with tempfile.TemporaryDirectory() as workdir:
            runners = build_runners(net, frame, args.runners, Path(workdir))
            load = os.getloadavg()[0]
            rates = measure(runners, frame, args.rounds, args.frames)
            print(f"  {check_agreement(runners, frame)}", file=sys.stderr)
        table.append((f"{name} ({preset.size} x{preset.scale})", load, os.getloadavg()[0], rates,
                      {n: r[1] for n, r in runners.items()}))
    names = [n for n in args.runners if any(n in row[3] for row in table)]
    print("| net | load before/after | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label, before, after, rates, _ in table:
        cells = [f"{statistics.median(rates[n]):.2f}" if n in rates else "-" for n in names]
        print(f"| {label} | {before:.1f}/{after:.1f} | " + " | ".join(cells) + " |")
    print(ratio_table(table))
    print("ran as: " + "; ".join(f"{n} = {a}" for n, a in table[-1][4].items()))
    print("spread (min-max fps): " + "; ".join(
        f"{label.split()[0]} {n} {min(r[n]):.2f}-{max(r[n]):.2f}" for label, _, _, r, _ in table for n in r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
