"""Cut a video into segments at clean source keyframes, about `target_seconds` each.

A segment owns the frames whose pts lie in [start, end). It is decoded from its keyframe's packet up to
the last packet (in decode order) that holds one of its frames; frames outside [start, end) are
dropped by pts. So open-GOP leading frames (decoded after a CRA keyframe but displayed before it) go
to the segment they are displayed in, and B-frames that straddle a boundary are not lost or doubled.

A keyframe is a cut point only if it is clean: no packet before it in decode order displays at or
after it (otherwise a decoder starting there would miss a frame). Files whose frames lack a pts, or
share one, cannot be assigned by pts and stay one segment.

Default length, 30 s (options.DEFAULT_SEGMENT_SECONDS). A resume redoes at most one unfinished
segment per worker (on average half of one, 15 s of video). A clip shorter than 1.5 x the length is
one segment (the last piece is merged when shorter than half a segment), so short clips are not cut at
all. Each cut costs one encoder start and one extra IDR frame.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np

from repsr_video.errors import InputError
from repsr_video.jobs.index import NO_PTS, VideoIndex


@dataclass(frozen=True)
class TimeRange:
    """--start / --duration in seconds, counted from the container's start (FFmpeg's -ss / -t)."""

    start: Fraction | None = None
    duration: Fraction | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.start < 0:
            raise InputError(f"--start {float(self.start):g} is negative")
        if self.duration is not None and self.duration <= 0:
            raise InputError(f"--duration {float(self.duration):g} must be more than 0")

    @property
    def is_whole(self) -> bool:
        return self.start is None and self.duration is None


@dataclass(frozen=True)
class Segment:
    """One unit of work: frames with pts in [start, end) of the source's video stream."""

    index: int
    start: int | None  # lowest pts kept; None: everything from the file start
    end: int | None  # pts bound, exclusive; None: to the end
    first_packet: int  # decode-order position decoding starts at (a clean keyframe, or 0)
    last_packet: int  # decode-order position of the last packet holding one of its frames
    key_pts: int | None  # pts of the first packet, to find it after a seek; None: read from the file start
    key_pos: int  # its byte position (-1 unknown)
    frames: int  # frames it must return
    first_pts: int
    last_pts: int

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Segment:
        return cls(**data)

    def keeps(self, pts: int) -> bool:
        return (self.start is None or pts >= self.start) and (self.end is None or pts < self.end)


def _range_bounds(index: VideoIndex, frame_pts: np.ndarray, time_range: TimeRange) -> tuple[int | None, int | None]:
    """--start/--duration as a pts interval [lo, hi) of the video stream (None: unbounded)."""
    if time_range.is_whole:
        return None, None
    origin = index.origin if index.origin is not None else int(frame_pts[0])
    lo = origin + math.ceil(time_range.start / index.time_base) if time_range.start is not None else None
    base = lo if lo is not None else origin
    hi = base + math.ceil(time_range.duration / index.time_base) if time_range.duration is not None else None
    return lo, hi


def _clean_keyframes(index: VideoIndex) -> np.ndarray:
    """Positions of keyframes that nothing before them (in decode order) displays at or after."""
    pts = np.where(index.pts == NO_PTS, np.iinfo(np.int64).min, index.pts)
    before = np.concatenate(([np.iinfo(np.int64).min], np.maximum.accumulate(pts)[:-1]))
    return np.flatnonzero(index.keyframe & index.produces_frame & (index.pts > before))


def _choose_cuts(candidates: np.ndarray, first: int, end: int, target: Fraction, time_base: Fraction) -> list[int]:
    """Greedy: cut at the first candidate at least `target` after the previous cut; merge a short tail."""
    cuts: list[int] = []
    current = first
    for k in candidates:
        if (int(k) - current) * time_base >= target:
            cuts.append(int(k))
            current = int(k)
    if cuts and (end - cuts[-1]) * time_base < target / 2:
        cuts.pop()
    return cuts


def plan_segments(index: VideoIndex, target_seconds: float, time_range: TimeRange = TimeRange()) -> list[Segment]:
    """Segments covering the frames of `index` inside `time_range`, cut at clean keyframes."""
    if not target_seconds > 0:
        raise InputError(f"--segment {target_seconds} must be more than 0 seconds")
    frames = index.produces_frame
    positions = np.flatnonzero(frames)
    frame_pts = index.pts[positions]
    if len(positions) == 0:
        raise InputError(f"{index.path}: its video stream has no frame with a timestamp")
    order = np.argsort(frame_pts, kind="stable")
    positions, frame_pts = positions[order], frame_pts[order]
    lo, hi = _range_bounds(index, frame_pts, time_range)
    inside = np.ones(len(frame_pts), bool)
    if lo is not None:
        inside &= frame_pts >= lo
    if hi is not None:
        inside &= frame_pts < hi
    if not inside.any():
        length = float((frame_pts[-1] - frame_pts[0]) * index.time_base)
        raise InputError(f"{index.path}: no video frame in the requested time range (the video is {length:.3f} s long)")
    if not time_range.is_whole and not index.timestamps_complete:
        raise InputError(f"{index.path}: its video frames lack timestamps, so --start/--duration cannot be applied")
    positions, frame_pts = positions[inside], frame_pts[inside]
    clean = _clean_keyframes(index)
    cuts: list[int] = []
    if index.timestamps_complete:
        last = int(frame_pts[-1])
        end = last + max(1, int(index.duration[positions[-1]]))
        candidates = np.sort(index.pts[clean])
        candidates = candidates[(candidates > frame_pts[0]) & (candidates <= last)]
        cuts = _choose_cuts(
            candidates, int(frame_pts[0]), end, Fraction(target_seconds).limit_denominator(10**6), index.time_base
        )
    return _build(index, clean, positions, frame_pts, cuts, lo, hi)


def _build(
    index: VideoIndex,
    clean: np.ndarray,
    positions: np.ndarray,
    frame_pts: np.ndarray,
    cuts: list[int],
    lo: int | None,
    hi: int | None,
) -> list[Segment]:
    bounds = [lo, *cuts, hi]
    key_by_pts = {int(index.pts[p]): int(p) for p in clean}
    segments = []
    for i in range(len(bounds) - 1):
        start, end = bounds[i], bounds[i + 1]
        mine = np.ones(len(frame_pts), bool)
        if start is not None:
            mine &= frame_pts >= start
        if end is not None:
            mine &= frame_pts < end
        first_packet = _first_packet(index, clean, key_by_pts, start, int(frame_pts[mine][0]), i)
        key_pts = None if first_packet is None else int(index.pts[first_packet])
        segments.append(
            Segment(
                index=i,
                start=start,
                end=end,
                first_packet=first_packet or 0,
                last_packet=int(positions[mine].max()),
                key_pts=key_pts,
                key_pos=-1 if first_packet is None else int(index.pos[first_packet]),
                frames=int(mine.sum()),
                first_pts=int(frame_pts[mine][0]),
                last_pts=int(frame_pts[mine][-1]),
            )
        )
    return segments


def _first_packet(
    index: VideoIndex, clean: np.ndarray, key_by_pts: dict[int, int], start: int | None, first_pts: int, number: int
) -> int | None:
    """Where decoding of a segment starts: its cut keyframe, the last clean keyframe before a --start, or None (file start)."""
    if number > 0:
        assert start is not None  # every segment after the first starts at a cut
        return key_by_pts[start]
    if start is None:
        return None
    usable = clean[index.pts[clean] <= first_pts]
    return int(usable[-1]) if len(usable) else None
