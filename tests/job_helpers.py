"""Engines and clips for the segmented-job tests: picklable engine factories (for worker processes and
Ray tasks) and clips with the keyframe structures that make cutting hard."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from media_factory import NearestEngine, make_video


class _SlowNearest(NearestEngine):
    def __init__(self, scale: int, batch: int, delay: float) -> None:
        super().__init__(scale, batch)
        self.delay = delay

    def upscale(self, frames: np.ndarray) -> np.ndarray:
        if self.delay:
            time.sleep(self.delay * len(frames))
        return super().upscale(frames)


@dataclass(frozen=True)
class NearestFactory:
    """Builds a nearest-neighbour engine wherever it runs; `delay` seconds per frame make it slow on purpose."""

    scale: int = 2
    batch: int = 4
    delay: float = 0.0
    pid_folder: str | None = None  # each engine build leaves a file named by its pid: "device CUDA_VISIBLE_DEVICES"
    device: str = "cpu"  # the device kind it claims (Ray gives "cuda" models a GPU per task)

    def __call__(self, device: str | None = None) -> NearestEngine:
        if self.pid_folder:
            Path(self.pid_folder, str(os.getpid())).write_text(f"{device} {os.environ.get('CUDA_VISIBLE_DEVICES')}")
        return _SlowNearest(self.scale, self.batch, self.delay)

    def fingerprint(self) -> dict:
        return {"engine": "nearest", "scale": self.scale, "device": self.device}


def gop_clip(path: Path, *, frames: int = 48, keyint: int = 8, codec: str = "libx264", rate: int = 25, **kwargs) -> Path:
    """A clip with a keyframe every `keyint` frames; libx264 with B-frames across GOPs, libx265 with open GOPs."""
    if codec == "libx265":
        params = f"keyint={keyint}:min-keyint={keyint}:open-gop=1:bframes=3:scenecut=0:log-level=error"
        options = {"crf": "28", "preset": "ultrafast", "x265-params": params}
    else:
        options = {"crf": "23", "preset": "veryfast", "g": str(keyint), "keyint_min": str(keyint), "bf": "3", "sc_threshold": "0"}
    return make_video(path, frames=frames, codec=codec, rate=rate, options=options, **kwargs)


def decoded(path: Path) -> tuple[list[int], list[np.ndarray]]:
    """pts and RGB pixels of every frame of the first video stream."""
    pts, images = [], []
    with av.open(str(path)) as inp:
        for frame in inp.decode(inp.streams.video[0]):
            pts.append(frame.pts)
            images.append(frame.to_ndarray(format="rgb24"))
    return pts, images


def seconds_pts(path: Path) -> list[float]:
    """Frame times in seconds (containers may store them in different time bases)."""
    with av.open(str(path)) as inp:
        stream = inp.streams.video[0]
        return [round(float(f.pts * stream.time_base), 6) for f in inp.decode(stream)]


class StopAfter:
    """A progress callback that interrupts the run (like Ctrl-C) once `segments` are done."""

    def __init__(self, segments: int) -> None:
        self.segments = segments

    def __call__(self, event) -> None:
        if event.segments_done >= self.segments:
            raise KeyboardInterrupt
