"""torch-tensorrt backend (Dynamo frontend, torch-tensorrt 2.13+), one static engine per input shape.

NOT RUN ANYWHERE YET: no machine this project can reach has TensorRT (NVIDIA's libraries cannot be
installed there), so this module is written against torch-tensorrt's documented 2.13/2.14 API and
has never built an engine. It sits behind an import guard: without torch_tensorrt the engine raises
EngineError (backend "tensorrt") or picks torch.compile (backend "auto").

How it builds, following the 2.13 API:
- Precision: since 2.13 the Dynamo path is strongly typed and `enabled_precisions` is gone (silently
  ignored if passed), so the engine's precision comes from the module's and the inputs' dtype: the
  residual arrives in the engine's precision (fp16 on CUDA unless asked otherwise) and is traced with
  inputs of that dtype (`Input(..., dtype=...)`). Only SRNet's residual branch is compiled; the
  uint8/uint16 conversion, the nearest-neighbour skip (fp32) and clamping stay in PyTorch around it.
- Shapes: static, the engine's padded batch x 3 x H x W. TensorRT picks kernels per shape, video
  has one shape per file, and static profiles avoid torch.export's min==opt pitfall (#4103).
- Caching: the compiled module is saved with `torch_tensorrt.save` to our own cache directory,
  keyed by the preset's sha256, input shape, batch, precision, GPU name and compute capability, and
  the torch / torch-tensorrt / TensorRT versions (a file from another ABI or GPU must never be
  loaded). torch-tensorrt's own engine cache is not used: it only works for refittable engines
  (`immutable_weights=False`) and its key ignores the GPU and the TensorRT version. We therefore keep
  `immutable_weights=True`, the default, which lets TensorRT fold weights into the engine.
- Files are written through `output.atomic_write`, so an interrupted build leaves nothing to load.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..cache import cache_dir as shared_cache_dir
from ..choices import PrecisionName
from ..errors import EngineError
from ..output import atomic_write
from .base import Backend
from .graph import COMPUTE_DTYPES, FrameGraph, GraphFactory


def tensorrt_problem() -> str | None:
    """Why the TensorRT backend cannot be used (None when torch_tensorrt imports)."""
    try:
        import torch_tensorrt  # noqa: F401
    except Exception as error:  # noqa: BLE001 - ImportError, or a broken install raising OSError etc.
        return (
            f"torch-tensorrt is not importable ({type(error).__name__}: {error}); "
            "install it with `pip install repsr-video[tensorrt]` on a machine with NVIDIA TensorRT, "
            "or use --backend compile"
        )
    return None


def cache_dir() -> Path:
    return shared_cache_dir("tensorrt")


def engine_key(model_key: str, shape: tuple[int, ...], device: torch.device, precision: PrecisionName) -> dict[str, str]:
    """Everything a saved engine depends on; any change means a different file."""
    import torch_tensorrt

    try:
        import tensorrt

        trt_version = tensorrt.__version__
    except Exception:  # noqa: BLE001 - version unknown still gives a usable (conservative) key
        trt_version = "unknown"
    major, minor = torch.cuda.get_device_capability(device)
    return {
        "model_sha256": model_key,
        "input_shape": "x".join(str(d) for d in shape),
        "batch": str(shape[0]),
        "precision": precision,
        "gpu": torch.cuda.get_device_name(device),
        "compute_capability": f"{major}.{minor}",
        "torch": torch.__version__,
        "torch_tensorrt": torch_tensorrt.__version__,
        "tensorrt": trt_version,
    }


def engine_path(key: dict[str, str]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    name = f"{key['model_sha256'][:12]}_{key['input_shape']}_{key['precision']}_{digest}.pt2"  # torch.export archives want .pt2
    return cache_dir() / name


def _load(path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    import torch_tensorrt  # noqa: F401 - registers the TensorRT runtime ops the saved program calls

    return torch.export.load(str(path)).module()


def _build(residual: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, path: Path):
    import torch_tensorrt

    example = torch.zeros(shape, dtype=dtype, device=device)
    exported = torch.export.export(residual, (example,))
    module = torch_tensorrt.dynamo.compile(
        exported,
        arg_inputs=[torch_tensorrt.Input(shape, dtype=dtype)],
        device=device,
        min_block_size=1,  # the whole net is ~15 ops; keep every one in the engine
        optimization_level=3,
        immutable_weights=True,  # see module docstring: our own cache, not torch-tensorrt's
        cache_built_engines=False,
        reuse_cached_engines=False,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as partial:
        torch_tensorrt.save(module, str(partial), output_format="exported_program", arg_inputs=[example])
    return module


class TensorRTBackend:
    """One TensorRT engine per (padded batch, H, W), loaded from disk when a matching one exists."""

    name = "tensorrt"

    def __init__(
        self,
        residual: nn.Module,
        scale: int,
        device: torch.device,
        model_key: str,
        graph_factory: GraphFactory,
        fallback: Backend,
        *,
        precision: PrecisionName,
    ) -> None:
        problem = tensorrt_problem()
        if problem:
            raise EngineError(problem)
        self.precision = precision
        self.dtype = COMPUTE_DTYPES[precision]
        if any(p.dtype != self.dtype for p in residual.parameters()):
            raise ValueError(f"the residual's weights must be {self.dtype} for a {precision} TensorRT engine")
        self.residual = residual
        self.scale = scale
        self.device = device
        self.model_key = model_key
        self.graph_factory = graph_factory
        self.fallback = fallback  # runs everything once a build fails (backend "auto" must still work)
        self.failed = False
        self.note = ""
        self._engines: dict[tuple[int, ...], Callable] = {}
        self._graphs: dict[tuple, FrameGraph] = {}

    def _engine(self, shape: tuple[int, ...]):
        if shape not in self._engines:
            key = engine_key(self.model_key, shape, self.device, self.precision)
            path = engine_path(key)
            module = None
            if path.exists():
                try:
                    module = _load(path)
                except Exception as error:  # noqa: BLE001 - stale/corrupt file: rebuild it
                    self.note = f"rebuilt TensorRT engine {path.name}: cached file did not load ({error})"
            if module is None:
                module = _build(self.residual, shape, self.dtype, self.device, path)
            self._engines[shape] = module
        return self._engines[shape]

    def current_name(self) -> str:
        return self.fallback.current_name() if self.failed else self.name

    def notes(self) -> list[str]:
        return ([self.note] if self.note else []) + self.fallback.notes()

    def __call__(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.failed:
            return self.fallback(raw)
        n, h, w, _ = raw.shape
        key = (n, h, w, raw.dtype)
        if key not in self._graphs:
            try:
                trt_module = self._engine((n, 3, h, w))
            except Exception as error:  # noqa: BLE001 - unsupported op, TensorRT build error, out of memory...
                self.failed = True
                self.note = f"TensorRT build failed, using {self.fallback.current_name()}: {type(error).__name__}: {error}"
                return self.fallback(raw)
            # TensorRT bindings expect dense NCHW; the graph hands over channels_last memory.
            self._graphs[key] = self.graph_factory(lambda x: trt_module(x.contiguous()), raw.dtype)
        with torch.inference_mode():
            return self._graphs[key](raw)
