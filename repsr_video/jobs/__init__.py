"""Long video jobs as segments: cut at source keyframes, done anywhere, resumed after any stop, joined by remux.

Importing this package does not load torch: worker processes that get an engine factory needing no
torch (tests, other runtimes) start fast. `PresetEngine` loads on first use.
"""

from repsr_video.jobs.plan import DEFAULT_SEGMENT_SECONDS, Segment, TimeRange, plan_segments
from repsr_video.jobs.runner import JobProgress, JobResult, JobSettings, run_job
from repsr_video.jobs.state import JobStateError, job_dir_for
from repsr_video.jobs.work import EngineFactory

__all__ = [
    "DEFAULT_SEGMENT_SECONDS",
    "EngineFactory",
    "JobProgress",
    "JobResult",
    "JobSettings",
    "JobStateError",
    "PresetEngine",
    "Segment",
    "TimeRange",
    "job_dir_for",
    "plan_segments",
    "run_job",
]


def __getattr__(name: str):
    if name == "PresetEngine":
        from repsr_video.jobs.engines import PresetEngine

        return PresetEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
