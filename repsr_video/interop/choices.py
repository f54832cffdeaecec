"""The import/export commands' allowed values, free of heavy imports (argparse offers them)."""

from __future__ import annotations

from typing import Literal, get_args

ExportFormat = Literal["onnx", "compact"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)

# Opset 17 by default: TensorRT 8.6, still common in vs-mlrt setups, parses up to 17.
ONNX_OPSET = 17
ONNX_OPSETS = range(17, 21)
