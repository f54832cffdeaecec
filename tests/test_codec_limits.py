"""--crf and --encoder-preset are checked per encoder, and encoders' banners stay off the console."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from media_factory import make_video
from repsr_video.errors import OutputError
from repsr_video.output_plan import EncodeSettings


@pytest.mark.parametrize(
    ("codec", "crf", "allowed"),
    [
        ("libx264", 60, "0..51"), ("x265", 52, "0..51"), ("libsvtav1", 0, "1..63"), ("libvpx", 2, "4..63"),
        ("h264_nvenc", 55, "0..51"),
    ],
)
def test_crf_out_of_an_encoders_range_is_refused(codec, crf, allowed):
    with pytest.raises(OutputError, match=f"--crf {crf} is out of range for .*: {allowed}"):
        EncodeSettings(codec=codec, crf=crf)


@pytest.mark.parametrize(
    ("codec", "preset"), [("libx264", "quick"), ("libsvtav1", "medium"), ("libsvtav1", "14"), ("libvpx-vp9", "9")]
)
def test_unknown_encoder_presets_are_refused(codec, preset):
    with pytest.raises(OutputError, match=f"--encoder-preset '{preset}' is not one of .*'s presets"):
        EncodeSettings(codec=codec, preset=preset)


def test_valid_values_pass():
    EncodeSettings(codec="libx264", crf=51, preset="veryslow")
    EncodeSettings(codec="libsvtav1", crf=63, preset="13")
    EncodeSettings(codec="libvpx-vp9", crf=0, preset="realtime")
    EncodeSettings(codec="vp9", preset="-3")


def test_the_default_encoder_is_checked_when_planned(tmp_path):
    from media_factory import NearestEngine
    from repsr_video.pipeline import upscale_video

    src = make_video(tmp_path / "in.mkv", frames=2)
    with pytest.raises(OutputError, match=r"--crf 60 is out of range for libx264: 0\.\.51"):
        upscale_video(src, tmp_path / "out.mp4", NearestEngine(2), encode=EncodeSettings(crf=60))
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize(("codec", "banner"), [("libsvtav1", "Svt[info]"), ("libx265", "x265 [info]")])
def test_encoder_banners_are_silenced(tmp_path, codec, banner):
    src = make_video(tmp_path / "in.mp4", frames=3)
    command = [sys.executable, "-m", "repsr_video", str(src), str(tmp_path / "out.mkv"), "--codec", codec,
               "--device", "cpu", "--backend", "eager", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "SVT_LOG"}
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert banner not in run.stderr and run.stderr == ""
