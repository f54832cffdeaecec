"""Where repsr-video keeps what it can rebuild (compiled graphs, TensorRT engines): one folder for all."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """$REPSR_VIDEO_CACHE/<kind>, else $XDG_CACHE_HOME (or ~/.cache)/repsr-video/<kind>."""
    root = os.environ.get("REPSR_VIDEO_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "repsr-video"
    )
    return Path(root) / kind
