"""repsr-video: fast video super-resolution with re-parameterized VGG-style networks.

The public API, everything a program needs to upscale with a preset::

    import repsr_video as rv

    preset = rv.load_preset("general-x2")  # or rv.default_preset(2), or the path of a .toml
    engine = rv.create_engine(preset, rv.EngineSettings(device="auto", backend="auto"))
    result = rv.upscale_video("in.mkv", "out.mkv", engine, encode=rv.EncodeSettings(crf=20))
    rv.upscale_image("in.png", "out.png", engine)
    results = rv.upscale_folder("photos/", "photos-2x/", engine)  # one FileResult per file

Every error a caller can cause or fix is a `RepsrError` (InputError, OutputError, PresetError,
EngineError, DependencyError) with a one-line message; nothing is left at the output when one is raised. The library
never prints: progress comes through the `progress=` callback as `ProgressEvent`s.

Importing the package is cheap: the names below load their modules (and torch, PyAV) on first use,
so the command line's `--help` and programs that only need the errors start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from repsr_video.errors import DependencyError, EngineError, InputError, OutputError, PresetError, RepsrError

__version__ = "0.1.0"

# Each lazily loaded public name -> the module that defines it. Keep in step with the
# TYPE_CHECKING imports below (tests/test_api.py checks that they agree).
_LAZY: dict[str, str] = {
    "Preset": "repsr_video.preset",
    "default_preset": "repsr_video.preset",
    "installed_presets": "repsr_video.preset",
    "load_preset": "repsr_video.preset",
    "EngineSettings": "repsr_video.engine",
    "create_engine": "repsr_video.engine",
    "EncodeSettings": "repsr_video.output_plan",
    "FileResult": "repsr_video.output",
    "ProgressEvent": "repsr_video.pipeline",
    "upscale_video": "repsr_video.pipeline",
    "upscale_image": "repsr_video.images",
    "upscale_folder": "repsr_video.folder",
}

if TYPE_CHECKING:
    from repsr_video.engine import EngineSettings, create_engine
    from repsr_video.folder import upscale_folder
    from repsr_video.images import upscale_image
    from repsr_video.output import FileResult
    from repsr_video.output_plan import EncodeSettings
    from repsr_video.pipeline import ProgressEvent, upscale_video
    from repsr_video.preset import Preset, default_preset, installed_presets, load_preset

__all__ = [
    "DependencyError",
    "EncodeSettings",
    "EngineError",
    "EngineSettings",
    "FileResult",
    "InputError",
    "OutputError",
    "Preset",
    "PresetError",
    "ProgressEvent",
    "RepsrError",
    "__version__",
    "create_engine",
    "default_preset",
    "installed_presets",
    "load_preset",
    "upscale_folder",
    "upscale_image",
    "upscale_video",
]


def __getattr__(name: str) -> Any:
    """PEP 562: import a public name's module on first access, then keep the name here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
