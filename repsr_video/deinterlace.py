"""Deinterlacing in the decoder: FFmpeg's bwdif through a PyAV filter graph, one output frame per input frame.

bwdif runs in send_frame mode, so the frame count and every timestamp stay the input's. bwdif needs the
next frame before it can output one, so frames come out one late; each carries the tag (its timestamp)
given with it, paired in order, since the filter rewrites pts in its own doubled time base. At the first
and last frame it has no neighbour on one side and uses the frame itself, as ffmpeg does at a file's ends;
a segmented run has such ends at every cut. Output frames are progressive (bwdif clears the flag).

`--deinterlace` maps to bwdif's `deint` option: auto -> "interlaced" (only frames flagged interlaced,
and only when the first frame is; progressive frames pass untouched), on -> "all", off -> no filter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import av
import av.error

from repsr_video.choices import DEINTERLACE_MODES, DeinterlaceMode
from repsr_video.errors import InputError, describe_error

T = TypeVar("T")

_BWDIF_DEINT: dict[DeinterlaceMode, str] = {"auto": "interlaced", "on": "all"}


def bwdif_deint(mode: DeinterlaceMode, interlaced: bool) -> str | None:
    """bwdif's `deint` value for `--deinterlace mode` on an input whose first frame is (not) interlaced;
    None: no filter, the frames pass untouched."""
    if mode not in DEINTERLACE_MODES:
        raise ValueError(f"unknown deinterlace mode {mode!r}; choose one of {', '.join(DEINTERLACE_MODES)}")
    if mode == "off" or (mode == "auto" and not interlaced):
        return None
    return _BWDIF_DEINT[mode]


class Deinterlacer(Generic[T]):
    """bwdif (send_frame) over a stream of frames; `push` and `flush` give (frame, tag) in input order."""

    def __init__(self, deint: str, path: Path) -> None:
        self.deint, self.path = deint, path
        self._graph: av.filter.Graph | None = None
        self._tags: deque[T] = deque()

    def _build(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        source = graph.add(
            "buffer", video_size=f"{frame.width}x{frame.height}", pix_fmt=frame.format.name,
            time_base=str(frame.time_base or "1/1000"), pixel_aspect="1/1",
            colorspace=str(frame.colorspace), range=str(frame.color_range),
        )
        bwdif = graph.add("bwdif", f"mode=send_frame:parity=auto:deint={self.deint}")
        sink = graph.add("buffersink")
        source.link_to(bwdif)
        bwdif.link_to(sink)
        graph.configure()
        return graph

    def push(self, frame: av.VideoFrame, tag: T) -> list[tuple[av.VideoFrame, T]]:
        try:
            if self._graph is None:
                self._graph = self._build(frame)
            self._graph.push(frame)
        except (av.error.FFmpegError, ValueError) as error:
            raise InputError(f"{self.path}: deinterlacing with bwdif failed ({describe_error(error)})") from error
        self._tags.append(tag)
        return self._pull()

    def flush(self) -> list[tuple[av.VideoFrame, T]]:
        """The frames still held (bwdif keeps one); then every pushed frame has come out exactly once."""
        if self._graph is None:
            return []
        self._graph.push(None)
        out = self._pull()
        if self._tags:  # a guard: send_frame gives one frame per frame, so this would be a bug
            raise InputError(f"{self.path}: bwdif returned {len(self._tags)} frame(s) fewer than it was given")
        return out

    def _pull(self) -> list[tuple[av.VideoFrame, T]]:
        assert self._graph is not None
        out: list[tuple[av.VideoFrame, T]] = []
        while True:
            try:
                frame = self._graph.vpull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return out
            except av.error.FFmpegError as error:
                raise InputError(f"{self.path}: deinterlacing with bwdif failed ({describe_error(error)})") from error
            if not self._tags:
                raise InputError(f"{self.path}: bwdif returned more frames than it was given")
            out.append((frame, self._tags.popleft()))


def deinterlaced(items: Iterable[Any], deint: str | None, path: Path) -> Iterator[Any]:
    """`items` with each (frame, tag) pair passed through bwdif when `deint` is set, in order; anything else
    (a copied stream's packet) passes as it comes. Tag frames before this: bwdif rewrites their pts."""
    if not deint:
        yield from items
        return
    deinterlacer: Deinterlacer[Any] = Deinterlacer(deint, path)
    for item in items:
        if isinstance(item, tuple):
            yield from deinterlacer.push(*item)
        else:
            yield item
    yield from deinterlacer.flush()
