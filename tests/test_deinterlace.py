"""--deinterlace: FFmpeg's bwdif in the decoder, one frame per frame: the input's frames and timestamps, progressive."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from job_helpers import NearestFactory, StopAfter
from media_factory import NearestEngine, ffmpeg_exe
from repsr_video import cli
from repsr_video.deinterlace import bwdif_deint
from repsr_video.errors import OutputError
from repsr_video.jobs import JobSettings, JobStateError, run_job
from repsr_video.output_plan import EncodeSettings
from repsr_video.pipeline import upscale_video

# A white bar crossing a grey background, 8 px per field at 50 fields/s: woven into frames, the rows of its two
# fields disagree at both edges (combing); a progressive picture of it has line differences at its top and bottom only.
SCENE = ("color=c=0x202020:s=128x96:r=50:d=1[bg];color=c=white:s=24x64:r=50[fg];"
         "[bg][fg]overlay=x='mod(t*400,104)':y=16:shortest=1,format=yuv420p")
FRAMES = 25  # 50 fields
LOSSLESS = EncodeSettings(codec="ffv1")


def _ffmpeg(*args: str) -> None:
    exe = ffmpeg_exe()
    if exe is None:
        pytest.skip("no ffmpeg binary to make interlaced clips")
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("interlaced")
    paths = {name: folder / f"{name}.mkv" for name in ("interlaced", "unflagged", "progressive")}
    x264 = ["-c:v", "libx264", "-g", "6", "-crf", "12"]  # a keyframe every 6 frames: segmented runs cut it
    # top field first, flagged so (-top 1: ffmpeg's x264 wrapper otherwise writes bottom-first flags)
    _ffmpeg("-i", f"{SCENE},interlace=scan=tff", "-flags", "+ildct+ilme", "-top", "1", *x264, str(paths["interlaced"]))
    _ffmpeg("-i", f"{SCENE},interlace=scan=tff", *x264, str(paths["unflagged"]))  # the same weave coded as progressive
    _ffmpeg("-i", SCENE, "-c:v", "ffv1", str(paths["progressive"]))  # the 50 pictures the fields were taken from
    return paths


def _frames(path: Path, step: int = 1) -> tuple[list[int], np.ndarray, list[bool]]:
    """pts, luma (every `step`-th row and column: 2 undoes the nearest-neighbour x2) and the interlaced flags."""
    with av.open(str(path)) as inp:
        frames = list(inp.decode(video=0))
    luma = np.stack([f.to_ndarray(format="gray")[::step, ::step] for f in frames]).astype(float)
    return [f.pts for f in frames], luma, [bool(f.interlaced_frame) for f in frames]


def combing(luma: np.ndarray) -> float:
    """Mean absolute difference between neighbouring rows, in 8-bit levels."""
    return float(np.abs(np.diff(luma, axis=1)).mean())


# Measured on these clips: the woven input combs 22.3, the progressive pictures 0.88, the bwdif output 0.91
# (one pass) / 0.92 (segments), and its mean difference from the top fields' pictures is 0.54 levels.
@pytest.mark.parametrize("segment_seconds", [0.2, 1000.0])
def test_auto_deinterlaces_keeping_frames_and_timestamps(clips, tmp_path, segment_seconds):
    out = tmp_path / "out.mkv"
    result = upscale_video(clips["interlaced"], out, NearestEngine(), encode=EncodeSettings(codec="ffv1", deinterlace="auto"),
                           job=JobSettings(segment_seconds=segment_seconds))
    src_pts, src, src_flags = _frames(clips["interlaced"])
    pts, got, flags = _frames(out, 2)
    assert all(src_flags) and len(src_pts) == FRAMES
    assert result.frames == FRAMES and pts == src_pts and not any(flags)
    assert (result.segments > 1) == (segment_seconds < 1)
    assert combing(src) > 20 and combing(got) < 1.5, (combing(src), combing(got))
    top_fields = _frames(clips["progressive"])[1][::2]  # tff: each frame's first field is the even picture
    assert np.abs(got - top_fields).mean() < 1.5
    assert any("deinterlaced with bwdif" in n for n in result.warnings), result.warnings
    assert not any("combing is kept" in n for n in result.warnings)


def test_off_is_the_default_and_the_note_says_how_to_turn_it_on(clips, tmp_path):
    out = tmp_path / "out.mkv"
    result = upscale_video(clips["interlaced"], out, NearestEngine(), encode=LOSSLESS)
    notes = [n for n in result.warnings if "interlaced" in n]
    assert len(notes) == 1 and "combing is kept" in notes[0] and "--deinterlace auto" in notes[0], result.warnings
    pts, got, flags = _frames(out, 2)
    assert pts == _frames(clips["interlaced"])[0] and not any(flags)
    assert combing(got) > 20  # upscaled as it is


def test_on_deinterlaces_frames_not_flagged_interlaced(clips, tmp_path):
    """A weave coded as progressive (flags lost): auto leaves it, on deinterlaces every frame."""
    auto, on = tmp_path / "auto.mkv", tmp_path / "on.mkv"
    left = upscale_video(clips["unflagged"], auto, NearestEngine(), encode=EncodeSettings(codec="ffv1", deinterlace="auto"))
    done = upscale_video(clips["unflagged"], on, NearestEngine(), encode=EncodeSettings(codec="ffv1", deinterlace="on"))
    assert not any("interlace" in n for n in left.warnings) and combing(_frames(auto, 2)[1]) > 20
    assert any("every frame is deinterlaced with bwdif" in n for n in done.warnings)
    pts, got, _ = _frames(on, 2)
    assert pts == _frames(clips["unflagged"])[0] and combing(got) < 1.5



def test_a_resume_with_another_deinterlace_setting_is_refused(clips, tmp_path):
    out, job = tmp_path / "out.mkv", JobSettings(segment_seconds=0.2)
    auto = EncodeSettings(codec="ffv1", deinterlace="auto")
    with pytest.raises(KeyboardInterrupt):
        run_job(clips["interlaced"], out, NearestFactory(), encode=auto, job=job, progress=StopAfter(1))
    with pytest.raises(JobStateError, match=r"settings\.deinterlace.*--restart"):
        run_job(clips["interlaced"], out, NearestFactory(), encode=LOSSLESS, job=job)
    result = run_job(clips["interlaced"], out, NearestFactory(), encode=auto, job=job)
    assert result.segments_resumed >= 1 and result.frames == FRAMES


def test_the_choice_is_checked_and_resolved():
    assert [bwdif_deint(mode, interlaced) for mode in ("off", "auto", "on") for interlaced in (False, True)] == [
        None, None, None, "interlaced", "all", "all"]
    with pytest.raises(OutputError, match="--deinterlace 'yes'; choose one of off, auto, on"):
        EncodeSettings(deinterlace="yes")  # type: ignore[arg-type]


def test_cli_flag(clips, tmp_path, tiny_preset, capsys):
    out = tmp_path / "out.mkv"
    argv = [str(clips["interlaced"]), str(out), "--preset", str(tiny_preset.path), "--device", "cpu", "--backend", "eager"]
    assert cli.main([*argv, "--deinterlace", "auto", "-c:v", "ffv1"]) == 0
    assert "deinterlaced with bwdif" in capsys.readouterr().err
    assert _frames(out)[0] == _frames(clips["interlaced"])[0]
    with pytest.raises(SystemExit):
        cli.main([*argv, "--deinterlace", "yes"])
