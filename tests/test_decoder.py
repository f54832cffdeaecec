"""Decoder: streaming RGB batches with their timestamps, colour policy, damaged and unusual input."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from media_factory import (
    ffmpeg_exe,
    make_audio_only,
    make_theora_with_empty_packets,
    make_video,
    make_zero_frame_video,
    truncate,
)
from repsr_video.colour import resolve_color
from repsr_video.decoder import VideoDecoder
from repsr_video.errors import InputError
from repsr_video.frames import FrameBatch, PacketGroup

VFR_PTS = [0, 40, 80, 200, 210, 220, 500, 540, 580, 900, 940]


def _drain(decoder: VideoDecoder, batch: int):
    batches, groups = [], []
    for item in decoder.batches(batch):
        (batches if isinstance(item, FrameBatch) else groups).append(item)
    return batches, groups


def test_vfr_pts_and_partial_last_batch(tmp_path):
    src = make_video(tmp_path / "vfr.mkv", frames=len(VFR_PTS), pts=VFR_PTS, time_base=Fraction(1, 1000))
    with VideoDecoder(src) as decoder:
        assert decoder.info.time_base == Fraction(1, 1000)
        batches, _ = _drain(decoder, 4)
    assert [len(b) for b in batches] == [4, 4, 3]
    assert [b.first_index for b in batches] == [0, 4, 8]
    assert [p for b in batches for p in b.pts] == VFR_PTS
    assert batches[0].pixels.shape == (4, 48, 64, 3) and batches[0].pixels.dtype == np.uint8
    assert decoder.report.frames == len(VFR_PTS) and decoder.report.warnings == []


def test_ten_bit_gives_uint16_full_range(tmp_path):
    src = make_video(tmp_path / "ten.mkv", frames=3, pix_fmt="yuv420p10le")
    with VideoDecoder(src) as decoder:
        assert decoder.info.bit_depth == 10 and decoder.info.high_bit_depth
        batches, _ = _drain(decoder, 8)
    pixels = batches[0].pixels
    assert pixels.dtype == np.uint16 and pixels.max() > 60000  # full range, not 10-bit values


def test_444_and_odd_size(tmp_path):
    src = make_video(tmp_path / "odd.mkv", frames=3, width=63, height=47, pix_fmt="yuv444p")
    with VideoDecoder(src) as decoder:
        assert decoder.info.pix_fmt == "yuv444p"
        batches, _ = _drain(decoder, 2)
    assert batches[0].pixels.shape == (2, 47, 63, 3)


def test_colour_tags_read_and_untagged_policy(tmp_path):
    src = make_video(tmp_path / "tagged.mkv", frames=2, color=(9, 1, 9, 16), pix_fmt="yuv420p10le")
    with VideoDecoder(src) as decoder:
        c = decoder.info.color
    assert (c.matrix, c.range, c.primaries, c.trc, c.guessed) == (9, 1, 9, 16, False)
    # untagged: BT.601 for SD, BT.709 for HD, limited range; yuvj is full range; RGB needs no matrix
    assert resolve_color("yuv420p", 640, 480, 2, 0, 2, 2).matrix == 6
    assert resolve_color("yuv420p", 1280, 720, 2, 0, 2, 2).matrix == 1
    assert resolve_color("yuv420p", 640, 480, 2, 0, 2, 2).range == 1
    assert resolve_color("yuvj420p", 640, 480, 2, 0, 2, 2).range == 2
    assert resolve_color("gbrp", 640, 480, 2, 0, 2, 2).matrix == 0


def test_decoded_colours_match_source(tmp_path):
    """Tagged BT.709 input is converted with BT.709: RGB comes back close to what was encoded."""
    from media_factory import frame_pixels

    lossless = {"crf": "0", "preset": "ultrafast"}
    src = make_video(tmp_path / "709.mkv", frames=1, pix_fmt="yuv444p", color=(1, 1, 1, 1), options=lossless)
    with VideoDecoder(src) as decoder:
        batches, _ = _drain(decoder, 1)
    error = np.abs(batches[0].pixels[0].astype(int) - frame_pixels(0, 64, 48).astype(int)).mean()
    assert error < 1.5


def test_rotation_read(tmp_path):
    src = make_video(tmp_path / "rot.mp4", frames=2, rotation=90)
    with VideoDecoder(src) as decoder:
        assert decoder.info.rotation == 90


def test_other_streams_pass_through_in_groups(tmp_path):
    src = make_video(tmp_path / "av.mkv", frames=10, audio_tracks=2, subtitles=True)
    with VideoDecoder(src) as decoder:
        kinds = sorted(s.type for s in decoder.copied_streams)
        assert decoder.source.copied == decoder.copied_streams  # the encoder writes what the decoder hands on
        batches, groups = _drain(decoder, 4)
        # (packets refer to their input stream: read them before the container closes)
        packet_kinds = [(p.size, p.stream.type) for g in groups for p in g.packets]
    assert kinds == ["audio", "audio", "subtitle"]
    assert all(size > 0 for size, _ in packet_kinds)
    assert sum(1 for _, kind in packet_kinds if kind == "subtitle") == 2
    assert sum(len(b) for b in batches) == 10


def test_no_copied_streams_when_not_asked(tmp_path):
    src = make_video(tmp_path / "av.mkv", frames=4, audio_tracks=1)
    with VideoDecoder(src, copy_streams=False) as decoder:
        assert decoder.copied_streams == () and decoder.source.copied == ()
        assert not any(isinstance(i, PacketGroup) for i in decoder.batches(2))


@pytest.mark.skipif(ffmpeg_exe() is None, reason="needs an ffmpeg binary (imageio-ffmpeg) to encode Theora")
def test_zero_size_theora_packets_are_skipped(tmp_path):
    src, frames = make_theora_with_empty_packets(tmp_path / "z.ogg", frames=12, empty_after=(3, 7))
    with VideoDecoder(src) as decoder:
        batches, _ = _drain(decoder, 5)
    pts = [p for b in batches for p in b.pts]
    assert len(pts) == frames
    assert pts == [0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13]  # the empty packets' slots stay gaps
    assert decoder.report.corrupt_packets == 0


def test_truncated_matroska_keeps_decodable_frames_and_says_so(tmp_path):
    full = make_video(tmp_path / "full.mkv", frames=30)
    src = truncate(full, tmp_path / "cut.mkv", 0.6)
    with VideoDecoder(src) as decoder:
        batches, _ = _drain(decoder, 8)
    kept = sum(len(b) for b in batches)
    assert 5 < kept < 30
    assert decoder.report.truncated
    assert any("truncated" in w and f"kept {kept} frames" in w for w in decoder.report.warnings)


def test_truncated_mp4_is_an_error(tmp_path):
    full = make_video(tmp_path / "full.mp4", frames=20)
    src = truncate(full, tmp_path / "cut.mp4", 0.5)
    with pytest.raises(InputError, match="cut.mp4"):
        VideoDecoder(src)


@pytest.mark.parametrize(
    "make, cause",
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.write_text("not a video"), p)[1], "not a media file"),
        (lambda p: make_audio_only(p.with_suffix(".m4a")), "no video stream"),
        (lambda p: make_zero_frame_video(p.with_suffix(".mkv")), "empty|no decodable"),
        (lambda p: (p.mkdir(), p)[1], "folder"),
    ],
    ids=["missing", "text", "audio-only", "zero-frames", "folder"],
)
def test_bad_input_is_one_line_error_naming_file(tmp_path, make, cause):
    path = make(tmp_path / "bad.mp4")
    with pytest.raises(InputError, match=cause) as info:
        VideoDecoder(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
