"""The torch engine: eager, torch.compile or TensorRT on the CPU or a CUDA GPU (repsr_video/engine.py builds it).

Precision. CUDA: fp16. CPU: bf16 where the CPU has native bf16 instructions (avx512_bf16 / AMX),
otherwise fp32. In both cases only the net's residual branch runs in low precision; the global
nearest-neighbour skip, the clamp and the integer conversion run in fp32, which keeps the rounding
error proportional to the (small) residual instead of the pixel value (see benchmarks/bf16_quality.py
for the measured effect). A batch whose fp16 residual overflowed (inf/NaN) is recomputed in fp32
rather than written out as black or NaN pixels; `engine.fp32_retries` counts such frames.

Transfers (CUDA): frames go to the GPU as integers (uint8, or uint16 viewed as int16) through pinned
host buffers with non-blocking copies; conversion to float and channels_last layout happen on the
GPU, and results come back as integers the same way.

Memory: repsr_video/engine_base.py (tiles with exact seams, sized from the budget). A CUDA
out-of-memory error halves the batch, then the tile, and runs the same frames again.

Threads (CPU): torch's OpenMP threads share the cores with decoding and encoding. The CLI sets
OMP_WAIT_POLICY=PASSIVE before torch loads; on a busy 2-core machine the default spinning policy
made inference 10-20x slower. Library users on shared machines should set it too.
"""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import torch
from torch import nn

from .backends.base import Backend
from .backends.compiled import CompiledBackend, compiler_problem
from .backends.eager import EagerBackend
from .backends.graph import COMPUTE_DTYPES, WIRE_DTYPES, FrameGraph, Residual, ResidualFn
from .budget import bytes_per_output_pixel, default_budget
from .choices import PrecisionName
from .engine_base import TiledEngine
from .errors import EngineError
from .frames import planes_problem
from .interop.foreign import ForeignNet
from .network import SRNet
from .tiling import receptive_radius
from .yuv import integers_to_torch, planes_to_host, planes_to_wire, wire_to_planes
from .yuv_layout import YuvLayout

# What the engine runs: our deploy net (its global skip added in fp32), or a foreign architecture
# that spandrel builds (the whole image in the compute precision, eager or compiled, never TensorRT).
DeployNet = SRNet | ForeignNet


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


class Engine(TiledEngine):
    """The torch engine: eager, torch.compile or TensorRT, on the CPU or a CUDA GPU (see TiledEngine)."""

    def __init__(
        self, net: DeployNet, device: torch.device, backend: str, batch: int, precision: PrecisionName, key: str,
        tile: int | None = None,
    ) -> None:
        # Tiling: the halo is the net's reach (None: unknown, never tiled). A foreign net tiles itself
        # (interop/foreign.py); 64 channels only sizes its frames' host memory check.
        per_pixel = bytes_per_output_pixel(net.channels if isinstance(net, SRNet) else 64, net.scale)
        # the batch size halves on a CUDA out-of-memory error
        super().__init__(net.scale, precision, key, batch, receptive_radius(net), per_pixel, tile,
                         torch.cuda.empty_cache, (torch.cuda.OutOfMemoryError,))
        self._skip = isinstance(net, SRNet)  # a foreign net computes the whole image itself
        self._device = device
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
    def backend(self) -> str:
        """The backend actually in use ("compile" turns into "eager" if compilation failed)."""
        return self._runner.current_name()

    def _runtime_notes(self) -> list[str]:
        return self._runner.notes()

    def _budget(self) -> int:
        return default_budget(self._device)

    # --- inference ----------------------------------------------------------------------------

    def _upscale_batch(self, frames: np.ndarray) -> np.ndarray:
        n, h, w, _ = frames.shape
        wire_dtype, _ = WIRE_DTYPES[frames.dtype.name]
        numpy_view = np.uint16 if frames.dtype == np.uint16 else np.uint8
        wire = np.ascontiguousarray(frames).view(np.int16 if frames.dtype == np.uint16 else np.uint8)
        # The last partial batch is padded to a full one (except for eager CPU runs), so a video
        # compiles one graph and uses one set of pinned buffers. Padding rows are stale and dropped.
        padded = n if self._device.type == "cpu" and self._runner.name == "eager" else self.batch
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

    # --- the YUV path (repsr_video/yuv_path.py) -----------------------------------------------

    def upscale_yuv(
        self, y: np.ndarray, u: np.ndarray, v: np.ndarray, layout: YuvLayout
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """4:2:0 planes -> the upscaled frames' planes in the same layout: Y (N,H,W), U and V (N,H/2,W/2),
        uint8 for 8-bit, uint16 holding 10-bit values (repsr_video/frames.py, YuvFrameBatch).

        Only the planes cross to and from the device. There repsr_video/yuv.py makes RGB frames in the
        RGB path's wire dtype (8 or 16 bits), the same graphs run on them (fp32 retry as in `upscale`),
        and the result goes back to planes. Whole frames: yuv_path.yuv_layout picks this path only where
        no tiling is needed. A CUDA out-of-memory error sends that batch through `upscale` (which halves
        the batch, then tiles) with the conversions on the host.
        """
        problem = planes_problem(y, u, v, layout)
        if problem:
            raise EngineError(f"engine input: {problem}")
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        start = 0
        while start < len(y):
            step = self.batch  # read each time: an out-of-memory retry in `upscale` halves it
            chunk = (y[start : start + step], u[start : start + step], v[start : start + step])
            result = None
            try:
                result = self._upscale_planes(chunk, layout)
            except torch.cuda.OutOfMemoryError:
                pass
            if result is None:
                torch.cuda.empty_cache()  # outside the except block: the traceback no longer holds the tensors
                result = self._upscale_planes_on_host(chunk, layout)
            parts.append(result)
            start += step
        if len(parts) == 1:
            return parts[0]
        big_y, big_u, big_v = (np.concatenate(p) for p in zip(*parts, strict=True))
        return big_y, big_u, big_v

    def _upscale_planes(self, planes: tuple[np.ndarray, ...], layout: YuvLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(planes[0])
        with torch.inference_mode():
            y, u, v = (p.to(self._device, non_blocking=True) for p in integers_to_torch(planes))
            frames = planes_to_wire(y, u, v, layout)
            # padded to a full batch like `upscale` (except eager CPU runs): one compiled graph per video
            if n < self.batch and not (self._device.type == "cpu" and self._runner.name == "eager"):
                frames = torch.cat([frames, frames.new_zeros((self.batch - n, *frames.shape[1:]))])
            out, finite = self._runner(frames)
            if not bool(finite) and self._retry is not None:
                self.fp32_retries += n
                out, _ = self._retry(frames)
            return planes_to_host(wire_to_planes(out[:n], layout))

    def _upscale_planes_on_host(
        self, planes: tuple[np.ndarray, ...], layout: YuvLayout
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with torch.inference_mode():
            y, u, v = integers_to_torch(planes)
            frames = planes_to_wire(y, u, v, layout).numpy()
            numpy_view = np.uint8 if frames.dtype == np.uint8 else np.uint16
            big = self.upscale(frames.view(numpy_view))
            return planes_to_host(wire_to_planes(integers_to_torch((big,))[0], layout))
