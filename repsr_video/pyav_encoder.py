"""In-process PyAV encoder: encodes upscaled RGB batches and copies every other stream packet for packet.

The video stream is created with the input's time base and each frame keeps its input pts, so variable
frame rate survives. RGB->YUV is done here with the matrix and range of the plan (the encoder's own
implicit conversion would use BT.601 regardless of the tags), and the same values are tagged on the
codec context before the header is written. Rotation, sample aspect ratio, chapters, container and
stream metadata and dispositions are carried over. Build it through `repsr_video.encoder.open_encoder`.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.error

from repsr_video.colour import to_output_frames
from repsr_video.decoder import Source
from repsr_video.errors import OutputError, describe_error
from repsr_video.frames import FrameBatch, PacketGroup
from repsr_video.output_plan import OutputPlan, supported_codecs

# Tags the muxer writes itself, or that describe the old encoding of a re-encoded stream.
_CONTAINER_TAGS_SKIPPED = {"encoder", "major_brand", "minor_version", "compatible_brands"}
_VIDEO_TAGS_SKIPPED = {"encoder", "duration", "bps", "number_of_frames", "number_of_bytes", "_statistics_writing_app",
                       "_statistics_writing_date_utc", "_statistics_tags", "vendor_id"}


def check_copyable(source: Source, plan: OutputPlan) -> None:
    """Refuse (rather than silently drop) a stream the output container cannot hold."""
    accepted = supported_codecs(plan.container_format)
    for stream in source.copied:
        name = stream.codec_context.name if stream.codec_context else getattr(stream, "codec_name", None) or stream.type
        if stream.type == "attachment":
            ok = plan.container_format == "matroska"
        elif stream.type == "data":
            ok = plan.container_format == "mov"
        else:
            ok = name in accepted
        if not ok:
            raise OutputError(
                f"{plan.path}: the {plan.container_format} container cannot hold stream #{stream.index} "
                f"({stream.type} {name}) of {source.path}; use .mkv, which holds all stream kinds"
            )


class PyAVEncoder:
    """Write `path` (in practice the temporary file) with the upscaled video and the copied streams.

    Satisfies `repsr_video.encoder.Encoder`. Error messages name `plan.path`, the file the user asked for.
    """

    def __init__(self, source: Source, plan: OutputPlan, path: Path) -> None:
        self.plan = plan
        self.path = path
        self.frames = 0
        check_copyable(source, plan)
        try:
            self.out = av.open(str(path), "w", format=plan.container_format)
        except (av.error.FFmpegError, OSError) as error:
            raise OutputError(f"{plan.path}: cannot be written ({describe_error(error)})") from error
        try:
            self.video = self._add_video_stream(source, plan)
            self.stream_map = self._add_copied_streams(source)
            if source.chapters:
                self.out.set_chapters(list(source.chapters))
            self.out.metadata.update({k: v for k, v in source.metadata.items() if k.lower() not in _CONTAINER_TAGS_SKIPPED})
        except BaseException:
            self.abort()
            raise

    def _add_copied_streams(self, source: Source) -> dict[int, av.stream.Stream]:
        stream_map: dict[int, av.stream.Stream] = {}
        for in_stream in source.copied:
            out_stream = self.out.add_stream_from_template(in_stream, opaque=True)
            if in_stream.codec_context is not None:  # templates with a codec context drop these
                out_stream.metadata.update(in_stream.metadata)
                out_stream.disposition = in_stream.disposition
            stream_map[in_stream.index] = out_stream
        return stream_map

    def _add_video_stream(self, source: Source, plan: OutputPlan) -> av.video.stream.VideoStream:
        info = source.info
        rate = info.rate or Fraction(25)
        # plan.codec is a video encoder (output_plan checked it); PyAV's stubs type only literal names.
        added = self.out.add_stream(plan.codec, rate=rate, time_base=info.time_base, options=dict(plan.options))
        stream = cast(av.video.stream.VideoStream, added)
        ctx = stream.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = plan.width, plan.height, plan.pix_fmt
        ctx.time_base = info.time_base
        # Tags go on the codec context: tags on frames are not written by the encoders.
        ctx.colorspace = plan.color.matrix
        ctx.color_range = plan.color.range
        ctx.color_primaries = plan.color.primaries
        ctx.color_trc = plan.color.trc
        if info.sample_aspect_ratio:
            ctx.sample_aspect_ratio = info.sample_aspect_ratio
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        stream.metadata.update({k: v for k, v in source.video.metadata.items() if k.lower() not in _VIDEO_TAGS_SKIPPED})
        stream.disposition = source.video.disposition
        return stream

    def write(self, item: FrameBatch | PacketGroup) -> None:
        try:
            if isinstance(item, PacketGroup):
                for packet in item.packets:
                    packet.stream = self.stream_map[packet.stream.index]
                    self.out.mux(packet)
                return
            for frame in to_output_frames(item, self.plan.pix_fmt, self.plan.color):
                self.out.mux(self.video.encode(frame))
                self.frames += 1
        except av.error.FFmpegError as error:
            raise OutputError(f"{self.plan.path}: writing failed ({describe_error(error)})") from error

    def finish(self) -> None:
        """Flush the encoder and write the trailer."""
        try:
            self.out.mux(self.video.encode(None))
            self.out.close()
        except av.error.FFmpegError as error:
            self.abort()
            raise OutputError(f"{self.plan.path}: finishing the file failed ({describe_error(error)})") from error

    def abort(self) -> None:
        try:
            self.out.close()
        except Exception:  # the file is being thrown away; its close error does not matter
            pass
