"""Presets: a TOML file that maps 1:1 onto a frozen dataclass, plus safetensors weights of the merged net.

Shipped presets live in the package (`repsr_video.shipped_presets`, the repository's `presets/`);
user presets in $REPSR_VIDEO_PRESETS or ~/.local/share/repsr-video/presets. A preset may also be
given by the path of its .toml file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .choices import SCALES
from .errors import PresetError, PresetWarning, describe_error
from .plain_net import PlainNet, check_weight_shapes, plain_net, size_name

if TYPE_CHECKING:  # torch loads only when a torch net is built: an OpenVINO run never needs it
    import torch
    from torch import nn

    from .network import SRNet

# "repsr": the deploy SRNet (blocks x channels). "spandrel:<id>": a foreign architecture that spandrel
# builds from the weights (repsr_video/interop/foreign.py), e.g. "spandrel:SPAN".
REPSR_ARCHITECTURE = "repsr"
SPANDREL_PREFIX = "spandrel:"
_SPANDREL_ID = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class Quality:
    """What the preset measurably does (filled in by `repsr-video train` / `eval`)."""

    eval_set: str = ""
    mean_gain_db: float | None = None  # mean PSNR-Y gain over bicubic
    worst_gain_db: float | None = None  # the worst image's gain
    mean_psnr_y: float | None = None
    mean_ssim_y: float | None = None
    cpu_fps: float | None = None  # frames/s at 640x360 input on a 2-core CPU
    gpu_fps: float | None = None  # frames/s at 1920x1080 input on a GPU

    def to_table(self) -> dict[str, Any]:
        """The [quality] table: what was measured (None, not measured, is left out)."""
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}


@dataclass(frozen=True)
class Preset:
    name: str
    scale: int
    description: str
    weights: str  # file name of the safetensors file, beside the TOML
    sha256: str
    blocks: int = 0  # blocks and channels: the SRNet size, architecture "repsr" only
    channels: int = 0
    default: bool = False  # the default preset for its scale
    recipe: Mapping[str, Any] = field(default_factory=dict)  # how it was trained
    data: Mapping[str, Any] = field(default_factory=dict)  # what it was trained on
    quality: Quality = field(default_factory=Quality)
    architecture: str = REPSR_ARCHITECTURE
    source: Mapping[str, Any] = field(default_factory=dict)  # an imported preset: the file it came from
    path: Path = Path()  # the TOML file; not stored in it

    @property
    def is_foreign(self) -> bool:
        return self.architecture != REPSR_ARCHITECTURE

    @property
    def size(self) -> str:
        return self.architecture if self.is_foreign else size_name(self.blocks, self.channels)

    @property
    def weights_path(self) -> Path:
        return self.path.parent / self.weights

    def to_table(self) -> dict[str, Any]:
        """The TOML table that `preset_from_table` turns back into this preset (the path is not stored).

        blocks and channels belong to the deploy SRNet only, architecture to a foreign net only, and
        source to an imported preset.
        """
        table = {key: getattr(self, key) for key in _KEY_ORDER}
        table |= {"recipe": dict(self.recipe), "data": dict(self.data), "quality": self.quality.to_table(),
                  "source": dict(self.source)}
        if self.is_foreign:
            del table["blocks"], table["channels"]
        else:
            del table["architecture"]
        if not self.source:
            del table["source"]
        return table

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scale": self.scale,
            "size": self.size,
            "architecture": self.architecture,
            "default": self.default,
            "description": self.description,
            "quality": dataclasses.asdict(self.quality),
            "path": str(self.path),
        }

    def build_network(self) -> nn.Module:
        """The net with verified weights, float32, CPU, eval mode: an SRNet, or for a foreign
        architecture a ForeignNet (repsr_video/interop/foreign.py)."""
        from safetensors.torch import load

        state = self._load_weights(load)
        if self.is_foreign:
            from .interop.foreign import build_foreign

            return build_foreign(state, self.architecture.removeprefix(SPANDREL_PREFIX), self.scale, self.weights_path)
        return self._build_srnet(state)

    def plain_net(self) -> PlainNet:
        """The deploy net's verified weights as float32 arrays, without importing torch (RepSR presets only)."""
        if self.is_foreign:
            raise PresetError(f"{self.path}: {self.architecture} is not a RepSR net; only torch runs it")
        from safetensors.numpy import load

        return plain_net(self._load_weights(load), self.scale, self.blocks, self.channels, str(self.weights_path))

    def _load_weights(self, load: Callable[[bytes], dict[str, Any]]) -> dict[str, Any]:
        """The weights file, checked against the preset's SHA-256, read by `load` (safetensors' torch or numpy reader)."""
        from safetensors import SafetensorError

        try:
            blob = self.weights_path.read_bytes()
        except OSError as error:
            raise PresetError(f"{self.weights_path}: cannot read weights ({error.strerror or error})") from None
        digest = hashlib.sha256(blob).hexdigest()
        if digest != self.sha256:
            raise PresetError(f"{self.weights_path}: SHA-256 {digest[:12]}... does not match the preset's {self.sha256[:12]}...")
        try:
            return load(blob)  # safetensors: tensors only, never pickle
        except (SafetensorError, ValueError) as error:
            raise PresetError(f"{self.weights_path}: not a valid safetensors file ({error})") from None

    def _build_srnet(self, state: dict[str, torch.Tensor]) -> SRNet:
        from .network import SRNet

        check_weight_shapes({k: tuple(v.shape) for k, v in state.items()}, self.scale, self.blocks, self.channels,
                            str(self.weights_path))
        net = SRNet(self.scale, self.blocks, self.channels)
        net.load_state_dict({k: v.float() for k, v in state.items()})
        return net.eval()


_FIELDS = {f.name for f in dataclasses.fields(Preset)} - {"path"}
# The order of the keys in a written file (the order presets have always been written in).
_KEY_ORDER = ("name", "scale", "blocks", "channels", "description", "default", "weights", "sha256", "architecture",
              "recipe", "data", "quality", "source")
_REQUIRED = {"name", "scale", "description", "weights", "sha256"}
_SRNET_SIZE = {"blocks", "channels"}  # required for architecture "repsr", absent otherwise
_QUALITY_FIELDS = {f.name for f in dataclasses.fields(Quality)}


def _check_type(path: Path, key: str, value: Any, kind: type | tuple[type, ...]) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise PresetError(f"{path}: key {key!r} has the wrong type ({type(value).__name__})")


def read_preset(path: Path | str) -> Preset:
    """Parse and validate one preset TOML (the weights are checked when the network is built)."""
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PresetError(f"{path}: preset file not found") from None
    except UnicodeDecodeError:
        raise PresetError(f"{path}: is not a preset TOML (binary content); a preset is the .toml beside its weights") from None
    except OSError as error:
        raise PresetError(f"{path}: cannot read preset ({describe_error(error)})") from None
    except tomllib.TOMLDecodeError as error:
        raise PresetError(f"{path}: not valid TOML ({error})") from None
    preset = preset_from_table(table, path)
    if not preset.weights_path.is_file():
        raise PresetError(f"{path}: weights file {preset.weights} is missing")
    return preset


def preset_from_table(table: Mapping[str, Any], path: Path) -> Preset:
    """The preset a TOML table describes, strictly: unknown keys, missing keys and wrong types are
    errors naming `path`. The inverse of `Preset.to_table()`."""
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        raise PresetError(f"{path}: unknown key(s) {', '.join(unknown)}")
    _check_architecture(path, table)
    missing = sorted(_REQUIRED - set(table))
    if missing:
        raise PresetError(f"{path}: missing key(s) {', '.join(missing)}")
    for key in ("name", "description", "weights", "sha256"):
        _check_type(path, key, table[key], str)
    for key in ("scale", "blocks", "channels"):
        _check_type(path, key, table.get(key, 0), int)
    _check_type(path, "default", table.get("default", False), bool)
    for key in ("recipe", "data", "quality", "source"):
        _check_type(path, key, table.get(key, {}), dict)
    if table["scale"] not in SCALES:
        raise PresetError(f"{path}: scale {table['scale']} is not one of {SCALES}")
    if "blocks" in table and (table["blocks"] < 0 or table["channels"] < 1):
        raise PresetError(f"{path}: blocks must be >= 0 and channels >= 1")
    if Path(table["weights"]).name != table["weights"]:
        raise PresetError(f"{path}: weights must be a file name beside the TOML, not {table['weights']!r}")
    return Preset(**{**table, "quality": _quality_from_table(table.get("quality", {}), path), "path": path})


def _quality_from_table(quality: Mapping[str, Any], path: Path) -> Quality:
    unknown = sorted(set(quality) - _QUALITY_FIELDS)
    if unknown:
        raise PresetError(f"{path}: unknown key(s) in [quality]: {', '.join(unknown)}")
    for key, value in quality.items():
        _check_type(path, f"quality.{key}", value, str if key == "eval_set" else (int, float))
    return Quality(**quality)


def _check_architecture(path: Path, table: Mapping[str, Any]) -> None:
    """'repsr' (needs blocks and channels) or 'spandrel:<architecture id>' (has neither)."""
    architecture = table.get("architecture", REPSR_ARCHITECTURE)
    _check_type(path, "architecture", architecture, str)
    if architecture == REPSR_ARCHITECTURE:
        missing = sorted(_SRNET_SIZE - set(table))
        if missing:
            raise PresetError(f"{path}: missing key(s) {', '.join(missing)}")
        return
    if not architecture.startswith(SPANDREL_PREFIX) or not _SPANDREL_ID.match(architecture.removeprefix(SPANDREL_PREFIX)):
        raise PresetError(f"{path}: architecture {architecture!r} is neither {REPSR_ARCHITECTURE!r} nor '{SPANDREL_PREFIX}<id>'")
    present = sorted(_SRNET_SIZE & set(table))
    if present:
        raise PresetError(f"{path}: key(s) {', '.join(present)} apply only to architecture {REPSR_ARCHITECTURE!r}")


# --- writing: the TOML text of a table ------------------------------------------------------


def preset_to_toml(preset: Preset) -> str:
    """The text of the preset's TOML file."""
    return to_toml(preset.to_table())


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


# --- finding presets -------------------------------------------------------------------------


def shipped_presets_dir() -> Path:
    try:  # installed: the repository's presets/ is the package repsr_video.shipped_presets
        return Path(str(resources.files("repsr_video.shipped_presets")))
    except ModuleNotFoundError:  # running from a source checkout without installing
        return Path(__file__).resolve().parent.parent / "presets"


def user_presets_dir() -> Path:
    configured = os.environ.get("REPSR_VIDEO_PRESETS")
    if configured:
        return Path(configured)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "repsr-video" / "presets"


def preset_dirs() -> list[Path]:
    return [d for d in (shipped_presets_dir(), user_presets_dir()) if d.is_dir()]


# Files that hold weights, not a preset: given to --preset they get a message, not a decoding error.
WEIGHTS_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin", ".onnx")


def _scan() -> tuple[dict[str, Preset], dict[str, PresetError]]:
    """Valid presets by name (the first found wins), and the errors of unreadable ones by file stem."""
    found: dict[str, Preset] = {}
    broken: dict[str, PresetError] = {}
    for directory in preset_dirs():
        for toml in sorted(directory.glob("*.toml")):
            try:
                preset = read_preset(toml)
            except PresetError as error:
                broken.setdefault(toml.stem, error)
                continue
            found.setdefault(preset.name, preset)
    for problem in broken.values():  # one bad file must not disable the tool: skip it, say so once
        warnings.warn(f"{problem} (preset skipped)", PresetWarning, stacklevel=3)
    return found, broken


def installed_presets() -> list[Preset]:
    """Every valid preset found, shipped first; a user preset with a shipped preset's name is shadowed.
    A malformed one is skipped with a PresetWarning naming its file."""
    found, _ = _scan()
    return sorted(found.values(), key=lambda p: (p.scale, not p.default, p.name))


def load_preset(name_or_path: str | Path) -> Preset:
    """A preset by name (installed) or by the path of its .toml file."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix.lower() in WEIGHTS_SUFFIXES:
        beside = path.with_suffix(".toml")
        hint = f"use {beside}" if beside.is_file() else "`repsr-video import` turns a model file into a preset"
        raise PresetError(f"{path}: is a weights file, not a preset; give the preset's .toml ({hint})")
    if text.endswith(".toml") or os.sep in text or path.is_file():
        return read_preset(path)
    found, broken = _scan()
    if text in found:
        return found[text]
    if text in broken:  # asked for by name: now its error counts
        raise broken[text]
    names = ", ".join(sorted(found)) or "none installed"
    raise PresetError(f"preset {text!r} not found (installed: {names})")


FAST_SUFFIX = "-fast"


def default_preset(scale: int, device: str = "cpu", presets: list[Preset] | None = None) -> Preset:
    """The declared default preset of `scale` (else the first one found); on a CUDA `device` ("cuda",
    "cuda:N") its strong sibling where one is installed: `general-x2` for `general-x2-fast`.

    The declared defaults are the fast M4C16 nets, which a CPU runs two to three times faster than
    the M8C32 ones; a GPU runs M8C32 far faster than real time, so there the stronger net costs nothing.
    `presets`: installed_presets() when the caller already has them (each call scans the preset folders).
    """
    candidates = [p for p in (installed_presets() if presets is None else presets) if p.scale == scale]
    if not candidates:
        raise PresetError(f"no preset for scale x{scale} is installed; train one with `repsr-video train --scale {scale}`")
    # installed_presets() sorts the declared default of each scale first
    chosen = candidates[0]
    if device.startswith("cuda") and chosen.name.endswith(FAST_SUFFIX):
        strong = chosen.name[: -len(FAST_SUFFIX)]
        chosen = next((p for p in candidates if p.name == strong), chosen)
    return chosen
