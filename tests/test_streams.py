"""Stream policy (copy, convert, leave out) and the packet-level conversions it relies on."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import pytest

from repsr_video.errors import OutputError
from repsr_video.output_plan import supported_codecs
from repsr_video.stream_convert import subtitle_payload, subtitle_text
from repsr_video.streams import StreamSettings, plan_streams
from repsr_video.timestamps import BestEffortClock
from tests.media_factory import make_video


@pytest.fixture(scope="module")
def rich_mkv(tmp_path_factory) -> Path:
    """H.264 + AAC + SubRip + a font attachment in Matroska."""
    path = tmp_path_factory.mktemp("streams") / "rich.mkv"
    return make_video(path, frames=5, audio_tracks=1, subtitles=True, attachment=b"font" * 100)


def _plans(path: Path, fmt: str, settings: StreamSettings | None = None):
    with av.open(str(path)) as container:
        others = [s for s in container.streams if s.type != "video"]
        return plan_streams(others, fmt, supported_codecs(fmt), settings or StreamSettings())


def test_matroska_copies_everything(rich_mkv):
    assert [(p.kind, p.action) for p in _plans(rich_mkv, "matroska")] == [
        ("audio", "copy"), ("subtitle", "copy"), ("attachment", "copy")]


def test_mp4_converts_subtitles_and_leaves_the_attachment_out_with_notes(rich_mkv):
    plans = {p.kind: p for p in _plans(rich_mkv, "mp4")}
    assert plans["audio"].action == "copy"
    assert (plans["subtitle"].action, plans["subtitle"].target) == ("convert", "mov_text")
    assert plans["attachment"].action == "drop" and "only .mkv" in plans["attachment"].note
    assert "--subtitle-codec" in plans["subtitle"].note


def test_webm_converts_aac_to_opus(rich_mkv):
    plans = {p.kind: p for p in _plans(rich_mkv, "webm")}
    assert (plans["audio"].action, plans["audio"].target) == ("convert", "libopus")
    assert (plans["subtitle"].action, plans["subtitle"].target) == ("convert", "webvtt")


def test_flags_leave_out_force_and_refuse(rich_mkv):
    plans = _plans(rich_mkv, "matroska", StreamSettings(no_audio=True, no_subtitles=True))
    assert [(p.kind, p.action, p.note) for p in plans][:2] == [("audio", "drop", None), ("subtitle", "drop", None)]
    forced = _plans(rich_mkv, "matroska", StreamSettings(audio_codec="opus"))
    assert (forced[0].action, forced[0].target) == ("convert", "libopus")
    with pytest.raises(OutputError, match="cannot be copied into webm"):
        _plans(rich_mkv, "webm", StreamSettings(audio_codec="copy"))
    with pytest.raises(OutputError, match="unknown audio encoder"):
        _plans(rich_mkv, "matroska", StreamSettings(audio_codec="nosuchcodec"))


@pytest.mark.parametrize(("codec", "data", "text"), [
    ("subrip", b"<i>Hello</i>\r\n", "<i>Hello</i>"),
    ("ass", b"0,0,Default,,0,0,0,,{\\i1}Hello\\Nworld", "Hello\nworld"),
    ("mov_text", struct.pack(">H", 5) + b"Hello" + b"\x00\x00\x00\x0cstyl", "Hello"),
    ("webvtt", b"Hello", "Hello"),
])
def test_subtitle_text(codec, data, text):
    assert subtitle_text(codec, data) == text


def test_subtitle_payload_round_trips_through_mov_text():
    payload = subtitle_payload("mov_text", "<b>Hi</b> there")
    assert payload == struct.pack(">H", 8) + b"Hi there"
    assert subtitle_text("mov_text", payload) == "Hi there"
    assert subtitle_payload("webvtt", "<i>a</i>") == b"<i>a</i>"


def test_best_effort_clock_follows_dts_when_pts_is_missing():
    """AVI with B-frames: no pts, the packets' dts are the regular sequence (FFmpeg's reading)."""
    clock = BestEffortClock(default_duration=1)
    assert [clock.next(None, dts, 1)[0] for dts in (2, 3, 4, 5)] == [2, 3, 4, 5]
    assert clock.repaired == 0


def test_best_effort_clock_prefers_pts_and_repairs_only_what_is_missing():
    clock = BestEffortClock(default_duration=10)
    assert [clock.next(pts, None, None)[0] for pts in (0, 10, None, 30)] == [0, 10, 20, 30]
    assert clock.repaired == 1
    faulty = BestEffortClock(default_duration=1)  # once pts went backwards more often than dts, dts win
    assert (faulty.guess(5, 0), faulty.guess(4, 1), faulty.guess(6, 2)) == (5, 1, 2)


def test_container_codec_names_are_known():
    assert {"aac", "mov_text"} <= supported_codecs("mp4")
    assert {"opus", "webvtt"} <= supported_codecs("webm")
