"""The upscale command through cli.main(argv): success paths and every bad-input path (non-zero, nothing written)."""

from __future__ import annotations

import pytest
from PIL import Image

from media_factory import frame_pixels, make_audio_only, make_video, make_zero_frame_video, packets_bytes, truncate, video_frames
from repsr_video import cli


@pytest.fixture
def run(tiny_preset):
    def run(*argv: str) -> int:
        return cli.main([*map(str, argv), "--preset", str(tiny_preset.path), "--device", "cpu", "--backend", "eager"])

    return run


def test_video(tmp_path, run, capsys):
    src = make_video(tmp_path / "in.mkv", frames=4, audio_tracks=2, subtitles=True)
    out = tmp_path / "out.mkv"
    assert run(src, out, "--crf", "23", "--encoder-preset", "ultrafast") == 0
    pts, images, _ = video_frames(out)
    assert pts == video_frames(src)[0] and images[0].shape == (96, 128, 3)
    assert packets_bytes(out, "audio") == packets_bytes(src, "audio")
    assert "4 frame(s)" in capsys.readouterr().err


def test_image_and_folder(tmp_path, run, capsys):
    Image.fromarray(frame_pixels(0, 16, 12)).save(tmp_path / "in.png")
    assert run(tmp_path / "in.png", tmp_path / "out.png") == 0
    assert Image.open(tmp_path / "out.png").size == (32, 24)
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    make_video(folder / "sub" / "a.mp4", frames=2)
    (folder / "b.mp4").write_bytes(b"garbage")
    assert run(folder, tmp_path / "big") == 1  # one file failed: exit status 1, the other is done
    assert len(video_frames(tmp_path / "big" / "sub" / "a.mp4")[0]) == 2
    captured = capsys.readouterr()
    assert "2 file(s): 1 done, 0 skipped (output exists), 1 failed" in captured.err and "b.mp4" in captured.out


def _bad_cases(tmp_path):
    video = make_video(tmp_path / "ok.mkv", frames=2)
    (tmp_path / "text.mp4").write_text("hello")
    (tmp_path / "exists.mkv").write_bytes(b"keep me")
    return {
        "missing": ([tmp_path / "missing.mp4", tmp_path / "out.mp4"], "no such file"),
        "not-video": ([tmp_path / "text.mp4", tmp_path / "out.mp4"], "not a media file"),
        "truncated-mp4": ([truncate(make_video(tmp_path / "full.mp4", frames=10), tmp_path / "cut.mp4", 0.5),
                           tmp_path / "out.mp4"], "cut.mp4"),
        "zero-frames": ([make_zero_frame_video(tmp_path / "zero.mkv"), tmp_path / "out.mkv"], "zero.mkv"),
        "audio-only": ([make_audio_only(tmp_path / "audio.m4a"), tmp_path / "out.mp4"], "no video stream"),
        "file-as-folder": ([video, tmp_path / "exists.mkv" / "out.mkv"], "exists.mkv is a file, not a folder"),
        "same-file": ([video, video], "is the input file"),
        "exists": ([video, tmp_path / "exists.mkv"], "exists; pass --overwrite"),
        "unknown-codec": ([video, tmp_path / "out.mkv", "--codec", "nosuchcodec"], "unknown video encoder"),
        "unknown-pix-fmt": ([video, tmp_path / "out.mkv", "--pix-fmt", "nosuchfmt"], "unknown pixel format"),
        "bad-extension": ([video, tmp_path / "out.xyz"], "unsupported output type"),
        "bad-crf": ([video, tmp_path / "out.mkv", "--crf", "99"], "out of range"),
    }


@pytest.mark.parametrize("case", ["missing", "not-video", "truncated-mp4", "zero-frames", "audio-only", "file-as-folder",
                                  "same-file", "exists", "unknown-codec", "unknown-pix-fmt", "bad-extension", "bad-crf"])
def test_bad_input_one_line_error_nothing_written(tmp_path, run, capsys, case):
    argv, cause = _bad_cases(tmp_path)[case]
    before = {p.name: p.stat().st_size for p in tmp_path.rglob("*")}
    assert run(*argv) == 1
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("preset ")]
    assert len(err) == 1 and err[0].startswith("error: ") and cause in err[0]
    after = {p.name: p.stat().st_size for p in tmp_path.rglob("*")}
    assert after == before  # nothing created, nothing changed (no output, no temporary file)


def test_bad_preset(tmp_path, capsys):
    video = make_video(tmp_path / "ok.mkv", frames=2)
    (tmp_path / "broken.toml").write_text("name = 'x'\nnot valid")
    assert cli.main([str(video), str(tmp_path / "out.mkv"), "--preset", str(tmp_path / "broken.toml"), "--quiet"]) == 1
    assert "broken.toml" in capsys.readouterr().err and not (tmp_path / "out.mkv").exists()


def test_the_preset_wins_over_scale(tmp_path, tiny_preset, capsys):
    video = make_video(tmp_path / "ok.mkv", frames=2)
    argv = [str(video), str(tmp_path / "out.mkv"), "--preset", str(tiny_preset.path), "--scale", "4", "--device", "cpu"]
    assert cli.main([*argv, "--backend", "eager"]) == 0
    assert "note: --scale 4 ignored: preset tiny-x2 upscales x2" in capsys.readouterr().err
    assert video_frames(tmp_path / "out.mkv")[1][0].shape == (96, 128, 3)  # x2, as the preset says
