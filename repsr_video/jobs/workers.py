"""Run segments in N worker processes on this machine (spawned, one engine each), longest segments first.

Workers never outlive the main process: each asks the kernel to kill it when its parent dies
(PR_SET_PDEATHSIG, Linux), and a watcher thread exits it when its parent changes (other systems, and the
race before the request takes effect). Ctrl-C reaches the main process only; it stops the workers.
A worker that dies (killed, out of memory) fails the run; the finished segments stay, and the same
command resumes.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace

from repsr_video.engine import set_cpu_threads
from repsr_video.errors import RepsrError
from repsr_video.jobs.work import EngineFactory, SegmentTask, run_segment

_PR_SET_PDEATHSIG = 1
_POLL_S = 0.2
_GRACE_S = 1.0


class WorkerError(RepsrError):
    """A worker process failed or died."""


@dataclass(frozen=True)
class Events:
    """Callbacks the main process gets: frames done within a segment, and a finished segment's marker."""

    frames: Callable[[int, int], None]
    done: Callable[[int, dict], None]


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit when `parent_pid` does, even if the parent is SIGKILLed."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    threading.Thread(target=watch, name="repsr-parent-watch", daemon=True).start()


def _worker_main(factory: EngineFactory, device: str | None, threads: int, jobs, events, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and stops the workers
    index = -1
    set_cpu_threads(threads)  # before the engine: OpenVINO reads it when built, torch when it loads
    try:
        engine = factory(device)
        while (task := jobs.get()) is not None:
            index = task.segment.index
            marker = run_segment(task, engine, functools.partial(_put_frames, events, index))
            events.put(("done", index, marker))
            index = -1
    except RepsrError as error:
        events.put(("error", index, str(error)))
    except BaseException as error:  # a bug or a library failure: the main process shows it in one line
        events.put(("error", index, f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))


def _put_frames(events, index: int, frames: int) -> None:
    events.put(("frames", index, frames))


def split_threads(workers: int) -> int:
    """CPU threads for each worker: the cores this process may use, shared out."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


def run_processes(tasks: list[SegmentTask], factory: EngineFactory, devices: list[str | None], events: Events) -> None:
    """Do `tasks` (already ordered longest first) in one spawned process per entry of `devices`."""
    if not tasks:
        return
    ctx = multiprocessing.get_context("spawn")
    jobs, results = ctx.Queue(), ctx.Queue()
    count = min(len(devices), len(tasks))
    threads = split_threads(count)
    for task in tasks:
        jobs.put(replace(task, threads=threads))
    for _ in range(count):
        jobs.put(None)
    processes = [
        ctx.Process(
            target=_worker_main,
            args=(factory, devices[i], threads, jobs, results, os.getpid()),
            name=f"repsr-worker-{i}",
            daemon=True,
        )
        for i in range(count)
    ]
    for p in processes:
        p.start()
    try:
        _collect(processes, results, events, len(tasks))
    finally:
        for p in processes:
            if p.is_alive():
                p.kill()
        for p in processes:
            p.join(timeout=10)


def _collect(processes: list, results, events: Events, expected: int) -> None:
    done, quiet = 0, 0
    while done < expected:
        try:
            kind, index, payload = results.get(timeout=_POLL_S)
        except queue.Empty:
            stopped = [p for p in processes if p.exitcode is not None]
            quiet = quiet + 1 if stopped and (len(stopped) == len(processes) or any(p.exitcode for p in stopped)) else 0
            if quiet * _POLL_S >= _GRACE_S:  # what a stopped worker sent has had time to arrive
                _raise_stopped(stopped)
            continue
        quiet = 0
        if kind == "frames":
            events.frames(index, payload)
        elif kind == "done":
            done += 1
            events.done(index, payload)
        else:
            where = f" on segment {index}" if index >= 0 else ""
            first, _, details = payload.partition("\n")
            # our own errors are already one line naming the file; anything else is a bug: say where
            raise WorkerError(f"worker failed{where}: {first}" if details else first)


def _raise_stopped(stopped: list) -> None:
    dead = [p for p in stopped if p.exitcode]
    if not dead:
        raise WorkerError("the workers stopped before every segment was done")
    code = dead[0].exitcode
    how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    raise WorkerError(f"a worker process {how}; finished segments are kept: run the same command again to resume")
