"""The encoder stage: one declared interface, two implementations, one factory.

    encoder = open_encoder("pyav", decoder.source, plan, temporary_path)
    for item in items:            # FrameBatch or YuvFrameBatch (upscaled) and PacketGroup (copied streams), in order
        encoder.write(item)
    encoder.finish()              # or encoder.abort() on any error

"pyav" (pyav_encoder.py) encodes and muxes in this process; "ffmpeg" (ffmpeg_encoder.py) pipes the
frames to an ffmpeg process. Each lives in its own module because they share nothing but this
interface and the output plan: the pipeline and the benchmark only ever see `Encoder`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from repsr_video.choices import ENCODERS, EncoderKind
from repsr_video.decoder import Source
from repsr_video.errors import OutputError
from repsr_video.ffmpeg_encoder import FFmpegEncoder
from repsr_video.frames import Frames, PacketGroup
from repsr_video.output_plan import OutputPlan
from repsr_video.pyav_encoder import PyAVEncoder


@runtime_checkable
class FrameSink(Protocol):
    """Where the pipeline's last stage puts what it gets, in order (an Encoder, or a wrapper of one)."""

    @property
    def frames(self) -> int:
        """Video frames written so far."""
        ...

    def write(self, item: Frames | PacketGroup) -> None:
        """Encode a batch (timestamps as given) or mux a group of copied packets; OutputError on failure."""
        ...


@runtime_checkable
class Encoder(FrameSink, Protocol):
    """Writes one output file: the upscaled frames, and the streams `Source.copied` names."""

    def finish(self) -> None:
        """Flush and close the file; OutputError if it cannot be completed."""
        ...

    def abort(self) -> None:
        """Stop without finishing (the caller throws the file away); never raises."""
        ...


def open_encoder(kind: EncoderKind, source: Source, plan: OutputPlan, path: Path) -> Encoder:
    """The encoder `kind` writing `path` as `plan` says, with the streams `source` copies."""
    if kind == "pyav":
        return PyAVEncoder(source, plan, path)
    if kind == "ffmpeg":
        return FFmpegEncoder(source, plan, path)
    raise OutputError(f"unknown encoder {kind!r}; choose one of {', '.join(ENCODERS)}")
