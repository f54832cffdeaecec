"""Write a merged net as a preset: <name>.toml (described, hashed) + <name>.safetensors.

This module only assembles the values; the TOML schema is repsr_video/preset.py's and the files
are published (atomically, then read back and checked) by repsr_video/preset_writer.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safetensors.torch import save

from repsr_video.errors import PresetError
from repsr_video.network import SRNet
from repsr_video.preset import Quality
from repsr_video.preset_writer import check_preset_name, write_preset_files


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
        raise PresetError(f"only a merged SRNet can become a preset, not {type(net).__name__}; "
                          "call repsr_video.train.merge.merge first")
    check_preset_name(name)
    state = {k: v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()}
    blob = save(state, metadata={"format": "pt", "name": name, "size": net.size, "scale": str(net.scale)})
    table = {
        "name": name,
        "scale": net.scale,
        "blocks": net.blocks,
        "channels": net.channels,
        "description": description,
        "default": default,
        "recipe": dict(recipe or {}),
        "data": dict(data or {}),
        "quality": quality.to_table() if isinstance(quality, Quality) else dict(quality or {}),
    }
    return write_preset_files(out_dir, table, blob).path
