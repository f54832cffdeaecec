"""Write a merged net as a preset: <name>.toml (described, hashed) + <name>.safetensors."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safetensors.torch import save

from repsr_video.errors import PresetError
from repsr_video.network import SRNet
from repsr_video.output import atomic_write
from repsr_video.preset import Preset, Quality, read_preset

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value}")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Path):
        return _toml_value(str(value))
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def to_toml(table: Mapping[str, Any], prefix: str = "") -> str:
    """A small TOML writer for scalars, lists and nested tables (None values are left out)."""
    lines, subtables = [], []
    for key, value in table.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            subtables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    for key, value in subtables:
        name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
        text += f"\n[{name}]\n" + to_toml(value, name)
    return text


def write_preset(
    net: SRNet,
    out_dir: Path | str,
    *,
    name: str,
    description: str,
    recipe: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    quality: Quality | Mapping[str, Any] | None = None,
    default: bool = False,
) -> Path:
    """Save `net` (a merged SRNet) and its description; returns the TOML path, read back and checked."""
    if type(net) is not SRNet:
        raise PresetError(f"only a merged SRNet can become a preset, not {type(net).__name__}; call repsr_video.train.merge.merge first")
    if not _NAME.match(name):
        raise PresetError(f"preset name {name!r} may hold only letters, digits, '.', '_' and '-'")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()}
    blob = save(state, metadata={"format": "pt", "name": name, "size": net.size, "scale": str(net.scale)})
    if isinstance(quality, Quality):
        quality = dataclasses.asdict(quality)
    table = {
        "name": name,
        "scale": net.scale,
        "blocks": net.blocks,
        "channels": net.channels,
        "description": description,
        "default": default,
        "weights": f"{name}.safetensors",
        "sha256": hashlib.sha256(blob).hexdigest(),
        "recipe": dict(recipe or {}),
        "data": dict(data or {}),
        "quality": dict(quality or {}),
    }
    toml_path = out_dir / f"{name}.toml"
    weights_path = out_dir / table["weights"]
    for path, content in ((weights_path, blob), (toml_path, to_toml(table).encode("utf-8"))):
        with atomic_write(path) as partial:
            partial.write_bytes(content)
    preset: Preset = read_preset(toml_path)
    preset.build_network()  # hash and shapes verified before anyone relies on it
    return toml_path
