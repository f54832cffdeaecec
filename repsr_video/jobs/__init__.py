"""Long video jobs as segments: cut at source keyframes, done anywhere, resumed after any stop, joined by remux.

Names load on first use, so importing the package (the CLI's option parsing does) loads neither PyAV
nor torch; worker processes whose engine factory needs no torch start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from repsr_video.jobs.engines import PresetEngine
    from repsr_video.jobs.options import DEFAULT_SEGMENT_SECONDS
    from repsr_video.jobs.plan import Segment, TimeRange, plan_segments
    from repsr_video.jobs.runner import JobProgress, JobResult, JobSettings, run_job
    from repsr_video.jobs.state import JobStateError, job_dir_for
    from repsr_video.jobs.work import EngineFactory

_WHERE = {
    "DEFAULT_SEGMENT_SECONDS": "options", "EngineFactory": "work", "JobProgress": "runner", "JobResult": "runner",
    "JobSettings": "runner", "JobStateError": "state", "PresetEngine": "engines", "Segment": "plan", "TimeRange": "plan",
    "job_dir_for": "state", "plan_segments": "plan", "run_job": "runner",
}
__all__ = [
    "DEFAULT_SEGMENT_SECONDS", "EngineFactory", "JobProgress", "JobResult", "JobSettings", "JobStateError", "PresetEngine",
    "Segment", "TimeRange", "job_dir_for", "plan_segments", "run_job",
]


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"repsr_video.jobs.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
