"""The inference engine: batches of RGB frames in, upscaled RGB frames out, on the fastest path here.

    engine = create_engine(preset, EngineSettings(device="auto", backend="auto", batch=0))
    big = engine.upscale(frames)   # (N,H,W,3) uint8 or uint16 -> (N,sH,sW,3), same dtype

Built once and reused across inputs of any shape; runtimes compile per shape lazily.

Which runtime (backend "auto"): on a CUDA GPU, torch (TensorRT where installed, else torch.compile;
repsr_video/torch_engine.py); on the CPU, OpenVINO where it is installed (repsr_video/openvino_engine.py),
else torch. OpenVINO was faster than torch on every shipped net on CPU, in fp32 and bf16, and needs no
warm-up (docs/speed.md); a CPU run on OpenVINO never imports torch, which alone takes 1.5-2 s to load.

Precision. CUDA: fp16. CPU: bf16 where the CPU has native bf16 instructions (avx512_bf16 / AMX),
otherwise fp32. Only the net's residual runs in low precision; the nearest-neighbour skip, the clamp
and the integer conversion do not, so the rounding error stays proportional to the (small) residual
(benchmarks/bf16_quality.py). A batch whose low-precision residual overflowed is recomputed in fp32;
`engine.fp32_retries` counts such frames.

Memory (repsr_video/engine_base.py). Frames whose working memory exceeds the budget (half the free RAM
up to 2 GiB on CPU, most of the free GPU memory on CUDA; repsr_video/budget.py) run in tiles with a
halo of the net's receptive radius, so the result is the untiled one (repsr_video/tiling.py);
EngineSettings.tile overrides the size (0 = never). `check_frame` refuses a frame size that cannot fit
even tiled, before any work.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .backends.openvino import openvino_problem
from .choices import BACKENDS, DEVICES, PRECISIONS, BackendName, DeviceName, PrecisionName, cuda_index, is_device_name
from .engine_base import TiledEngine
from .errors import EngineError

if TYPE_CHECKING:
    import torch

    from .plain_net import PlainNet
    from .torch_engine import DeployNet, Engine

# Frames per batch when EngineSettings.batch == 0. CPU: batching does not speed convolutions up
# there (compiled bf16 M4C16 x2 at 640x360 on 2 cores: 15 frames/s at batch 1, 11 at batch 2) and
# costs memory; CUDA: a few frames per launch keep the GPU busy at 540p-1080p (not measured: no GPU).
AUTO_BATCH = {"cpu": 1, "cuda": 4}

# Device files through which a GPU runtime (CUDA, ROCm, WSL) reaches a GPU: where none exists, "auto"
# is the CPU without asking torch (importing torch to hear "no GPU" costs seconds).
_GPU_DEVICE_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def _check_choice(field: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise EngineError(f"{field} {value!r} is not one of {', '.join(map(repr, allowed))}")


def _check_device(name: object) -> None:
    if not isinstance(name, str) or not is_device_name(name):
        raise EngineError(f"device {name!r} is not one of {', '.join(map(repr, DEVICES))} or 'cuda:N'")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class EngineSettings:
    """Where and how to run the network. batch=0 picks a batch size for the device.

    tile: None sizes tiles from the memory budget (repsr_video/budget.py) and tiles only frames that
    do not fit it; 0 never tiles; N cuts frames into N x N-pixel tiles (input pixels), with exact seams.
    device: "auto", "cpu", "cuda" (the current GPU) or "cuda:N".
    """

    device: DeviceName | str = "auto"
    backend: BackendName = "auto"
    batch: int = 0
    tile: int | None = None

    def __post_init__(self) -> None:
        _check_device(self.device)
        _check_choice("backend", self.backend, BACKENDS)
        if not _whole(self.batch):
            raise EngineError(f"batch {self.batch!r} must be a whole number >= 0 (0 = automatic)")
        if self.tile is not None and not _whole(self.tile):
            raise EngineError(f"tile {self.tile!r} must be a whole number >= 0 (0 = no tiling)")


def resolve_device(name: str) -> torch.device:
    """The torch device for a DeviceName: "auto" is the current CUDA GPU where torch sees one, else the CPU.

    The one place a device name becomes a device (the engine and training both call it).
    """
    _check_device(name)
    import torch

    if name == "cpu":
        return torch.device("cpu")
    index = cuda_index(name)
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        if index is not None and index >= count:
            raise EngineError(f"device {name!r} was requested but torch sees {count} CUDA GPU(s): cuda:0 to cuda:{count - 1}")
        return torch.device("cuda", torch.cuda.current_device() if index is None else index)
    if name != "auto":
        raise EngineError(
            f"device {name!r} was requested but torch {torch.__version__} sees no CUDA GPU; use --device cpu"
        )
    return torch.device("cpu")


def device_kind(name: str) -> str:
    """"cpu" or "cuda" for a DeviceName, asking torch only where a GPU could be there."""
    _check_device(name)
    if name == "cpu" or (name == "auto" and "torch" not in sys.modules
                         and not any(Path(f).exists() for f in _GPU_DEVICE_FILES)):
        return "cpu"
    return resolve_device(name).type


def cpu_bf16_instructions() -> bool:
    """The CPU has native bf16 instructions (avx512_bf16 / AMX); elsewhere bf16 is emulated, slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_has_native_bf16() -> bool:
    """True where torch's bf16 convolutions are fast: oneDNN supports bf16 and the CPU has bf16 instructions."""
    import torch

    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False
    return cpu_bf16_instructions()


def default_precision(device: torch.device | str, runtime: str = "torch") -> PrecisionName:
    """fp16 on CUDA; on the CPU bf16 where it is native there (for `runtime` "torch" or "openvino"), else fp32."""
    if getattr(device, "type", device) == "cuda":
        return "fp16"
    native = cpu_bf16_instructions() if runtime == "openvino" else cpu_has_native_bf16()
    return "bf16" if native else "fp32"


def uses_openvino(backend: str, device: str, precision: str | None = None, foreign: bool = False) -> bool:
    """Whether the engine runs on OpenVINO: when asked, or by `auto` on the CPU where it can (device: "cpu" or
    "cuda"; precision None: the default). Raises EngineError when asked for where it cannot run."""
    if backend == "openvino":
        if device != "cpu":
            raise EngineError(f"backend 'openvino' runs on the CPU, not {device}; use compile or tensorrt there")
        if foreign:
            raise EngineError("backend 'openvino' runs RepSR presets only, not a foreign (spandrel) architecture; "
                              "use compile")
        problem = openvino_problem(precision)
        if problem:
            raise EngineError(problem)
        return True
    return backend == "auto" and device == "cpu" and not foreign and openvino_problem(precision) is None


def set_cpu_threads(threads: int) -> None:
    """The CPU threads of inference, for every runtime: OpenVINO reads OMP_NUM_THREADS when an engine is built,
    torch (OpenMP) when it loads, and torch already loaded is told directly."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _check_settings(settings: object, precision: str | None) -> None:
    if not isinstance(settings, EngineSettings):
        raise EngineError(f"settings must be EngineSettings, got {type(settings).__name__}")
    if precision is not None:
        _check_choice("precision", precision, PRECISIONS)


def create_engine_for_network(
    net: DeployNet, settings: EngineSettings, *, key: str | None = None, precision: PrecisionName | None = None
) -> TiledEngine:
    """An engine for a bare deploy net, a torch module (tests, benchmarks, training evaluation).

    key identifies the weights for on-disk engine caches (default: sha256 of the weights);
    precision overrides the device default ("fp32", "bf16", "fp16").
    """
    from .network import SRNet
    from .torch_engine import network_key

    _check_settings(settings, precision)
    key = key or network_key(net)
    if uses_openvino(settings.backend, device_kind(settings.device), precision, foreign=not isinstance(net, SRNet)):
        return _openvino_engine(cast(SRNet, net).plain(), precision, key, settings)  # not foreign: an SRNet
    return _torch_engine(net, settings, key, precision)


def _openvino_engine(net: PlainNet, precision: PrecisionName | None, key: str, settings: EngineSettings) -> TiledEngine:
    from .openvino_engine import OpenVINOEngine

    chosen = precision or default_precision("cpu", "openvino")
    return OpenVINOEngine(net, chosen, key, settings.batch or AUTO_BATCH["cpu"], settings.tile)


def _torch_engine(net: DeployNet, settings: EngineSettings, key: str, precision: PrecisionName | None) -> TiledEngine:
    from .torch_engine import Engine

    device = resolve_device(settings.device)
    return Engine(net, device, settings.backend, settings.batch or AUTO_BATCH[device.type],
                  _net_precision(net, precision, device), key, tile=settings.tile)


def _net_precision(net: DeployNet, asked: PrecisionName | None, device: torch.device) -> PrecisionName:
    """The asked precision, else the device's default; fp32 where a foreign net does not support
    that default (spandrel says per architecture), an error where it does not support the asked one."""
    from .interop.foreign import ForeignNet

    chosen = asked or default_precision(device)
    if isinstance(net, ForeignNet) and chosen not in net.precisions:
        if asked is not None:
            raise EngineError(f"{net.arch_id} does not run in {asked} (spandrel); choose one of {', '.join(net.precisions)}")
        return "fp32"
    return chosen


def create_engine(preset: Any, settings: EngineSettings | None = None) -> TiledEngine:
    """An engine for a preset (repsr_video.preset.Preset); its weights hash keys on-disk caches.
    On OpenVINO the weights are read as arrays and torch is never imported."""
    settings = settings or EngineSettings()
    _check_settings(settings, None)
    if uses_openvino(settings.backend, device_kind(settings.device), None, preset.is_foreign):
        return _openvino_engine(preset.plain_net(), None, preset.sha256, settings)
    return _torch_engine(preset.build_network(), settings, preset.sha256, None)


def __getattr__(name: str) -> Any:
    """The torch engine's names load torch, so they load when first asked for."""
    if name in ("Engine", "network_key", "DeployNet"):
        from . import torch_engine

        return getattr(torch_engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AUTO_BATCH", "BACKENDS", "DEVICES", "PRECISIONS", "BackendName", "DeviceName", "Engine", "EngineSettings",
    "PrecisionName", "TiledEngine", "create_engine", "create_engine_for_network", "default_precision",
    "device_kind", "resolve_device", "uses_openvino",
]
