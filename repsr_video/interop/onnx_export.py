"""Export a preset's net to ONNX, the format vs-mlrt, VideoJaNai, chaiNNer and onnxruntime run.

The graph: input "input" (N,3,H,W) RGB in [0,1], output "output" (N,3,sH,sW) RGB in [0,1], float32
(or float16 with --fp16, inputs and outputs included, as the community's *_fp16.onnx models are),
batch, height and width dynamic. It is the whole net including the nearest-neighbour skip, and the
output is clamped to [0,1]: that is what our engine writes, and consumers that keep float frames
(vs-mlrt's RGBS/RGBH clips) then never see out-of-range values. The clamp is one elementwise op
that TensorRT and onnxruntime fuse.

Exported with torch's torch.export-based exporter (the TorchScript one is deprecated since torch
2.9), which starts at opset 18 and converts down to 17 (the default, see choices.py); the opset
written is checked.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import DependencyError, OutputError
from ..output import atomic_write
from .choices import ONNX_OPSET, ONNX_OPSETS

INPUT, OUTPUT = "input", "output"


class _Clamped(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).clamp(0.0, 1.0)


def require_module(module: str, purpose: str):
    try:
        return __import__(module)
    except ImportError:
        hint = "install it with `pip install 'repsr-video[onnx]'`"
        raise DependencyError(f"{purpose} needs {module}, which is not installed; {hint}") from None


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter logs its opset conversion (17 is reached from 18; the result is checked) and
    deprecation warnings of torch internals: nothing the user can act on."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def _export(module: nn.Module, example: torch.Tensor, target: Path, opset: int) -> None:
    require_module("onnxscript", "ONNX export")
    dim = torch.export.Dim
    dynamic = ({0: dim("batch"), 2: dim("height"), 3: dim("width")},)
    with _quiet_exporter():
        program = torch.onnx.export(module, (example,), dynamo=True, opset_version=opset, verbose=False,
                                    input_names=[INPUT], output_names=[OUTPUT], dynamic_shapes=dynamic)
        assert program is not None  # dynamo=True always returns the program
        program.save(str(target), external_data=False)


def export_onnx(net: nn.Module, path: Path | str, *, fp16: bool = False, opset: int = ONNX_OPSET, check=None) -> Path:
    """Write `net` (eval, CPU) as ONNX at `path`. `check(partial_path)` runs on the written file before
    it is renamed into place; if it raises, nothing is left at `path`."""
    path = Path(path)
    if opset not in ONNX_OPSETS:
        raise OutputError(f"{path}: opset {opset} is not one of {ONNX_OPSETS.start}..{ONNX_OPSETS.stop - 1}")
    onnx = require_module("onnx", "ONNX export")
    dtype = torch.float16 if fp16 else torch.float32
    module = _Clamped(net).to("cpu", dtype).eval().requires_grad_(False)
    example = torch.rand(1, 3, 32, 32, dtype=dtype)
    with atomic_write(path) as partial:
        try:
            _export(module, example, partial, opset)
        except Exception as error:  # noqa: BLE001 - the exporter raises many kinds; one line for the user
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise OutputError(f"{path}: ONNX export failed ({type(error).__name__}: {first[:300]})") from None
        model = onnx.load(str(partial))
        found = {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")}
        if found != {opset}:
            raise OutputError(f"{path}: the exporter wrote opset {sorted(found)}, not {opset}")
        onnx.checker.check_model(model)
        if check is not None:
            check(partial)
    return path


def onnx_upscale(path: Path | str, frames: np.ndarray) -> np.ndarray:
    """Run an exported file with onnxruntime (CPU): (N,H,W,3) uint8 -> (N,sH,sW,3) uint8, rounded as
    our engine rounds (the graph clamps already)."""
    ort = require_module("onnxruntime", "checking an ONNX file")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wants_half = session.get_inputs()[0].type == "tensor(float16)"
    x = (frames.astype(np.float32) / 255.0).transpose(0, 3, 1, 2)
    x = np.ascontiguousarray(x.astype(np.float16) if wants_half else x)
    y = session.run([OUTPUT], {INPUT: x})[0].astype(np.float32)
    return np.round(y.clip(0.0, 1.0) * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)
