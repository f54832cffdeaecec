"""In-process PyAV encoder: encodes upscaled RGB batches; the other streams are copied packet for packet,
converted, or left out, as the output plan's stream choices say (repsr_video.streams).

The video stream is created with the input's time base and each frame keeps its input pts, so variable
frame rate survives. RGB->YUV is done here with the matrix and range of the plan (the encoder's own
implicit conversion would use BT.601 regardless of the tags), and the same values are tagged on the
codec context before the header is written; 4:2:0 planes of the YUV path (repsr_video/yuv_path.py) go
into the frames unconverted. Rotation, sample aspect ratio, chapters, container and
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
from repsr_video.frames import Frames, PacketGroup
from repsr_video.output_plan import OutputPlan
from repsr_video.stream_convert import Converter, open_converter
from repsr_video.streams import container_tags, video_tags


class PyAVEncoder:
    """Write `path` (in practice the temporary file) with the upscaled video and the copied streams.

    Satisfies `repsr_video.encoder.Encoder`. Error messages name `plan.path`, the file the user asked for.
    """

    def __init__(self, source: Source, plan: OutputPlan, path: Path) -> None:
        self.plan = plan
        self.path = path
        self.frames = 0
        try:
            self.out = av.open(str(path), "w", format=plan.container_format)
        except (av.error.FFmpegError, OSError) as error:
            raise OutputError(f"{plan.path}: cannot be written ({describe_error(error)})") from error
        try:
            self.video = self._add_video_stream(source, plan)
            self.stream_map, self.converters = self._add_other_streams(source, plan)
            if source.chapters:
                self.out.set_chapters(list(source.chapters))
            self.out.metadata.update(container_tags(source.metadata))
        except BaseException:
            self.abort()
            raise

    def _add_other_streams(self, source: Source, plan: OutputPlan) -> tuple[dict[int, av.stream.Stream], dict[int, Converter]]:
        """Copy, convert or leave out each other stream as the plan says (repsr_video.streams)."""
        by_index = {s.index: s for s in source.copied}
        stream_map: dict[int, av.stream.Stream] = {}
        converters: dict[int, Converter] = {}
        for choice in plan.streams:
            in_stream = by_index[choice.index]
            if choice.action == "copy":
                stream_map[in_stream.index] = add_copied_stream(self.out, in_stream)
            elif choice.action == "convert" and choice.target:
                converters[in_stream.index] = open_converter(in_stream, self.out, choice.target)
            elif choice.action == "timecode" and "timecode" not in self.video.metadata:
                self.video.metadata["timecode"] = in_stream.metadata["timecode"]  # .mov/.mp4 rebuild the track
        return stream_map, converters

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
        stream.metadata.update(video_tags(source.video.metadata, plan.container_format, plan.alpha))
        stream.disposition = source.video.disposition
        return stream

    def write(self, item: Frames | PacketGroup) -> None:
        try:
            if isinstance(item, PacketGroup):
                for packet in item.packets:
                    index = packet.stream.index
                    if index in self.stream_map:
                        packet.stream = self.stream_map[index]
                        self.out.mux(packet)
                    elif index in self.converters:
                        self.out.mux(self.converters[index].convert(packet))
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
            for converter in self.converters.values():
                self.out.mux(converter.flush())
            self.out.close()
        except av.error.FFmpegError as error:
            self.abort()
            raise OutputError(f"{self.plan.path}: finishing the file failed ({describe_error(error)})") from error

    def abort(self) -> None:
        try:
            self.out.close()
        except Exception:  # the file is being thrown away; its close error does not matter
            pass


def add_copied_stream(out: av.container.OutputContainer, in_stream: av.stream.Stream) -> av.stream.Stream:
    """An output stream that takes `in_stream`'s packets unchanged, with its metadata and disposition."""
    out_stream = out.add_stream_from_template(in_stream, opaque=True)
    if in_stream.codec_context is not None:  # templates with a codec context drop these
        out_stream.metadata.update(in_stream.metadata)
        out_stream.disposition = in_stream.disposition
    return out_stream
