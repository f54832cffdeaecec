"""Output planning (codec, pixel format, options, checks) and the PyAV encoder's colour handling."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import av
import numpy as np
import pytest

from media_factory import NearestEngine, ffmpeg_exe, frame_pixels, make_video
from repsr_video.decoder import VideoDecoder
from repsr_video.errors import OutputError
from repsr_video.frames import ColorInfo, VideoInfo
from repsr_video.output_plan import EncodeSettings, plan_output
from repsr_video.pipeline import upscale_video
from repsr_video.streams import StreamSettings

SD = VideoInfo(
    path="in.mkv", stream_index=0, codec="h264", width=64, height=48, pix_fmt="yuv420p", bit_depth=8,
    time_base=Fraction(1, 1000), rate=Fraction(25), frame_count=10, rotation=0, color=ColorInfo(6, 1, 2, 2),
)


def plan(tmp_path, name="out.mp4", info=SD, scale=2, **settings):
    return plan_output(info, scale, tmp_path / name, EncodeSettings(**settings))


def test_defaults_follow_the_container(tmp_path):
    mp4 = plan(tmp_path)
    assert (mp4.container_format, mp4.codec, mp4.pix_fmt, mp4.options["crf"]) == ("mp4", "libx264", "yuv420p", "18")
    assert (mp4.width, mp4.height) == (128, 96)
    webm = plan(tmp_path, "out.webm")
    assert (webm.container_format, webm.codec) == ("webm", "libvpx-vp9")
    assert plan(tmp_path, "out.mkv").container_format == "matroska"
    assert plan(tmp_path, "out.mov").container_format == "mov"


def test_ten_bit_and_444_are_kept_in_mkv(tmp_path):
    assert plan(tmp_path, "out.mkv", info=replace(SD, pix_fmt="yuv420p10le", bit_depth=10)).pix_fmt == "yuv420p10le"
    assert plan(tmp_path, "out.mkv", info=replace(SD, pix_fmt="yuv444p10le", bit_depth=10)).pix_fmt == "yuv444p10le"
    assert plan(tmp_path, "out.mkv", info=replace(SD, pix_fmt="yuv444p")).pix_fmt == "yuv444p"
    assert plan(tmp_path, "out.mkv", info=replace(SD, pix_fmt="gbrp")).pix_fmt == "yuv444p"
    assert plan(tmp_path, "out.mp4", info=replace(SD, pix_fmt="yuv444p"), pix_fmt="yuv444p").notes == []  # asked for


def test_player_formats_get_what_players_play_with_one_note_each(tmp_path):
    rgb = plan(tmp_path, "out.mp4", info=replace(SD, pix_fmt="gbrp"))
    assert rgb.pix_fmt == "yuv420p" and len(rgb.notes) == 1 and "--pix-fmt yuv444p" in rgb.notes[0]
    deep = plan(tmp_path, "out.mov", info=replace(SD, pix_fmt="yuv422p10le", bit_depth=10))
    assert deep.pix_fmt == "yuv420p" and "10-bit -> 8-bit" in deep.notes[0] and "--pix-fmt yuv422p10le" in deep.notes[0]
    hevc = plan(tmp_path, "out.mp4", info=replace(SD, pix_fmt="yuv420p10le", bit_depth=10), codec="libx265")
    assert (hevc.pix_fmt, hevc.notes) == ("yuv420p10le", [])  # HEVC Main 10 plays
    av1 = plan(tmp_path, "out.webm", info=replace(SD, pix_fmt="yuv444p10le", bit_depth=10), codec="libsvtav1")
    assert av1.pix_fmt == "yuv420p10le" and "4:4:4 -> 4:2:0" in av1.notes[0] and len(av1.notes) == 1


def test_odd_output_size(tmp_path):
    odd = replace(SD, width=63, height=47)
    assert plan(tmp_path, info=odd, scale=2).pix_fmt == "yuv420p"  # 126x94 is even
    p3 = plan(tmp_path, info=odd, scale=3)
    assert (p3.width, p3.height, p3.pix_fmt) == (189, 141, "yuv444p") and "odd" in p3.notes[0]
    with pytest.raises(OutputError, match="odd output size 189x141"):
        plan(tmp_path, info=odd, scale=3, pix_fmt="yuv420p")


def test_the_plan_converts_with_a_matrix_exactly_when_the_codec_takes_yuv(tmp_path):
    from repsr_video.colour import conversion_args

    yuv = plan(tmp_path, "out.mkv")
    assert not yuv.rgb_output and conversion_args(yuv.color, "dst") == {
        "dst_colorspace": av.video.reformatter.Colorspace.ITU601, "dst_color_range": av.video.reformatter.ColorRange.MPEG}
    rgb = plan(tmp_path, "out.mkv", codec="ffv1", pix_fmt="bgr0")
    assert rgb.rgb_output and rgb.color.matrix == 0 and conversion_args(rgb.color, "dst") == {}
    # RGB input into a YUV codec: a standard matrix for the upscaled size, never "RGB".
    from_rgb = plan(tmp_path, "out.mkv", info=replace(SD, pix_fmt="gbrp", color=ColorInfo(0, 2, 2, 2), width=640, height=360))
    assert not from_rgb.rgb_output and (from_rgb.color.matrix, from_rgb.color.range) == (1, 1)


def test_user_choices(tmp_path):
    p = plan(tmp_path, "out.mkv", codec="hevc", crf=24, preset="ultrafast", pix_fmt="yuv444p")
    expected_options = {"crf": "24", "preset": "ultrafast", "x265-params": "log-level=error"}  # x265 quiet: no banner
    assert (p.codec, p.pix_fmt, p.options) == ("libx265", "yuv444p", expected_options)
    assert plan(tmp_path, "out.mkv", codec="ffv1").notes == []  # no crf asked: nothing to ignore
    assert "--crf is ignored" in plan(tmp_path, "out.mkv", codec="ffv1", crf=10).notes[0]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"codec": "nope"}, "unknown video encoder 'nope'"),
        ({"codec": "aac"}, "not a video encoder"),
        ({"pix_fmt": "nope"}, "unknown pixel format 'nope'"),
        ({"pix_fmt": "yuv420p16le"}, "cannot encode pixel format"),
        ({"preset": "nope"}, "is not one of libx264's presets"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, settings, message):
    with pytest.raises(OutputError, match=message) as info:
        plan(tmp_path, **settings)
    assert "out.mp4" in str(info.value) and "\n" not in str(info.value)


def test_bad_container_and_codec_pairs(tmp_path):
    with pytest.raises(OutputError, match=r"unsupported output type '\.avi'"):
        plan(tmp_path, "out.avi")
    with pytest.raises(OutputError, match="webm container cannot hold h264"):
        plan(tmp_path, "out.webm", codec="libx264")
    with pytest.raises(OutputError, match="out of range"):
        EncodeSettings(crf=99)


def test_nvenc_falls_back_to_cpu_encoder_with_a_note(tmp_path):
    p = plan(tmp_path, codec="h264_nvenc")
    if p.codec == "h264_nvenc":
        pytest.skip("NVENC works on this machine")
    assert p.codec == "libx264" and "h264_nvenc is not available" in p.notes[0]


@pytest.mark.parametrize("matrix, pix_fmt", [(1, "yuv444p"), (6, "yuv444p"), (9, "yuv444p10le")])
def test_colours_survive_the_round_trip(tmp_path, matrix, pix_fmt):
    """RGB -> YUV uses the tagged matrix, so a player decoding with the tags sees the source colours."""
    lossless = {"crf": "0", "preset": "ultrafast"}
    src = make_video(tmp_path / "in.mkv", frames=2, pix_fmt=pix_fmt, color=(matrix, 1, 1, 1), options=lossless)
    out = tmp_path / "out.mkv"
    upscale_video(src, out, NearestEngine(2, 2), encode=EncodeSettings(crf=0, preset="ultrafast"))
    with av.open(str(out)) as inp:
        ctx = inp.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_range, ctx.pix_fmt) == (matrix, 1, pix_fmt)
        frame = next(inp.decode(video=0))
    rgb = frame.to_ndarray(format="rgb24")  # PyAV uses the frame's tags
    error = np.abs(rgb[::2, ::2].astype(int) - frame_pixels(0, 64, 48).astype(int)).mean()
    assert error < 1.5


def test_a_stream_the_container_cannot_hold_is_left_out_with_a_note(tmp_path):
    src = make_video(tmp_path / "in.mkv", frames=2, attachment=b"font")
    out = tmp_path / "out.mp4"
    result = upscale_video(src, out, NearestEngine(2, 2))
    assert [s.type for s in av.open(str(out)).streams] == ["video"]
    assert any("attachment" in w and "left out" in w for w in result.warnings)


def test_a_copy_that_cannot_be_made_is_refused_before_writing(tmp_path):
    src = make_video(tmp_path / "in.mkv", frames=2, audio_tracks=1)
    out = tmp_path / "out.webm"
    with pytest.raises(OutputError, match=r"stream #1 \(aac audio\) cannot be copied into webm"):
        upscale_video(src, out, NearestEngine(2, 2), encode=EncodeSettings(streams=StreamSettings(audio_codec="copy")))
    assert not out.exists() and list(tmp_path.glob(".out*")) == []


_KINDS = [
    "pyav",
    pytest.param("ffmpeg", marks=pytest.mark.skipif(ffmpeg_exe() is None, reason="needs an ffmpeg binary")),
]


@pytest.mark.parametrize("kind", _KINDS)
def test_each_encoder_alone_writes_given_timestamps(tmp_path, kind):
    from repsr_video.encoder import Encoder, open_encoder
    from repsr_video.frames import FrameBatch

    src = make_video(tmp_path / "in.mkv", frames=3)
    out = tmp_path / "out.mkv"
    with VideoDecoder(src) as decoder:
        p = plan_output(decoder.info, 2, out, EncodeSettings(encoder=kind))
        encoder = open_encoder(kind, decoder.source, p, out)
        assert isinstance(encoder, Encoder) and encoder.frames == 0
        pixels = np.zeros((3, 96, 128, 3), np.uint8)
        encoder.write(FrameBatch(pixels, [0, 7, 30], [1, 1, 1], Fraction(1, 25), 0))
        encoder.finish()
        assert encoder.frames == 3
    with av.open(str(out)) as inp:
        assert [f.pts * f.time_base for f in inp.decode(video=0)] == [0, Fraction(7, 25), Fraction(30, 25)]


@pytest.mark.parametrize("kind", _KINDS)
def test_opening_an_encoder_leaves_the_decoder_as_it_was(tmp_path, kind):
    """The streams to copy are decided by the decoder once; no encoder changes them."""
    from repsr_video.encoder import open_encoder

    src = make_video(tmp_path / "in.mkv", frames=2, audio_tracks=2)
    out = tmp_path / "out.mkv"
    with VideoDecoder(src) as decoder:
        copied = decoder.copied_streams
        source = decoder.source
        encoder = open_encoder(kind, decoder.source, plan_output(decoder.info, 2, out, EncodeSettings(encoder=kind)), out)
        encoder.abort()
        assert decoder.copied_streams is copied and decoder.source is source and len(copied) == 2
    with VideoDecoder(src, copy_streams=False) as decoder:
        encoder = open_encoder(kind, decoder.source, plan_output(decoder.info, 2, out, EncodeSettings(encoder=kind)), out)
        encoder.abort()
        assert decoder.copied_streams == ()


def test_open_encoder_refuses_an_unknown_kind(tmp_path):
    from repsr_video.encoder import open_encoder

    src = make_video(tmp_path / "in.mkv", frames=2)
    with VideoDecoder(src) as decoder, pytest.raises(OutputError, match="unknown encoder 'x264'.*pyav, ffmpeg"):
        plan = plan_output(decoder.info, 2, tmp_path / "o.mkv", EncodeSettings())
        open_encoder("x264", decoder.source, plan, tmp_path / "o.mkv")  # type: ignore[arg-type]


@pytest.mark.skipif(__import__("media_factory").ffmpeg_exe() is None, reason="needs an ffmpeg binary (imageio-ffmpeg)")
def test_ffmpeg_encoder_keeps_timing_streams_tags_and_rotation(tmp_path):
    from media_factory import packets_bytes, video_frames

    pts = [0, 40, 80, 200, 210, 220, 500]
    src = make_video(tmp_path / "in.mp4", frames=len(pts), pts=pts, time_base=Fraction(1, 1000), audio_tracks=2,
                     rotation=90, color=(1, 1, 1, 1), metadata={"title": "kept"})
    out = tmp_path / "out.mp4"
    result = upscale_video(src, out, NearestEngine(2, 3), encode=EncodeSettings(encoder="ffmpeg", preset="ultrafast"))
    assert result.frames == len(pts)
    src_pts, _, src_tb = video_frames(src)
    out_pts, images, out_tb = video_frames(out)
    assert [p * out_tb for p in out_pts] == [p * src_tb for p in src_pts]
    assert images[0].shape == (96, 128, 3)
    assert packets_bytes(out, "audio") == packets_bytes(src, "audio")
    with av.open(str(out)) as inp:
        ctx = inp.streams.video[0].codec_context
        assert (ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc) == (1, 1, 1, 1)
        assert next(inp.decode(video=0)).rotation == 90
        assert inp.metadata.get("title") == "kept"


def test_alpha_and_interlacing_are_said(tmp_path):
    alpha = plan(tmp_path, "out.mkv", info=replace(SD, pix_fmt="yuva420p"))
    assert alpha.pix_fmt == "yuv420p" and any("alpha dropped (yuva420p" in n and "opaque" in n for n in alpha.notes)
    fields = plan(tmp_path, "out.mkv", info=replace(SD, interlaced=True))
    assert len(fields.notes) == 1 and "interlaced" in fields.notes[0] and "bwdif" in fields.notes[0]
    assert plan(tmp_path, "out.mkv").notes == []
