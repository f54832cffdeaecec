"""OpenVINO backend for CPUs: the whole per-batch computation as one OpenVINO graph per frame shape.

Why it exists: on CPU, OpenVINO runs the same oneDNN convolutions with PReLU fused into them as a
post-op, where PyTorch (eager or Inductor) runs PReLU as its own pass over the feature map, and its
convolutions were slower on 32-channel nets (benchmarks/cpu_runtimes.py, docs/speed.md). It also has
no warm-up tax: the graph is written directly from the weights (no tracing, no ONNX file) and
compiles in well under a second, so images and short clips get the fast path too.

The graph is the FrameGraph's: integer NHWC frames in, the net, the nearest-neighbour skip, rounding
and clamping, integer NHWC frames out, plus an all-finite flag for the engine's fp32 retry. The skip
is taken from the integer frames (nearest-neighbour of integers is exact), so with bf16 inference
only the residual runs in bf16, as in the torch backends. Shapes are static per frame size (a video
compiles one graph; a compile costs about 0.05 s for M8C32 at 960x540).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import torch
from torch import nn

from ..choices import PrecisionName
from ..network import SRNet

PRECISION_HINTS: dict[str, str] = {"fp32": "f32", "bf16": "bf16"}  # engine precision -> OpenVINO hint
# numpy dtype of the frames -> (the numpy view the graph takes, its full-scale value)
_FRAME_TYPES = {np.dtype(np.uint8): (np.uint8, 255.0), np.dtype(np.int16): (np.uint16, 65535.0)}


def openvino_problem(precision: str) -> str | None:
    """Why the OpenVINO backend cannot run here (None when it can); cheap: nothing is imported."""
    if precision not in PRECISION_HINTS:
        return f"the openvino backend runs {' or '.join(PRECISION_HINTS)}, not {precision}"
    if importlib.util.find_spec("openvino") is None:
        return "OpenVINO is not installed (pip install 'repsr-video[openvino]')"
    return None


def _constant(ops: Any, tensor: torch.Tensor) -> Any:
    return ops.constant(tensor.detach().float().cpu().numpy())


def _conv(ops: Any, features: Any, conv: nn.Conv2d) -> Any:
    out = ops.convolution(features, _constant(ops, conv.weight), [1, 1], [1, 1], [1, 1], [1, 1])
    assert conv.bias is not None  # every SRNet conv has a bias
    return ops.add(out, _constant(ops, conv.bias.reshape(1, -1, 1, 1)))


def build_model(net: SRNet, shape: tuple[int, ...], frame_type: type, full_scale: float) -> Any:
    """The OpenVINO model of `net` on integer (N,H,W,3) frames of `frame_type` -> (frames, all_finite)."""
    import openvino as ov

    try:
        import openvino.opset13 as ops
    except ImportError:  # OpenVINO before 2025 kept the opsets under openvino.runtime
        import openvino.runtime.opset13 as ops

    element = ov.Type.u8 if frame_type is np.uint8 else ov.Type.u16
    frames = ops.parameter(list(shape), element, name="frames")
    nchw = ops.constant(np.array([0, 3, 1, 2], dtype=np.int64))
    x = ops.transpose(ops.multiply(ops.convert(frames, ov.Type.f32), ops.constant(np.float32(1 / full_scale))), nchw)
    convs = [net.head] + [m for m in net.body if isinstance(m, nn.Conv2d)]
    activations = [net.head_act] + [m for m in net.body if isinstance(m, nn.PReLU)]
    features = x
    for conv, activation in zip(convs, activations, strict=True):
        features = ops.prelu(_conv(ops, features, conv), _constant(ops, activation.weight))
    # pixel_shuffle is DepthToSpace in "depth_first" (CRD) order
    residual = ops.convert(ops.depth_to_space(_conv(ops, features, net.tail), "depth_first", net.scale), ov.Type.f32)
    finite = ops.reduce_logical_and(ops.is_finite(residual), ops.constant(np.array([0, 1, 2, 3], dtype=np.int64)))
    # The skip from the integer frames themselves: exact, and never rounded to bf16.
    scales = ops.constant(np.array([net.scale, net.scale], dtype=np.float32))
    integers = frames if element == ov.Type.u8 else ops.convert(frames, ov.Type.i32)  # Interpolate takes no u16
    skip = ops.interpolate(integers, scales, "nearest", "scales", axes=ops.constant(np.array([1, 2], dtype=np.int64)),
                           nearest_mode="floor", coordinate_transformation_mode="asymmetric")
    nhwc = ops.constant(np.array([0, 2, 3, 1], dtype=np.int64))
    levels = ops.add(ops.multiply(ops.transpose(residual, nhwc), ops.constant(np.float32(full_scale))),
                     ops.convert(skip, ov.Type.f32))
    levels = ops.clamp(ops.round(levels, "half_to_even"), 0.0, full_scale)  # NaN becomes 0 in the convert
    return ov.Model([ops.convert(levels, element), finite], [frames], "repsr")


class OpenVINOBackend:
    """Satisfies `Backend`; one compiled graph per (shape, frame dtype), built at its first batch."""

    name = "openvino"

    def __init__(self, net: SRNet, precision: PrecisionName, threads: int) -> None:
        import openvino as ov

        self.note = ""
        self._net = net
        self._core = ov.Core()
        self._config = {
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
            "INFERENCE_NUM_THREADS": threads,
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._requests: dict[tuple, Any] = {}

    def current_name(self) -> str:
        return self.name

    def notes(self) -> list[str]:
        return [self.note] if self.note else []

    def _request(self, shape: tuple[int, ...], frame_type: type, full_scale: float) -> Any:
        key = (shape, frame_type)
        if key not in self._requests:
            model = build_model(self._net, shape, frame_type, full_scale)
            self._requests[key] = self._core.compile_model(model, "CPU", self._config).create_infer_request()
        return self._requests[key]

    def __call__(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        wire = raw.numpy()  # uint8, or int16 holding uint16 bit for bit
        frame_type, full_scale = _FRAME_TYPES[wire.dtype]
        frames = wire.view(frame_type)
        result = self._request(frames.shape, frame_type, full_scale).infer({0: frames})  # outputs are copies
        out = np.ascontiguousarray(result[0]).view(wire.dtype)
        return torch.from_numpy(out), torch.tensor(bool(result[1]))
