"""`repsr-video import` and `repsr-video export`: their arguments and what they print.

cli.py registers them; this module imports nothing heavy, so `repsr-video --help` stays fast.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from ..choices import SCALES
from .choices import EXPORT_FORMATS, ONNX_OPSET, ONNX_OPSETS

console = Console(stderr=True)


def import_parser(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("model", help="model file: .pth/.pt/.ckpt (read without running code) or .safetensors")
    sub.add_argument("--name", required=True, help="preset name (letters, digits, . _ -)")
    sub.add_argument("--scale", type=int, choices=SCALES, help="check that the weights upscale by this factor")
    sub.add_argument("--description", help="the preset's one-line description (default: what was detected)")
    sub.add_argument("--out", metavar="DIR", help="where the preset goes (default: the user preset folder, $REPSR_VIDEO_PRESETS)")
    sub.add_argument("--overwrite", action="store_true", help="replace a preset of the same name there")


def import_command(args: argparse.Namespace) -> int:
    from .importer import import_model

    preset = import_model(args.model, name=args.name, scale=args.scale, description=args.description,
                          out_dir=args.out, overwrite=args.overwrite)
    kind = "exact Compact mapping onto the deploy net" if not preset.is_foreign else "foreign architecture, run through spandrel"
    detected = preset.source["detected"]
    console.print(f"imported {args.model} as preset {preset.name}: {detected} ({kind})", markup=False, highlight=False)
    console.print(f"{preset.path}  (use it: repsr-video INPUT OUTPUT --preset {preset.name})", markup=False, highlight=False)
    return 0


def export_parser(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("preset", metavar="PRESET", help="installed preset name or path of a .toml")
    sub.add_argument("--format", required=True, choices=EXPORT_FORMATS,
                     help="onnx: for vs-mlrt, VideoJaNai, onnxruntime; "
                     "compact: SRVGGNetCompact .pth/.safetensors for spandrel, chaiNNer, Real-ESRGAN")
    sub.add_argument("-o", "--output", metavar="FILE",
                     help="output file (default NAME.onnx; for compact NAME.pth and NAME.safetensors; "
                     "the suffix picks the file kind)")
    sub.add_argument("--fp16", action="store_true", help="half-precision weights (ONNX: float16 input and output too)")
    sub.add_argument("--opset", type=int, default=ONNX_OPSET, choices=ONNX_OPSETS, help=f"ONNX opset (default {ONNX_OPSET})")
    sub.add_argument("--overwrite", action="store_true", help="replace existing output files")


def export_command(args: argparse.Namespace) -> int:
    from ..preset import load_preset
    from .exporter import export_preset

    preset = load_preset(args.preset)
    result = export_preset(preset, args.format, args.output, fp16=args.fp16, opset=args.opset, overwrite=args.overwrite)
    for path in result.files:
        console.print(f"wrote {path}", markup=False, highlight=False)
    what = f"ONNX opset {args.opset}" if result.format == "onnx" else "Compact (SRVGGNetCompact)"
    console.print(f"{what}, {result.precision}; checked with {result.checked_with} against repsr-video's engine on a test card: "
                  f"max difference {result.max_diff} level(s) of 255", markup=False, highlight=False)
    return 0
