"""OpenVINO backend for CPUs: the whole per-batch computation as one OpenVINO graph per frame shape.

Why it exists: on CPU, OpenVINO runs the same oneDNN convolutions with PReLU fused into them as a
post-op, where PyTorch (eager or Inductor) runs PReLU as its own pass over the feature map, and its
convolutions were slower on 32-channel nets (benchmarks/cpu_runtimes.py, docs/speed.md). It also has
no warm-up tax: the graph is written directly from the weights (no tracing, no ONNX file) and
compiles in well under a second, so images and short clips get the fast path too.

The graph is what the torch engine's FrameGraph computes: integer NHWC frames in, the net, the
nearest-neighbour skip, rounding and clamping, integer NHWC frames out, plus an all-finite flag for
the engine's fp32 retry. The skip
is taken from the integer frames (nearest-neighbour of integers is exact), so with bf16 inference
only the residual runs in bf16, as in the torch backends. Shapes are static per frame size (a video
compiles one graph; a compile costs about 0.05 s for M8C32 at 960x540).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any

import numpy as np

from ..errors import EngineError
from ..plain_net import PlainNet

PRECISION_HINTS: dict[str, str] = {"fp32": "f32", "bf16": "bf16"}  # engine precision -> OpenVINO hint


def openvino_problem(precision: str | None = None) -> str | None:
    """Why the OpenVINO backend cannot run here (None when it can); cheap: nothing is imported."""
    if precision is not None and precision not in PRECISION_HINTS:
        return f"the openvino backend runs {' or '.join(PRECISION_HINTS)}, not {precision}"
    if importlib.util.find_spec("openvino") is None:
        return "OpenVINO is not installed (pip install 'repsr-video[openvino]')"
    return None


def default_threads() -> int:
    """OMP_NUM_THREADS where set (the CLI's --threads and worker processes set it, for torch too), else one
    per core this process may use (OpenVINO's own default counts physical cores, half of them on SMT VMs)."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _ops() -> Any:
    try:
        import openvino.opset13 as ops
    except ImportError:  # OpenVINO before 2025 kept the opsets under openvino.runtime
        import openvino.runtime.opset13 as ops
    return ops


def build_model(net: PlainNet, shape: tuple[int, ...], frame_type: type) -> Any:
    """The OpenVINO model of `net` on integer (N,H,W,3) frames of `frame_type` (uint8 or uint16)
    -> ((N,sH,sW,3) upscaled frames of the same type, all_finite)."""
    import openvino as ov

    ops = _ops()
    element, full_scale = (ov.Type.u8, 255.0) if frame_type is np.uint8 else (ov.Type.u16, 65535.0)
    frames = ops.parameter(list(shape), element, name="frames")
    nchw = ops.constant(np.array([0, 3, 1, 2], dtype=np.int64))
    features = ops.transpose(ops.multiply(ops.convert(frames, ov.Type.f32), ops.constant(np.float32(1 / full_scale))), nchw)
    for weight, bias, slopes in net.layers():
        features = ops.add(ops.convolution(features, ops.constant(weight), [1, 1], [1, 1], [1, 1], [1, 1]),
                           ops.constant(bias.reshape(1, -1, 1, 1)))
        if slopes is not None:
            features = ops.prelu(features, ops.constant(slopes))
    # pixel_shuffle is DepthToSpace in "depth_first" (CRD) order
    residual = ops.convert(ops.depth_to_space(features, "depth_first", net.scale), ov.Type.f32)
    finite = ops.reduce_logical_and(ops.is_finite(residual), ops.constant(np.array([0, 1, 2, 3], dtype=np.int64)))
    # The skip from the integer frames themselves: exact, and never rounded to bf16.
    integers = frames if element == ov.Type.u8 else ops.convert(frames, ov.Type.i32)  # Interpolate takes no u16
    scales = ops.constant(np.array([net.scale, net.scale], dtype=np.float32))
    skip = ops.interpolate(integers, scales, "nearest", "scales", axes=ops.constant(np.array([1, 2], dtype=np.int64)),
                           nearest_mode="floor", coordinate_transformation_mode="asymmetric")
    levels = ops.add(ops.multiply(residual, ops.constant(np.float32(full_scale))),
                     ops.transpose(ops.convert(skip, ov.Type.f32), nchw))
    levels = ops.clamp(ops.round(levels, "half_to_even"), 0.0, full_scale)
    # The sum in NCHW, then the integers to NHWC: transposing the float residual to NHWC first cost 4x
    # the whole net at x4 (M4C16 960x540 in: 0.88 s against 0.15 s), and numpy's transpose of the
    # integer result was slower than OpenVINO's (0.19 s).
    nhwc = ops.constant(np.array([0, 2, 3, 1], dtype=np.int64))
    return ov.Model([ops.transpose(ops.convert(levels, element), nhwc), finite], [frames], "repsr")


@functools.cache
def shared_core() -> Any:
    """The process's one OpenVINO Core. Each Core loads its own CPU plugin, and the plugin swaps in an
    alternate signal stack for the thread that creates it, giving back the one it found when it is
    destroyed. Plugins destroyed out of creation order left the thread on an unmapped stack: the next
    Python signal handler (SIGCHLD of a finished subprocess, SIGTERM) then killed the process with
    SIGSEGV (seen in the test process, which builds many engines). One Core, kept for the process, has
    one plugin that is never destroyed early."""
    import openvino as ov

    return ov.Core()


class OpenVINORunner:
    """Runs (N,H,W,3) uint8/uint16 frames through `net`: one compiled graph per (shape, dtype), built at
    its first batch, in one precision ("fp32" or "bf16")."""

    def __init__(self, net: PlainNet, precision: str, threads: int) -> None:
        self._net = net
        self._core = shared_core()
        self._config = {
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._requests: dict[tuple, Any] = {}

    def _request(self, shape: tuple[int, ...], frame_type: type) -> Any:
        key = (shape, frame_type)
        if key not in self._requests:
            model = build_model(self._net, shape, frame_type)
            self._requests[key] = self._core.compile_model(model, "CPU", self._config).create_infer_request()
        return self._requests[key]

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, bool]:
        """(upscaled frames, whether the residual was finite everywhere)."""
        frames = np.ascontiguousarray(frames)
        try:
            result = self._request(frames.shape, frames.dtype.type).infer({0: frames})  # outputs are copies
        except RuntimeError as error:  # OpenVINO reports memory and plugin failures as RuntimeError
            n, h, w, _ = frames.shape
            detail = (str(error).strip().splitlines() or ["no detail"])[0]
            raise EngineError(f"OpenVINO could not upscale {n} {w}x{h} frame(s): {detail} (try --tile N or "
                              "--backend compile)") from None
        return np.asarray(result[0]), bool(result[1])
