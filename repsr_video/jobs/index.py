"""Keyframe index of a video stream: one demux pass, no decoding.

For every packet of the video stream, in decode order: pts, dts, duration, byte position and the
keyframe and discard flags. The segment plan cuts at keyframes from this; a segment's decoder finds
its first packet again by pts and byte position, and knows from the index exactly which packets it
must read and which frames (by pts) it must return.

Packets a demuxer marks as discard (MP4 edit lists cutting the start) are decoded as references but
yield no frame, so they count as packets but not as frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from repsr_video.decoder import falls_short, open_input, pick_video_stream, stated_seconds
from repsr_video.errors import InputError
from repsr_video.timestamps import stores_pts

NO_PTS = np.iinfo(np.int64).min  # stands for a missing pts/dts in the int64 arrays


@dataclass(frozen=True, eq=False)
class VideoIndex:
    """Packets of one video stream in decode order (parallel arrays), and the stream's time base."""

    path: str
    stream_index: int
    time_base: Fraction
    pts: np.ndarray  # int64, NO_PTS where missing
    dts: np.ndarray  # int64, NO_PTS where missing
    duration: np.ndarray  # int64, 0 where unknown
    pos: np.ndarray  # int64 byte offset, -1 where unknown
    keyframe: np.ndarray  # bool
    discard: np.ndarray  # bool: decoded as a reference, no frame comes out
    origin: int | None = None  # the container's start time in this time base (what --start counts from)
    truncated: bool = False  # demuxing stopped on an error
    stated_seconds: Fraction | None = None  # the length the container states for the video
    stated_frames: int = 0  # the frame count the container states (0: none)
    start_time: int = 0  # the stream's start time

    def __len__(self) -> int:
        return len(self.pts)

    @property
    def produces_frame(self) -> np.ndarray:
        """Packets that yield a frame: a pts and not discarded."""
        return (self.pts != NO_PTS) & ~self.discard

    @property
    def timestamps_complete(self) -> bool:
        """Every frame packet has a pts and no two share one: frames can be assigned by pts."""
        frame_pts = self.pts[~self.discard]
        if len(frame_pts) == 0 or (frame_pts == NO_PTS).any():
            return False
        return len(np.unique(frame_pts)) == len(frame_pts)

    def frame_pts(self) -> np.ndarray:
        """pts of every frame, in presentation order."""
        return np.sort(self.pts[self.produces_frame])

    def seconds(self, ticks: float) -> float:
        return float(ticks * self.time_base)

    def ends_early(self) -> bool:
        """The packets stop well before the length the container states: a truncated file (decoder.falls_short)."""
        frames = self.produces_frame
        if self.stated_frames and int(frames.sum()) < self.stated_frames:
            return True
        if self.stated_seconds is None or not frames.any():
            return False
        last = int(np.argmax(np.where(frames, self.pts, NO_PTS)))
        length = (int(self.pts[last]) - self.start_time + max(1, int(self.duration[last]))) * self.time_base
        return falls_short(length, self.stated_seconds)


def stream_time_base(stream: av.stream.Stream) -> Fraction:
    """A stream's time base as a Fraction (every demuxed stream has one)."""
    if not stream.time_base:
        raise InputError(f"stream #{stream.index} has no time base")
    return Fraction(stream.time_base)


def index_video(path: str | Path) -> VideoIndex:
    """Demux the video stream of `path` (nothing else is read or decoded) into a VideoIndex."""
    path = Path(path)
    columns: tuple[list, ...] = ([], [], [], [], [], [])
    truncated = False
    with open_input(path) as container:
        stream = pick_video_stream(container, path)
        time_base = stream_time_base(stream)
        pts_stored = stores_pts(container.format.name)  # AVI: pts are invented by the demuxer, not in the file
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # demux's flush packets carry no data
                    continue
                columns[0].append(NO_PTS if packet.pts is None or not pts_stored else packet.pts)
                columns[1].append(NO_PTS if packet.dts is None else packet.dts)
                columns[2].append(packet.duration or 0)
                columns[3].append(packet.pos if packet.pos is not None else -1)
                columns[4].append(packet.is_keyframe)
                columns[5].append(packet.is_discard)
        except av.error.FFmpegError:
            truncated = True  # keep what was read: the decoder stops at the same place
        index_stream = stream.index
        stated = stated_seconds(container, stream, time_base)
        stated_frames, start_time = int(stream.frames or 0), int(stream.start_time or 0)
        origin = None
        if container.start_time is not None:  # in microseconds (AV_TIME_BASE)
            origin = math.floor(Fraction(container.start_time, 1_000_000) / time_base)
    if not columns[0]:
        raise InputError(f"{path}: its video stream has no packets")
    pts, dts, duration, pos = (np.asarray(c, dtype=np.int64) for c in columns[:4])
    keyframe, discard = (np.asarray(c, dtype=bool) for c in columns[4:])
    return VideoIndex(
        str(path),
        index_stream,
        time_base,
        pts,
        dts,
        duration,
        pos,
        keyframe,
        discard,
        origin,
        truncated,
        stated,
        stated_frames,
        start_time,
    )
