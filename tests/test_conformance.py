"""Conformance, fast subset: torture clips made with an ffmpeg binary, upscaled, verified by another FFmpeg.

The full run over the gathered real-world corpus is `python scripts/conformance/check.py` (docs/conformance.md).
The binary is the system's ffmpeg when there is one (Debian's in CI), else the one in the imageio-ffmpeg wheel.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "conformance"))

import check  # noqa: E402
import probe  # noqa: E402
import torture  # noqa: E402

FFMPEG = torture.ffmpeg_binary()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("torture")


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> Path:
    return check.tiny_preset(tmp_path_factory.mktemp("preset"))


def conform(name: str, suffix: str, encoder: str, clips: Path, preset: Path, work: Path) -> check.Result:
    case = next(c for c in torture.CASES if c.name == name)
    source = torture.make(case, clips, FFMPEG)
    return check.run_job(FFMPEG, check.Job(source, source, suffix, encoder, case.sync, case.covers), work, preset)


@pytest.mark.parametrize(("name", "suffix"), [
    ("mkv-subs-2audio-attach.mkv", ".mkv"),  # two audio tracks, subtitles and a font copied byte for byte
    ("mkv-vfr.mkv", ".mkv"),
    ("mkv-late-start-sync.mkv", ".mkv"),  # starts at 0.5 s: kept, and the beep stays on the flash
    ("avi-xvid-bframes-sync.avi", ".mkv"),  # MPEG-4 ASP B-frames in AVI (not packed): FFmpeg's timestamps
])
def test_conforms(name, suffix, clips, preset, tmp_path):
    result = conform(name, suffix, "pyav", clips, preset, tmp_path)
    assert result.result == "pass", result.detail


# Issue 10: A/V bugs measured before the fix (both ran one frame or more off FFmpeg's reading).
def test_avi_h264_bframes_keep_ffmpegs_timestamps(clips, preset, tmp_path):
    """AVI stores no pts; the frames must get the dts sequence ffmpeg shows, not "the next free pts"."""
    result = conform("avi-h264-bframes-sync.avi", ".mkv", "pyav", clips, preset, tmp_path)
    assert result.result == "pass", result.detail


def test_ffmpeg_encoder_keeps_the_start(clips, preset, tmp_path):
    """--encoder ffmpeg used to move the piped video to 0 while the copied audio kept its 0.5 s start."""
    result = conform("mkv-late-start-sync.mkv", ".mkv", "ffmpeg", clips, preset, tmp_path)
    assert result.result == "pass", result.detail


@pytest.mark.parametrize(("name", "suffix"), [
    ("mp4-aac-sync.mp4", ".webm"),  # AAC converted to Opus, with a note
    ("mkv-subs-2audio-attach.mkv", ".mp4"),  # Vorbis -> AAC, SubRip -> mov_text, the font left out, with notes
])
def test_streams_the_output_cannot_hold_are_converted(name, suffix, clips, preset, tmp_path):
    result = conform(name, suffix, "pyav", clips, preset, tmp_path)
    assert result.result == "pass", result.detail
    assert any("converting" in note for note in result.notes)


def test_checker_sees_a_shift_of_one_frame(clips, tmp_path):
    """The checker itself: a copy of a clip is equal to it, the same clip 40 ms later is not."""
    case = next(c for c in torture.CASES if c.name == "mkv-vfr.mkv")
    source = torture.make(case, clips, FFMPEG)
    same, late = tmp_path / "same.mkv", tmp_path / "late.mkv"
    for out, extra in ((same, []), (late, ["-output_ts_offset", "0.04"])):
        subprocess.run([FFMPEG, "-v", "error", "-i", str(source), "-c", "copy", *extra, str(out)], check=True)
    job = check.Job(source, source, ".mkv", "pyav")
    assert check.check_frames(FFMPEG, job, same, 0, 0) == []
    problems = check.check_frames(FFMPEG, job, late, 0, 0)
    assert problems and "+40.0 ms" in problems[0]
    assert len(probe.frames(FFMPEG, str(late), 0)) == 30
