"""torch.compile backend, compiled lazily per input shape, falling back to eager when it cannot work.

Shapes are static (`dynamic=False`): measured on a 2-core AVX-512 CPU (M4C16 x2, 640x360, bf16,
channels_last, freezing) a static graph ran 32 frames/s against 29 for `dynamic=True`, and fp32 with
dynamic shapes lost weight prepacking entirely (6 frames/s against 27). The engine pads the last
partial batch to the full batch, so a video compiles exactly one graph per frame size.

CPU: Inductor with `freezing` (weights constant-folded and prepacked for oneDNN's convolutions).
`torch.compile(options={"freezing": True})` does not turn it on (torch 2.13: the generated code
still passed the weights as inputs to plain aten convolutions); Inductor's config patched around
the compiling call does, so that is how it is set (see benchmarks/cpu_runtimes.py for the effect).
CUDA: mode "reduce-overhead", i.e. CUDA graphs. Shapes are static and outputs are copied to the host
before the next call, which is what CUDA graphs need; they remove per-kernel launch and guard
overhead that is a visible share of a ~15-kernel net on small frames. "max-autotune" was not chosen:
it benchmarks kernels for minutes per shape, for conv layers that cuDNN already serves well.

A compile is not free (benchmarks/startup.py measures it), and importing Inductor alone takes
seconds, so nothing of it is imported before a shape has earned a compile:
- a shape is compiled only after COMPILE_AFTER_FRAMES frames *and* (CPU) COMPILE_AFTER_SECONDS
  seconds of it ran eagerly (CPU seconds of the inferring thread): single images and short clips
  never compile, and a clip long enough to start one has already run about as long as the compile
  takes (so it loses at most about that much). CUDA counts frames only;
- on CPU the compile runs in a background thread on a stand-in batch of the same shape while the
  real frames keep flowing eagerly; the compiled graph takes over once it is ready. (CUDA compiles
  in the calling thread: CUDA graphs are recorded per thread.) A process whose input ends during
  a compile cancels it (an exception raised in its thread) and waits only for that;
- Inductor's on-disk cache lives under the repsr-video cache folder (TORCHINDUCTOR_CACHE_DIR unless
  already set), so it survives reboots and a later run of the same shape compiles in a few seconds.
COMPILE_AFTER_FRAMES = 0 compiles at the first call, in the calling thread (tests, benchmarks).
"""


from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from ..cache import cache_dir
from .eager import EagerBackend

COMPILE_AFTER_FRAMES = 48
# Eager seconds (CPU time of the inferring thread) on one shape before its compile starts: about what
# a compile costs on a busy 2-core CPU (M4C16 x2 640x360: 8-9 s with a warm Inductor cache, 18-23 s
# cold; benchmarks/startup.py), so a stream that stops right after its compile started has lost at
# most about what it had run.
COMPILE_AFTER_SECONDS = 15.0

_compiled_graphs = 0  # process-wide: Dynamo's recompile limit counts per code object, shared by all engines


@contextmanager
def compiling_at_once() -> Iterator[None]:
    """Within it, every new shape compiles at its first call, in the calling thread: for warm-ups of
    benchmarks, which want the compiled speed measured rather than the policy."""
    global COMPILE_AFTER_FRAMES
    saved, COMPILE_AFTER_FRAMES = COMPILE_AFTER_FRAMES, 0
    try:
        yield
    finally:
        COMPILE_AFTER_FRAMES = saved


def _configured_cxx() -> str | None:
    """The C++ compiler Inductor will call: its config if already loaded (importing it costs
    seconds), else $CXX; None means Inductor's default (g++)."""
    config = sys.modules.get("torch._inductor.config")
    if config is not None:
        cxx = config.cpp.cxx
        names = [c for c in (cxx if isinstance(cxx, tuple) else (cxx,)) if c]
        return names[-1] if names else None
    return os.environ.get("CXX") or None


def compiler_problem(device: torch.device) -> str | None:
    """Why torch.compile cannot work here (None when the toolchain looks present).

    A cheap look (no Inductor import, no compiler run); a compiler that is present but broken shows
    at the first compile, which then falls back to eager with a note.
    """
    if device.type == "cpu":
        cxx = _configured_cxx()
        if cxx is not None:
            return None if shutil.which(cxx) else f"torch.compile on CPU needs a working C++ compiler: {cxx} was not found"
        if any(shutil.which(name) for name in ("g++", "c++", "clang++")):
            return None
        return "torch.compile on CPU needs a C++ compiler (g++ or clang++), none was found"
    if device.type == "cuda":
        try:
            from torch.utils._triton import has_triton
        except ImportError:
            return "torch.compile on CUDA needs triton, which this torch build does not provide"
        if not has_triton():
            return "torch.compile on CUDA needs triton, which is not installed"
        return None
    return f"torch.compile is not used on {device.type}"


def inductor_cache_dir() -> Path:
    """Where Inductor keeps compiled graphs for repsr-video (beside the TensorRT engines)."""
    return cache_dir("inductor")


def _recompile_limit() -> int:
    import torch._dynamo.config as dynamo_config

    return int(getattr(dynamo_config, "recompile_limit", getattr(dynamo_config, "cache_size_limit", 8)))


class _Cancelled(BaseException):
    """Raised inside a compile thread whose result nobody will use: the process is exiting.
    A BaseException, so that Inductor's own `except Exception` handlers let it through."""


_running: set[_Job] = set()
_exit_hook_registered = False


def _cancel_running_jobs() -> None:
    for job in list(_running):
        job.cancel()


class _Job:
    """One shape's compile running in a background thread; `error` is set if it failed.

    The thread is not a daemon: a process that exited while Inductor was mid-compile aborted
    (SIGABRT, "terminate called without an active exception"). Instead, when the process exits
    (the input is done), the compile is cancelled: `_Cancelled` is raised in its thread at its next
    Python instruction, and the exit waits only for that (at most the C++ compiler run under way).
    """

    def __init__(self, run, raw: torch.Tensor) -> None:
        global _exit_hook_registered
        self.error: BaseException | None = None
        stand_in = torch.zeros_like(raw)  # same shape, dtype and device: what the graph is keyed on
        if not _exit_hook_registered:
            # Runs when the main thread ends, before Python joins the remaining non-daemon threads.
            register = getattr(threading, "_register_atexit", None)
            if register is not None:
                register(_cancel_running_jobs)
            _exit_hook_registered = True
        self._thread = threading.Thread(target=self._work, args=(run, stand_in), name="repsr-compile", daemon=False)
        _running.add(self)
        self._thread.start()

    def _work(self, run, stand_in: torch.Tensor) -> None:
        try:
            run(stand_in)
        except BaseException as error:  # noqa: BLE001 - reported by the backend in the calling thread
            self.error = error
        finally:
            _running.discard(self)

    def cancel(self) -> None:
        ident = self._thread.ident
        if ident is not None and self._thread.is_alive():
            import ctypes

            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_Cancelled))

    def done(self) -> bool:
        return not self._thread.is_alive()


class CompiledBackend:
    """Runs eagerly until a shape has earned a compile (see module docstring), then compiled.

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
        self._eager_seconds: dict[tuple, float] = {}
        self._jobs: dict[tuple, _Job] = {}
        self._compiled: dict[torch.dtype, object] = {}
        self._ready: set[tuple] = set()

    def current_name(self) -> str:
        return self.eager.current_name() if self.failed else self.name

    def notes(self) -> list[str]:
        return ([self.note] if self.note else []) + self.eager.notes()

    def _compile(self, dtype: torch.dtype):
        if dtype not in self._compiled:
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(inductor_cache_dir()))
            graph = self.eager.graphs[dtype]
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._compiled[dtype] = torch.compile(graph, dynamic=False, mode=mode)
        return self._compiled[dtype]

    def _run_compiled(self, raw: torch.Tensor, compiling: bool) -> tuple[torch.Tensor, torch.Tensor]:
        compiled = self._compile(raw.dtype)
        with torch.inference_mode():
            if self.device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
                return compiled(raw)
            if not compiling:
                return compiled(raw)
            import torch._inductor.config as inductor_config

            with inductor_config.patch(freezing=True):  # read while compiling; see module docstring
                return compiled(raw)

    def _give_up(self, error: BaseException) -> None:
        self.failed = True
        first_line = str(error).splitlines()[0] if str(error) else ""
        self.note = f"torch.compile failed, running eagerly: {type(error).__name__}: {first_line}"

    def _mark_ready(self, key: tuple) -> None:
        global _compiled_graphs
        self._ready.add(key)
        _compiled_graphs += 1

    def __call__(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = (tuple(raw.shape), raw.dtype)
        if self.failed:
            return self.eager(raw)
        if key in self._ready:
            return self._run_compiled(raw, compiling=False)
        job = self._jobs.get(key)
        if job is not None and job.done():
            del self._jobs[key]
            if job.error is not None:
                self._give_up(job.error)
                return self.eager(raw)
            self._mark_ready(key)
            return self._run_compiled(raw, compiling=False)
        if job is None and self._earned_compile(key):
            if _compiled_graphs >= _recompile_limit():
                # Dynamo would fall back to eager itself beyond this, with a logged warning.
                self.note = f"more than {_recompile_limit()} frame shapes in this process: further shapes run eagerly"
            elif COMPILE_AFTER_FRAMES == 0 or self.device.type == "cuda":
                return self._compile_here(raw, key)
            else:
                self._jobs[key] = _Job(lambda stand_in: self._run_compiled(stand_in, compiling=True), raw)
        # CPU time of this thread (one of the OpenMP team), not wall time: on a shared machine wall
        # time stretches with others' load, and a short clip there earned compiles it never repaid.
        start = time.thread_time()
        out = self.eager(raw)
        self._frames_seen[key] = self._frames_seen.get(key, 0) + raw.shape[0]
        self._eager_seconds[key] = self._eager_seconds.get(key, 0.0) + time.thread_time() - start
        return out

    def _earned_compile(self, key: tuple) -> bool:
        if COMPILE_AFTER_FRAMES == 0:
            return True
        frames, seconds = self._frames_seen.get(key, 0), self._eager_seconds.get(key, 0.0)
        if self.device.type == "cuda":  # the thread mostly waits for the GPU: its CPU time says little
            return frames >= COMPILE_AFTER_FRAMES
        return frames >= COMPILE_AFTER_FRAMES and seconds >= COMPILE_AFTER_SECONDS

    def _compile_here(self, raw: torch.Tensor, key: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            out = self._run_compiled(raw, compiling=True)
        except Exception as error:  # noqa: BLE001 - any compiler failure: record it and run eagerly
            self._give_up(error)
            return self.eager(raw)
        self._mark_ready(key)
        return out
