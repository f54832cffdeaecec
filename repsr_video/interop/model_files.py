"""Read a third-party weights file into a flat state dict, without ever executing code from it.

`.pth` / `.pt` / `.ckpt` go through `torch.load(weights_only=True)`: tensors and plain containers
only; a pickle that needs any other class is refused. `.safetensors` holds tensors only.

Wrappers are unwrapped as spandrel's `canonicalize_state_dict` does, so both see the same tensors:
Real-ESRGAN and traiNNer save `{"params": ...}` and/or `{"params_ema": ...}` (the EMA weights are the
better ones and are preferred), others `{"state_dict": ...}` or a bare state dict; a common
`module.` (DataParallel) or `netG.` prefix is dropped.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError

PTH_SUFFIXES = (".pth", ".pt", ".ckpt")
SUFFIXES = (*PTH_SUFFIXES, ".safetensors")
# spandrel's order (canonicalize.py): the first of these keys that holds a dict is the state dict.
_WRAPPER_KEYS = ("model_state_dict", "state_dict", "params_ema", "params-ema", "params", "model", "net")
_PREFIXES = ("module.", "netG.")
_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


@dataclass(frozen=True)
class ModelFile:
    path: Path
    sha256: str  # of the file's bytes
    state: dict[str, torch.Tensor]
    container: str  # where the tensors were: "params_ema", "params", ..., or "bare"


def read_model_file(path: Path | str) -> ModelFile:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: not a model file this reads (suffix must be one of {', '.join(SUFFIXES)})")
    try:
        blob = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from None
    raw = _load_safetensors(path, blob) if suffix == ".safetensors" else _load_pth(path, blob)
    state, container = _unwrap(path, raw)
    return ModelFile(path, hashlib.sha256(blob).hexdigest(), state, container)


def _load_pth(path: Path, blob: bytes) -> object:
    try:
        return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        needs = _UNSUPPORTED_GLOBAL.search(str(error))
        if needs:  # the pickle names a function or class: loading it would run code
            what = f"{needs.group(1)} is not a tensor or plain container"
            raise InputError(f"{path}: refused: loading it would run code ({what})") from None
        raise InputError(f"{path}: not a readable PyTorch weights file (damaged, or not a torch.save file)") from None
    except Exception as error:  # noqa: BLE001 - torch raises RuntimeError/EOFError/... for damaged files
        raise InputError(f"{path}: not a readable PyTorch weights file ({type(error).__name__}: {str(error)[:200]})") from None


def _load_safetensors(path: Path, blob: bytes) -> object:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(blob)
    except (SafetensorError, ValueError) as error:
        raise InputError(f"{path}: not a valid safetensors file ({error})") from None


def _unwrap(path: Path, raw: Any) -> tuple[dict[str, torch.Tensor], str]:
    if not isinstance(raw, dict):
        raise InputError(f"{path}: holds a {type(raw).__name__}, not a state dict of tensors")
    container = "bare"
    for key in _WRAPPER_KEYS:
        if isinstance(raw.get(key), dict):
            raw, container = raw[key], key
            break
    if len(raw) == 1 and isinstance(next(iter(raw.values())), dict):
        container, raw = next(iter(raw.items()))
    state = {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not state:
        raise InputError(f"{path}: holds no tensors (keys: {', '.join(map(str, list(raw)[:5])) or 'none'})")
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state, container
