"""Memory while something runs: the process's resident set size sampled in a thread, and CUDA's peak
allocation. Used by `repsr-video bench` (repsr_video/bench.py) for every stage it measures."""

from __future__ import annotations

import os
import resource
import sys
import threading


def current_rss_mb() -> float:
    """Resident set size now (Linux /proc), or the process peak where /proc is missing."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


class PeakSampler:
    """Samples RSS every few milliseconds in a thread; `peak` is the highest seen."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = current_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="repsr-bench-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, current_rss_mb())

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_mb())


def reset_cuda_peak(device: str) -> None:
    """Start counting CUDA's peak allocation afresh (device "cuda"; nothing elsewhere)."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def cuda_peak_mb(device: str) -> float | None:
    """CUDA's peak allocation in MB since the last reset; None off CUDA."""
    if device != "cuda":
        return None
    import torch

    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20
