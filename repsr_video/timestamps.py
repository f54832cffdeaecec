"""Frame timestamps as FFmpeg reads them: the best-effort timestamp, repaired only where FFmpeg has none.

libavcodec gives every decoded frame a `best_effort_timestamp` (guess_correct_pts in libavcodec/decode.c):
the frame's reordered pts while pts values have been no less reliable than the packets' dts, else the dts
of the packet that produced it. ffmpeg and ffprobe use it for every frame. PyAV exposes the two inputs
(`frame.pts`, `frame.dts`) but not the result, so `BestEffortClock` replays the same counting here.

That is what keeps files without pts right: AVI (and other containers with dts only) holding B-frames
give frames with no pts, and their packets' dts are the regular sequence FFmpeg shows. Giving such frames
"the next free pts" instead put every frame from the first B-frame on one frame late.

AVI stores no presentation timestamps at all, only the decode order; recent libavformat invents packet pts
for it (dts + 1 with B-frames), which reorder into nonsense. For such formats the invented pts are ignored
and the dts used, which is what ffmpeg and ffprobe show for the same file.

What is still missing afterwards (neither pts nor dts), or would go backwards (an encoder needs strictly
increasing pts), becomes the previous frame's pts plus one frame duration, and is counted as repaired.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_STORED_PTS = frozenset({"avi"})  # FFmpeg format names whose files hold no presentation timestamps


def stores_pts(format_name: str) -> bool:
    """Whether files of this (demuxer) format hold pts; "avi" and the like hold only decode order."""
    return not NO_STORED_PTS.intersection(format_name.split(","))


@dataclass
class BestEffortClock:
    """One decoder's best-effort timestamps, in the stream time base. Feed frames in output order."""

    default_duration: int  # one frame at the stream's rate, in the stream time base (>= 1)
    trust_pts: bool = True  # False where the demuxer invents pts (see stores_pts)
    faulty_pts: int = 0
    faulty_dts: int = 0
    last_pts: int | None = None  # the last reordered pts seen (libavcodec's pts_correction_last_pts)
    last_dts: int | None = None
    previous: int | None = None  # the last timestamp handed out
    previous_duration: int = 0
    repaired: int = 0

    def guess(self, pts: int | None, dts: int | None) -> int | None:
        """libavcodec's guess_correct_pts: the frame's pts, or its packet's dts when pts has been less reliable."""
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        elif pts is not None:
            self.last_dts = pts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        elif dts is not None:
            self.last_pts = dts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts

    def next(self, pts: int | None, dts: int | None, duration: int | None) -> tuple[int, int]:
        """(timestamp, duration) of the next frame; a missing or non-increasing one is repaired and counted."""
        duration = duration or self.default_duration
        stamp = self.guess(pts if self.trust_pts else None, dts)
        if stamp is None or (self.previous is not None and stamp <= self.previous):
            stamp = 0 if self.previous is None else self.previous + (self.previous_duration or self.default_duration)
            self.repaired += 1
        self.previous, self.previous_duration = stamp, duration
        return stamp, duration
