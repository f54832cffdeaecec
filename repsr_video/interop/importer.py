"""A third-party model file -> an installed preset (TOML + safetensors, recording its source).

Compact (SRVGGNetCompact) weights become a plain "repsr" preset: the same net as ours, run by every
backend (TensorRT included) with the fp32 skip. Anything else goes to spandrel; what it builds and
foreign.py accepts becomes a "spandrel:<id>" preset that keeps the source tensors as they were.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .. import __version__
from ..errors import PresetError
from ..preset import REPSR_ARCHITECTURE, SPANDREL_PREFIX, Preset, shipped_presets_dir, user_presets_dir
from ..preset_writer import check_preset_name, write_preset_files
from .compact import compact_to_srnet, looks_like_compact
from .model_files import ModelFile, read_model_file


def _safetensors_bytes(state: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    from safetensors.torch import save

    # clone: safetensors refuses tensors that share storage (tied or sliced weights)
    return save({k: v.detach().cpu().contiguous().clone() for k, v in state.items()}, metadata=metadata)


def _compact_entry(model: ModelFile, scale: int | None) -> tuple[dict, bytes, str, str]:
    net = compact_to_srnet(model.state, model.path, scale)
    table = {"scale": net.scale, "blocks": net.blocks, "channels": net.channels, "architecture": REPSR_ARCHITECTURE}
    kind = f"SRVGGNetCompact num_feat={net.channels} num_conv={net.blocks} x{net.scale}"
    state = {k: v.float() for k, v in net.state_dict().items()}
    weights = _safetensors_bytes(state, {"format": "pt", "size": net.size, "scale": str(net.scale)})
    return table, weights, kind, f"Compact {net.size} x{net.scale}"


def _foreign_entry(model: ModelFile, scale: int | None) -> tuple[dict, bytes, str, str]:
    from .foreign import load_descriptor
    from .spandrel_support import spandrel_version

    descriptor = load_descriptor(model.state, model.path)
    arch = descriptor.architecture.id
    if scale is not None and scale != descriptor.scale:
        raise PresetError(f"{model.path}: the weights upscale x{descriptor.scale}, not x{scale} as --scale says")
    table = {"scale": descriptor.scale, "architecture": f"{SPANDREL_PREFIX}{arch}"}
    tags = ", ".join(descriptor.tags) or "default size"
    kind = f"{descriptor.architecture.name} x{descriptor.scale} ({tags}), via spandrel {spandrel_version()}"
    weights = _safetensors_bytes(model.state, {"format": "pt", "architecture": arch})
    return table, weights, kind, f"{descriptor.architecture.name} x{descriptor.scale}"


def _target_dir(name: str, out_dir: Path | None, overwrite: bool) -> Path:
    check_preset_name(name)
    if (shipped_presets_dir() / f"{name}.toml").exists():
        raise PresetError(f"preset name {name!r} is taken by a shipped preset; choose another --name")
    target = Path(out_dir) if out_dir is not None else user_presets_dir()
    toml = target / f"{name}.toml"
    if toml.exists() and not overwrite:
        raise PresetError(f"{toml}: a preset of this name exists; pass --overwrite to replace it")
    return target


def import_model(
    model_path: Path | str,
    *,
    name: str,
    scale: int | None = None,
    description: str | None = None,
    out_dir: Path | str | None = None,
    overwrite: bool = False,
) -> Preset:
    """Install `model_path` as preset `name` (in the user preset folder unless `out_dir`); `scale`,
    when given, must match what the weights do. Returns the preset, read back and its net built."""
    target = _target_dir(name, Path(out_dir) if out_dir is not None else None, overwrite)
    model = read_model_file(model_path)
    entry = _compact_entry if looks_like_compact(model.state) else _foreign_entry
    table, weights, kind, label = entry(model, scale)
    table = {
        "name": name,
        **table,
        "description": description or f"{label}, imported from {model.path.name}",
        "source": {
            "file": model.path.name,
            "sha256": model.sha256,
            "container": model.container,
            "detected": kind,
            "imported_with": f"repsr-video {__version__}",
        },
    }
    return write_preset_files(target, table, weights)
