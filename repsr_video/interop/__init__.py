"""Interop with the wider upscaling ecosystem: import others' models as presets, export ours.

- `model_files`: read a third-party weights file (.pth without executing code, .safetensors).
- `compact`: Real-ESRGAN's SRVGGNetCompact state dicts <-> our deploy SRNet, exactly.
- `spandrel_support`: import spandrel (and run where torchvision is missing or broken).
- `foreign`: other architectures spandrel builds (SPAN, ESRGAN, ...) as engine-ready modules.
- `importer`: model file -> installed preset; `onnx_export` and `compact.export_compact`: preset -> files.
- `commands`: the `import` and `export` subcommands.

Nothing here is imported by the upscaler unless a preset or command needs it.
"""
