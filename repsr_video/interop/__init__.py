"""Interop with the wider upscaling ecosystem: import others' models as presets, export ours.

- `model_files`: read a third-party weights file (.pth without executing code, .safetensors).
- `compact`: Real-ESRGAN's SRVGGNetCompact state dicts <-> our deploy SRNet, exactly.
- `spandrel_support`: import spandrel (and run where torchvision is missing or broken).
- `foreign`: other architectures spandrel builds (SPAN, ESRGAN, ...) as engine-ready modules.
- `importer`: model file -> installed preset.
- `exporter`: preset -> ONNX (`onnx_export`) or Compact (`compact.export_compact`), checked against
  the engine before it is published.
- `commands` and `choices`: the `import` and `export` subcommands and their allowed values.

Nothing here is imported by the upscaler unless a preset or command needs it.
"""
