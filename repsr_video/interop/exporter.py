"""`repsr-video export`: a preset -> an ONNX file or a Compact model, checked before it is published.

Every export is run on a test card and compared with our engine (eager, fp32, CPU) in uint8 levels:
ONNX through onnxruntime, Compact through spandrel's own SRVGGNetCompact where spandrel is installed
(else through our reader, which proves the tensors but not spandrel's detection). A file that
differs by more than TOLERANCE is removed, never left at the output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import OutputError, PresetError
from ..network import SRNet
from ..preset import Preset
from .choices import EXPORT_FORMATS, ONNX_OPSET, ExportFormat
from .compact import COMPACT_SUFFIXES, compact_to_srnet, export_compact
from .onnx_export import export_onnx, onnx_upscale, require_module

# Largest allowed difference from our fp32 engine, in uint8 levels: fp32 differs only where a value
# rounds the other way; fp16 rounds every layer (measured in benchmarks/interop_exactness.py).
TOLERANCE = {"fp32": 1, "fp16": 3}


@dataclass(frozen=True)
class ExportResult:
    files: tuple[Path, ...]
    format: ExportFormat
    precision: str
    max_diff: int  # uint8 levels against our engine on the test card
    checked_with: str


def test_card(height: int = 72, width: int = 96, seed: int = 0) -> np.ndarray:
    """(1,H,W,3) uint8: gradients, hard edges, a fine checkerboard and noise, which a net treats
    differently; fixed, so every export is checked on the same pixels."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    card = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 5.0 + y / 7.0)], axis=-1)
    card[height // 3 : 2 * height // 3, width // 4 : width // 2] = (0.9, 0.1, 0.2)
    card[: height // 4, -width // 4 :] = ((x[: height // 4, -width // 4 :] + y[: height // 4, -width // 4 :]) % 2)[..., None]
    card += np.random.default_rng(seed).normal(0.0, 0.04, card.shape).astype(np.float32)
    return (card.clip(0, 1) * 255).round().astype(np.uint8)[None]


def engine_upscale(net: SRNet, frames: np.ndarray) -> np.ndarray:
    """What our engine writes for `frames`: eager, fp32, CPU, so the check is the same on every machine."""
    from ..engine import EngineSettings, create_engine_for_network

    engine = create_engine_for_network(net, EngineSettings(device="cpu", backend="eager", batch=1), precision="fp32")
    return engine.upscale(frames)


def max_level_diff(a: np.ndarray, b: np.ndarray) -> int:
    if a.shape != b.shape:
        raise OutputError(f"exported model gives shape {a.shape}, our engine {b.shape}")
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _checker(reference: np.ndarray, frames: np.ndarray, run: Callable[[Path], np.ndarray], limit: int, found: list[int]):
    def check(partial: Path) -> None:
        diff = max_level_diff(run(partial), reference)
        if diff > limit:
            raise OutputError(f"{partial.name}: differs from our engine by {diff} levels (allowed {limit}); not written")
        found.append(diff)

    return check


def _spandrel_run(frames: np.ndarray) -> Callable[[Path], np.ndarray]:
    from .spandrel_support import spandrel_module

    spandrel = spandrel_module()

    def run(path: Path) -> np.ndarray:
        descriptor = spandrel.ModelLoader(device="cpu").load_from_file(path)
        if descriptor.architecture.id != "Compact":
            raise OutputError(f"{path.name}: spandrel detects {descriptor.architecture.id}, not Compact")
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
        y = descriptor.model.float().eval()(x)  # the raw SRVGGNetCompact forward
        return y.clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()

    return run


def _reader_run(net: SRNet, frames: np.ndarray) -> Callable[[Path], np.ndarray]:
    from .model_files import read_model_file

    def run(path: Path) -> np.ndarray:
        return engine_upscale(compact_to_srnet(read_model_file(path).state, path, net.scale), frames)

    return run


def _outputs(preset: Preset, fmt: ExportFormat, output: Path | None, fp16: bool) -> list[Path]:
    stem = f"{preset.name}-fp16" if fp16 else preset.name
    if fmt == "onnx":
        return [output or Path(f"{stem}.onnx")]
    if output is not None:
        return [output]
    return [Path(f"{stem}{suffix}") for suffix in COMPACT_SUFFIXES]


def export_preset(
    preset: Preset,
    fmt: ExportFormat,
    output: Path | str | None = None,
    *,
    fp16: bool = False,
    opset: int = ONNX_OPSET,
    overwrite: bool = False,
) -> ExportResult:
    if fmt not in EXPORT_FORMATS:
        raise OutputError(f"format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if preset.is_foreign:
        raise PresetError(f"preset {preset.name} is a foreign architecture ({preset.architecture}); only repsr presets export "
                          "(use the original model file elsewhere)")
    targets = _outputs(preset, fmt, Path(output) if output is not None else None, fp16)
    for target in targets:
        if target.exists() and not overwrite:
            raise OutputError(f"{target}: exists; pass --overwrite to replace it")
    net = preset.build_network()
    assert isinstance(net, SRNet)  # every repsr preset builds one
    frames = test_card()
    reference = engine_upscale(net, frames)
    precision = "fp16" if fp16 else "fp32"
    found: list[int] = []
    if fmt == "onnx":
        onnxruntime = require_module("onnxruntime", "checking an ONNX export")
        check = _checker(reference, frames, lambda p: onnx_upscale(p, frames), TOLERANCE[precision], found)
        export_onnx(net, targets[0], fp16=fp16, opset=opset, check=check)
        return ExportResult(tuple(targets), fmt, precision, max(found), f"onnxruntime {onnxruntime.__version__}")
    run, checked_with = _compact_runner(net, frames)
    for target in targets:
        export_compact(net, target, fp16=fp16, check=_checker(reference, frames, run, TOLERANCE[precision], found))
    return ExportResult(tuple(targets), fmt, precision, max(found), checked_with)


def _compact_runner(net: SRNet, frames: np.ndarray) -> tuple[Callable[[Path], np.ndarray], str]:
    from ..errors import DependencyError

    try:
        from .spandrel_support import spandrel_version

        return _spandrel_run(frames), f"spandrel {spandrel_version()} (SRVGGNetCompact)"
    except DependencyError:
        return _reader_run(net, frames), "repsr-video's Compact reader (spandrel not installed)"
