"""Write a preset: <name>.toml + <name>.safetensors, each published atomically, then read back.

The TOML schema (and its writer, `to_toml`) is repsr_video/preset.py's; this module publishes files.

Used by training (repsr_video.train.preset) and by `repsr-video import` (repsr_video.interop).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import PresetError
from .output import atomic_write
from .preset import Preset, read_preset, to_toml

PRESET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_preset_name(name: str) -> None:
    if not PRESET_NAME.match(name):
        raise PresetError(f"preset name {name!r} may hold only letters, digits, '.', '_' and '-'")


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
