"""The inference engine: batches of RGB frames in, upscaled RGB frames out, on the fastest path here.

    engine = create_engine(preset, EngineSettings(device="auto", backend="auto", batch=0))
    big = engine.upscale(frames)   # (N,H,W,3) uint8 or uint16 -> (N,sH,sW,3), same dtype

Built once and reused across inputs of any shape; backends compile per shape lazily.

Precision. CUDA: fp16. CPU: bf16 where the CPU has native bf16 instructions (avx512_bf16 / AMX),
otherwise fp32. In both cases only the net's residual branch runs in low precision; the global
nearest-neighbour skip, the clamp and the integer conversion run in fp32, which keeps the rounding
error proportional to the (small) residual instead of the pixel value (see benchmarks/bf16_quality.py
for the measured effect). A batch whose fp16 residual overflowed (inf/NaN) is recomputed in fp32
rather than written out as black or NaN pixels; `engine.fp32_retries` counts such frames.

Transfers (CUDA): frames go to the GPU as integers (uint8, or uint16 viewed as int16) through pinned
host buffers with non-blocking copies; conversion to float and channels_last layout happen on the
GPU, and results come back as integers the same way.

Memory. Frames whose working memory exceeds the budget (half the free RAM up to 2 GiB on CPU, most of
the free GPU memory on CUDA; repsr_video/budget.py) run in tiles with a halo of the net's receptive
radius, so the result is the untiled one (repsr_video/tiling.py); EngineSettings.tile overrides the
size (0 = never). `check_frame` refuses a frame size that cannot fit even tiled, before any work. A
CUDA out-of-memory error halves the batch, then the tile, and runs the same frames again.

Threads (CPU): torch's OpenMP threads share the cores with decoding and encoding. The CLI sets
OMP_WAIT_POLICY=PASSIVE before torch loads; on a busy 2-core machine the default spinning policy
made inference 10-20x slower. Library users on shared machines should set it too.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .backends.base import Backend
from .backends.compiled import CompiledBackend, compiler_problem
from .backends.eager import EagerBackend
from .backends.graph import COMPUTE_DTYPES, WIRE_DTYPES, FrameGraph, Residual, ResidualFn
from .backends.openvino import OpenVINOBackend, openvino_problem
from .budget import OomRetry, bytes_per_output_pixel, check_host_room, choose_tile, default_budget
from .choices import BACKENDS, DEVICES, PRECISIONS, BackendName, DeviceName, PrecisionName, cuda_index, is_device_name
from .errors import EngineError
from .interop.foreign import ForeignNet
from .network import SRNet
from .tiling import receptive_radius, upscale_tiled, window_shape

# What the engine runs: our deploy net (its global skip added in fp32), or a foreign architecture
# that spandrel builds (the whole image in the compute precision, eager or compiled, never TensorRT).
DeployNet = SRNet | ForeignNet

# Frames per batch when EngineSettings.batch == 0. CPU: batching does not speed convolutions up
# there (compiled bf16 M4C16 x2 at 640x360 on 2 cores: 15 frames/s at batch 1, 11 at batch 2) and
# costs memory; CUDA: a few frames per launch keep the GPU busy at 540p-1080p (not measured: no GPU).
AUTO_BATCH = {"cpu": 1, "cuda": 4}


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


def cpu_has_native_bf16() -> bool:
    """True where bf16 convolutions are fast: oneDNN supports bf16 and the CPU has bf16 instructions.

    oneDNN also emulates bf16 on plain AVX-512 CPUs, where it is slower than fp32, hence the flag check.
    """
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def default_precision(device: torch.device) -> PrecisionName:
    if device.type == "cuda":
        return "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def network_key(net: nn.Module) -> str:
    """sha256 of the weights, for nets that do not come from a preset (whose file hash is used)."""
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


class _HostBuffers:
    """Reused host tensors for one batch shape: pinned on CUDA, so copies can be non-blocking."""

    def __init__(self, in_shape: tuple, out_shape: tuple, dtype: torch.dtype, pinned: bool) -> None:
        self.key = (in_shape, out_shape, dtype)
        self.input = torch.zeros(in_shape, dtype=dtype, pin_memory=pinned)
        self.output = torch.empty(out_shape, dtype=dtype, pin_memory=pinned) if pinned else None
        self.finite = torch.empty((), dtype=torch.bool, pin_memory=pinned) if pinned else None


class Engine:
    """Upscales batches of frames. Attributes: scale, batch, device, backend, precision, notes."""

    def __init__(
        self, net: DeployNet, device: torch.device, backend: str, batch: int, precision: PrecisionName, key: str,
        tile: int | None = None,
    ) -> None:
        self.scale = net.scale
        self.weights_key = key  # which weights (a preset's SHA-256): saved job state is matched on it
        self._skip = isinstance(net, SRNet)  # a foreign net computes the whole image itself
        self.precision = precision
        self._oom = OomRetry(self._run_tiled, batch)  # owns the batch size: halves it on CUDA out-of-memory
        self._device = device
        self.fp32_retries = 0
        self._notes: list[str] = []
        self._buffers: _HostBuffers | None = None

        compute_dtype = COMPUTE_DTYPES[precision]
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # shapes repeat for a whole video: let cuDNN pick kernels
        self._residual = self._prepare(net, compute_dtype)
        self._runner = self._make_runner(backend, net, compute_dtype, key)
        # fp32 twin for batches whose low-precision residual overflowed (fp16: |x| > 65504).
        self._retry: EagerBackend | None = None
        if compute_dtype != torch.float32:
            self._retry = EagerBackend(self._graphs(self._prepare(net, torch.float32), torch.float32))
        # Tiling: the halo is the net's reach (None: unknown, never tiled); tiles per frame size.
        self._halo = receptive_radius(net)
        self._tile_setting = tile
        # A foreign net tiles itself (interop/foreign.py); 64 channels only sizes its frames' host memory check.
        self._per_pixel = bytes_per_output_pixel(net.channels if isinstance(net, SRNet) else 64, net.scale)
        self._tiles: dict[tuple[int, int], int] = {}

    # --- construction -------------------------------------------------------------------------

    def _prepare(self, net: DeployNet, dtype: torch.dtype) -> Residual | ForeignNet:
        module = Residual(copy.deepcopy(net)) if isinstance(net, SRNet) else copy.deepcopy(net)
        residual = module.eval().requires_grad_(False)
        # Module.to takes memory_format at run time; torch's type stubs leave it out.
        return residual.to(device=self._device, dtype=dtype, memory_format=torch.channels_last)  # type: ignore[call-overload]

    def _graph(self, residual: ResidualFn, compute_dtype: torch.dtype, wire_dtype: torch.dtype) -> FrameGraph:
        full_scale = next(scale for dtype, scale in WIRE_DTYPES.values() if dtype == wire_dtype)
        return FrameGraph(residual, self.scale, compute_dtype, wire_dtype, full_scale, skip=self._skip)

    def _graphs(self, residual: ResidualFn, compute_dtype: torch.dtype) -> dict[torch.dtype, FrameGraph]:
        return {wire: self._graph(residual, compute_dtype, wire) for wire, _ in WIRE_DTYPES.values()}

    def _make_runner(self, backend: str, net: DeployNet, compute_dtype: torch.dtype, key: str) -> Backend:
        eager = EagerBackend(self._graphs(self._residual, compute_dtype))
        if backend == "eager":
            return eager
        if uses_openvino(backend, self._device, self.precision, net):
            assert isinstance(net, SRNet)  # uses_openvino refuses foreign nets
            return OpenVINOBackend(net, self.precision, torch.get_num_threads())
        if isinstance(net, ForeignNet):
            if backend == "tensorrt":
                raise EngineError(f"backend 'tensorrt' runs RepSR presets only, not {net.arch_id} (spandrel); use compile")
            backend = "compile"
        if backend == "tensorrt" and self._device.type != "cuda":
            raise EngineError("backend 'tensorrt' needs device 'cuda' (TensorRT runs on NVIDIA GPUs only)")
        compile_problem = compiler_problem(self._device)
        fast: Backend = eager if compile_problem else CompiledBackend(eager, self._device)
        if backend in ("auto", "tensorrt") and self._device.type == "cuda":
            from .backends.tensorrt import TensorRTBackend, tensorrt_problem

            problem = tensorrt_problem()
            if problem is None:
                def graph_factory(residual: ResidualFn, wire: torch.dtype) -> FrameGraph:
                    return self._graph(residual, compute_dtype, wire)

                return TensorRTBackend(
                    self._residual, self.scale, self._device, key, graph_factory, fast, precision=self.precision
                )
            if backend == "tensorrt":
                raise EngineError(problem)
            self._notes.append(f"TensorRT not used: {problem}")
        if compile_problem:
            self._notes.append(f"running eagerly: {compile_problem}")
        return fast

    # --- reporting ----------------------------------------------------------------------------

    @property
    def device(self) -> str:
        return self._device.type

    @property
    def batch(self) -> int:
        """Frames per call to the backend (halved after a CUDA out-of-memory error)."""
        return self._oom.batch

    @property
    def backend(self) -> str:
        """The backend actually in use ("compile" turns into "eager" if compilation failed)."""
        return self._runner.current_name()

    @property
    def notes(self) -> list[str]:
        """Why the engine runs differently from what was asked (fallbacks), for the CLI to show."""
        return self._notes + self._runner.notes() + self._oom.notes

    def describe(self) -> str:
        return f"{self.backend} on {self.device}, {self.precision}, batch {self.batch}"

    # --- inference ----------------------------------------------------------------------------

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        """(N,H,W,3) uint8 or uint16 RGB -> (N,sH,sW,3) of the same dtype, any N >= 1."""
        if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
            shape = getattr(frames, "shape", None)
            raise EngineError(f"engine input must be an (N,H,W,3) RGB array with N >= 1, got shape {shape}")
        if frames.dtype.name not in WIRE_DTYPES:
            raise EngineError(f"engine input dtype {frames.dtype} is not one of {', '.join(WIRE_DTYPES)}")
        if frames.shape[1] < 1 or frames.shape[2] < 1:
            raise EngineError(f"engine input frames are empty: shape {frames.shape}")
        return self._oom(frames, self.tile_for(frames.shape[1], frames.shape[2]))

    # --- memory -------------------------------------------------------------------------------

    def tile_for(self, height: int, width: int) -> int:
        """Tile side (input pixels) for frames of this size; 0 = whole frames. Raises EngineError
        (one line) when not even the smallest tile fits the memory budget."""
        if (height, width) not in self._tiles:
            self._tiles[height, width] = self._choose_tile(height, width)
        return self._oom.tile_for(self._tiles[height, width], height, width)

    def _choose_tile(self, height: int, width: int) -> int:
        if self._tile_setting is not None:
            if self._tile_setting > 0 and self._halo is None:
                raise EngineError("tiling needs a net whose receptive field is known (a RepSR preset); use --tile 0")
            return self._tile_setting
        if self._halo is None:
            return 0
        budget = default_budget(self._device)
        return choose_tile(self.batch, height, width, self.scale, self._halo, self._per_pixel, budget)

    def working_bytes(self, height: int, width: int) -> int:
        """Estimated working memory of one batch of frames of this size (one window when tiled)."""
        tile = self.tile_for(height, width)
        rows, cols = (height, width) if tile == 0 else window_shape(height, width, tile, self._halo or 0)
        return int(self.batch * rows * cols * self.scale**2 * self._per_pixel)

    def check_frame(self, height: int, width: int, itemsize: int, frames_in_flight: int = 1) -> None:
        """Refuse, before any work and in one line, frames that cannot be upscaled in this machine's memory:
        their pixels (input and output of `frames_in_flight` frames) or even their smallest tile."""
        working = self.working_bytes(height, width) if self._device.type == "cpu" else 0
        check_host_room(max(frames_in_flight, self.batch), height, width, self.scale, itemsize, working)

    def _run_tiled(self, frames: np.ndarray, tile: int) -> np.ndarray:
        return upscale_tiled(frames, self._upscale_batch, self.scale, tile, self._halo or 0)

    def _upscale_batch(self, frames: np.ndarray) -> np.ndarray:
        n, h, w, _ = frames.shape
        wire_dtype, _ = WIRE_DTYPES[frames.dtype.name]
        numpy_view = np.uint16 if frames.dtype == np.uint16 else np.uint8
        wire = np.ascontiguousarray(frames).view(np.int16 if frames.dtype == np.uint16 else np.uint8)
        # The last partial batch is padded to a full one (except for eager CPU runs), so a video
        # compiles one graph and uses one set of pinned buffers. Padding rows are stale and dropped.
        padded = n if self._device.type == "cpu" and self._runner.name != "compile" else self.batch
        s = self.scale
        buffers = None
        if self._device.type == "cpu" and padded == n:
            host_in = torch.from_numpy(wire)
        else:
            buffers = self._buffers_for((padded, h, w, 3), (padded, s * h, s * w, 3), wire_dtype)
            host_in = buffers.input
            host_in[:n].copy_(torch.from_numpy(wire))
        device_in = host_in.to(self._device, non_blocking=True)

        out, finite = self._runner(device_in)
        if buffers is not None and buffers.output is not None and buffers.finite is not None:  # CUDA: via pinned memory
            buffers.output.copy_(out, non_blocking=True)
            buffers.finite.copy_(finite, non_blocking=True)
            torch.cuda.current_stream(self._device).synchronize()
            all_finite = bool(buffers.finite)
            out = buffers.output
        else:
            all_finite = bool(finite)
        if not all_finite and self._retry is not None:
            self.fp32_retries += n
            out, _ = self._retry(device_in)
            out = out.cpu()
        # Copy out of the reused pinned buffer (CUDA) / keep the fresh tensor (CPU).
        result = out[:n].numpy()
        result = result.copy() if self._device.type == "cuda" and all_finite else result
        return result.view(numpy_view)

    def _buffers_for(self, in_shape: tuple, out_shape: tuple, dtype: torch.dtype) -> _HostBuffers:
        key = (in_shape, out_shape, dtype)
        if self._buffers is None or self._buffers.key != key:
            self._buffers = _HostBuffers(in_shape, out_shape, dtype, pinned=self._device.type == "cuda")
        return self._buffers


def uses_openvino(backend: str, device: torch.device, precision: PrecisionName, net: DeployNet | None = None) -> bool:
    """Whether the engine runs on OpenVINO: when asked, or by `auto` on CPU where it can (it was faster than
    torch on every shipped net in fp32 and bf16 and needs no warm-up: docs/speed.md). Raises EngineError when
    asked for where it cannot run. `net` None: a RepSR preset (what job fingerprints ask about)."""
    if backend == "openvino":
        if device.type != "cpu":
            raise EngineError(f"backend 'openvino' runs on the CPU, not {device.type}; use compile or tensorrt there")
        if isinstance(net, ForeignNet):
            raise EngineError(f"backend 'openvino' runs RepSR presets only, not {net.arch_id} (spandrel); use compile")
        problem = openvino_problem(precision)
        if problem:
            raise EngineError(problem)
        return True
    foreign = isinstance(net, ForeignNet)
    return backend == "auto" and device.type == "cpu" and not foreign and openvino_problem(precision) is None


def _resolve_batch(settings: EngineSettings, device: torch.device) -> int:
    return settings.batch or AUTO_BATCH[device.type]


def create_engine_for_network(
    net: DeployNet, settings: EngineSettings, *, key: str | None = None, precision: PrecisionName | None = None
) -> Engine:
    """An engine for a bare deploy net (tests, benchmarks, training evaluation).

    key identifies the weights for on-disk engine caches (default: sha256 of the weights);
    precision overrides the device default ("fp32", "bf16", "fp16").
    """
    if not isinstance(settings, EngineSettings):
        raise EngineError(f"settings must be EngineSettings, got {type(settings).__name__}")
    if precision is not None:
        _check_choice("precision", precision, PRECISIONS)
    device = resolve_device(settings.device)
    return Engine(
        net,
        device,
        settings.backend,
        _resolve_batch(settings, device),
        _net_precision(net, precision, device),
        key or network_key(net),
        tile=settings.tile,
    )


def _net_precision(net: DeployNet, asked: PrecisionName | None, device: torch.device) -> PrecisionName:
    """The asked precision, else the device's default; fp32 where a foreign net does not support
    that default (spandrel says per architecture), an error where it does not support the asked one."""
    chosen = asked or default_precision(device)
    if isinstance(net, ForeignNet) and chosen not in net.precisions:
        if asked is not None:
            raise EngineError(f"{net.arch_id} does not run in {asked} (spandrel); choose one of {', '.join(net.precisions)}")
        return "fp32"
    return chosen


def create_engine(preset, settings: EngineSettings | None = None) -> Engine:
    """An engine for a preset (repsr_video.preset.Preset); its weights hash keys on-disk caches."""
    return create_engine_for_network(preset.build_network(), settings or EngineSettings(), key=preset.sha256)


__all__ = [
    "AUTO_BATCH", "BACKENDS", "DEVICES", "PRECISIONS", "BackendName", "DeviceName", "Engine", "EngineSettings",
    "PrecisionName", "create_engine", "create_engine_for_network", "default_precision", "resolve_device",
]
