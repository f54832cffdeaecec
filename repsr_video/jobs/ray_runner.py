"""Run segments as Ray tasks (the optional `ray` extra): one task per segment, anywhere in a cluster.

Only paths and small facts travel through Ray (a task gets a SegmentTask, returns the marker); frames
never do. The job folder must be on a filesystem every node sees at the same path. A task whose
worker process dies is retried by Ray (up to 3 times); a retried or duplicated task is harmless since
`run_segment` skips finished segments and publishes by rename. Each Ray worker process keeps the engine
it built, so its later segments do not rebuild it.

Resources: a model that runs on CUDA asks one GPU per task (Ray sets CUDA_VISIBLE_DEVICES, so the task
uses "cuda:0"); on CPU a task asks one CPU and decodes, upscales and encodes with one thread, so the
cluster runs one task per core.
"""

from __future__ import annotations

from dataclasses import replace

from repsr_video.errors import EngineError, RepsrError
from repsr_video.jobs.work import EngineFactory, SegmentTask, Upscaler, run_segment
from repsr_video.jobs.workers import Events, WorkerError

RETRIES = 3  # attempts after a worker dies (Ray's default for tasks)
_POLL_S = 0.5
_ENGINES: dict[tuple[EngineFactory, str | None], Upscaler] = {}  # per Ray worker process


def _ray_segment(factory: EngineFactory, task: SegmentTask, device: str | None) -> dict:
    """The task body, run in a Ray worker process."""
    key = (factory, device)
    if key not in _ENGINES:
        if device is None:  # a CPU task: inference gets the task's CPUs
            from repsr_video.engine import set_cpu_threads

            set_cpu_threads(max(1, task.threads))
        _ENGINES[key] = factory(device)
    return run_segment(task, _ENGINES[key])


def _import_ray():
    try:
        import ray
    except ImportError:
        raise EngineError('--ray needs Ray, which is not installed: pip install "repsr-video[ray]"') from None
    return ray


def connect(address: str) -> None:
    """Join the cluster at `address` ("auto": the one `ray start` made here; "local": start one in this process)."""
    ray = _import_ray()
    if ray.is_initialized():
        return
    try:
        ray.init(address=None if address == "local" else address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise EngineError(f"cannot connect to the Ray cluster at {address!r} ({error})") from error


def run_on_ray(tasks: list[SegmentTask], factory: EngineFactory, address: str, events: Events) -> None:
    """Do `tasks` as Ray tasks, reporting each finished segment; raises on the first failure."""
    if not tasks:
        return
    ray = _import_ray()
    connect(address)
    on_gpu = factory.fingerprint().get("device") == "cuda"
    options = {"num_gpus": 1, "num_cpus": 1} if on_gpu else {"num_cpus": 1}
    remote = ray.remote(max_retries=RETRIES, retry_exceptions=False)(_ray_segment).options(**options)
    device = "cuda:0" if on_gpu else None
    pending = {remote.remote(factory, replace(task, threads=0 if on_gpu else 1), device): task.segment.index for task in tasks}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)
            for ref in ready:
                index = pending.pop(ref)
                events.done(index, _result(ray, ref, index))
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)


def _result(ray, ref, index: int) -> dict:
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = error.cause if isinstance(error.cause, BaseException) else None
        if isinstance(cause, RepsrError):
            raise WorkerError(str(cause)) from None
        raise WorkerError(f"Ray task for segment {index} failed: {type(cause or error).__name__}: {cause or error}") from None
    except ray.exceptions.RayError as error:  # worker died more often than the retries allow, node lost, ...
        raise WorkerError(
            f"Ray could not finish segment {index} ({type(error).__name__}); finished segments are kept: "
            "run the same command again to resume"
        ) from None
