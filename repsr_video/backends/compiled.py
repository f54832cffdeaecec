"""torch.compile backend, compiled lazily per input shape, falling back to eager when it cannot work.

Shapes are static (`dynamic=False`): measured on a 2-core AVX-512 CPU (M4C16 x2, 640x360, bf16,
channels_last, freezing) a static graph ran 32 frames/s against 29 for `dynamic=True`, and fp32 with
dynamic shapes lost weight prepacking entirely (6 frames/s against 27). The engine pads the last
partial batch to the full batch, so a video compiles exactly one graph per frame size.

CPU: Inductor with `freezing` (weights constant-folded and prepacked for oneDNN).
CUDA: mode "reduce-overhead", i.e. CUDA graphs. Shapes are static and outputs are copied to the host
before the next call, which is what CUDA graphs need; they remove per-kernel launch and guard
overhead that is a visible share of a ~15-kernel net on small frames. "max-autotune" was not chosen:
it benchmarks kernels for minutes per shape, for conv layers that cuDNN already serves well.

A compile is not free. Measured on the 2-core CPU (M4C16 x2 bf16, 640x360): 18 s for the first
shape with a cold Inductor cache, 6 s for each further shape; 5.6 s and 1.0 s when Inductor's on-disk
cache already holds the graphs. Against eager channels_last it saves ~0.02 s per 640x360 frame, so
it pays back after a few hundred frames. A shape is therefore compiled only once it has proved to be
a stream: after COMPILE_AFTER_FRAMES frames of it ran eagerly (~2 s of video). Single images and
short clips never pay for compilation; a long video loses under a second of speed.
"""

from __future__ import annotations

import shutil

import torch

from .eager import EagerBackend

COMPILE_AFTER_FRAMES = 48

_compiled_graphs = 0  # process-wide: Dynamo's recompile limit counts per code object, shared by all engines


def compiler_problem(device: torch.device) -> str | None:
    """Why torch.compile cannot work here (None when the toolchain looks present)."""
    if device.type == "cpu":
        try:
            from torch._inductor.cpp_builder import get_cpp_compiler
        except ImportError:  # a torch without this helper: look for a compiler ourselves
            found = any(shutil.which(name) for name in ("g++", "c++", "clang++"))
            return None if found else "torch.compile on CPU needs a C++ compiler (g++ or clang++), none was found"
        try:
            get_cpp_compiler()  # the compiler Inductor will use (CXX or its config), checked by Inductor itself
        except Exception as error:  # noqa: BLE001 - any failure here means Inductor has no usable compiler
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            return f"torch.compile on CPU needs a working C++ compiler: {reason}"
        return None
    if device.type == "cuda":
        try:
            from torch.utils._triton import has_triton
        except ImportError:
            return "torch.compile on CUDA needs triton, which this torch build does not provide"
        if not has_triton():
            return "torch.compile on CUDA needs triton, which is not installed"
        return None
    return f"torch.compile is not used on {device.type}"


def _recompile_limit() -> int:
    import torch._dynamo.config as dynamo_config

    return int(getattr(dynamo_config, "recompile_limit", getattr(dynamo_config, "cache_size_limit", 8)))


class CompiledBackend:
    """Runs eagerly until a shape has been seen COMPILE_AFTER_FRAMES times, then compiled.

    `note` records why compilation was abandoned (the engine reports it); after one failure every
    shape runs eagerly, so a broken toolchain costs one failed attempt, not one per shape.
    """

    name = "compile"

    def __init__(self, eager: EagerBackend, device: torch.device) -> None:
        self.eager = eager
        self.device = device
        self.note = ""
        self.failed = False
        self._frames_seen: dict[tuple, int] = {}
        self._compiled: dict[torch.dtype, object] = {}
        self._ready: set[tuple] = set()

    def current_name(self) -> str:
        return self.eager.current_name() if self.failed else self.name

    def notes(self) -> list[str]:
        return ([self.note] if self.note else []) + self.eager.notes()

    def _compile(self, dtype: torch.dtype):
        if dtype not in self._compiled:
            graph = self.eager.graphs[dtype]
            if self.device.type == "cuda":
                self._compiled[dtype] = torch.compile(graph, dynamic=False, mode="reduce-overhead")
            else:
                self._compiled[dtype] = torch.compile(graph, dynamic=False, options={"freezing": True})
        return self._compiled[dtype]

    def __call__(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        global _compiled_graphs
        key = (tuple(raw.shape), raw.dtype)
        if self.failed:
            return self.eager(raw)
        if key not in self._ready:
            seen = self._frames_seen.get(key, 0)
            if seen < COMPILE_AFTER_FRAMES:
                self._frames_seen[key] = seen + raw.shape[0]
                return self.eager(raw)
            if _compiled_graphs >= _recompile_limit():
                # Dynamo would fall back to eager itself beyond this, with a logged warning.
                self.note = f"more than {_recompile_limit()} frame shapes in this process: further shapes run eagerly"
                return self.eager(raw)
        compiled = self._compile(raw.dtype)
        try:
            with torch.inference_mode():
                if self.device.type == "cuda":
                    torch.compiler.cudagraph_mark_step_begin()
                out = compiled(raw)
        except Exception as error:  # noqa: BLE001 - any compiler failure: record it and run eagerly
            if key in self._ready:
                raise  # it compiled and ran before: this is a real runtime error, not the toolchain
            self.failed = True
            first_line = str(error).splitlines()[0] if str(error) else ""
            self.note = f"torch.compile failed, running eagerly: {type(error).__name__}: {first_line}"
            return self.eager(raw)
        if key not in self._ready:
            self._ready.add(key)
            _compiled_graphs += 1
        return out
