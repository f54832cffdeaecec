"""Write a preset: <name>.toml + <name>.safetensors, each published atomically, then read back.

Used by training (repsr_video.train.preset) and by `repsr-video import` (repsr_video.interop).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import PresetError
from .output import atomic_write
from .preset import Preset, read_preset

PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_preset_name(name: str) -> None:
    if not PRESET_NAME.match(name):
        raise PresetError(f"preset name {name!r} may hold only letters, digits, '.', '_' and '-'")


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


def write_preset_files(out_dir: Path | str, table: Mapping[str, Any], weights: bytes) -> Preset:
    """Write `weights` (safetensors bytes) as <name>.safetensors and `table` as <name>.toml, with
    the weights file name and SHA-256 filled in; returns the preset read back, its net built once."""
    name = table["name"]
    check_preset_name(name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = {**table, "weights": f"{name}.safetensors", "sha256": hashlib.sha256(weights).hexdigest()}
    toml_path = out_dir / f"{name}.toml"
    files = ((out_dir / table["weights"], weights), (toml_path, to_toml(table).encode("utf-8")))
    for path, content in files:
        with atomic_write(path) as partial:
            partial.write_bytes(content)
    try:
        preset = read_preset(toml_path)
        preset.build_network()  # hash and shapes verified before anyone relies on it
    except BaseException:
        for path, _ in files:  # never leave a preset behind that does not load
            path.unlink(missing_ok=True)
        raise
    return preset
