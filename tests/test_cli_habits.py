"""The upscale command as FFmpeg users type it: short flags, paths, --quiet, --json, --dry-run, folder summaries."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from media_factory import make_video, video_frames
from repsr_video import cli, cli_arguments, upscale_command

FAST = ["--device", "cpu", "--backend", "eager"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("habits") / "clip.mp4", frames=3, width=64, height=48)


def test_short_and_ffmpeg_spellings():
    args = cli._main_parser().parse_args(
        ["in.mp4", "out.mp4", "-s", "4", "-p", "general-x4", "-y", "-q", "-c:v", "libx265", "-crf", "20", "-preset", "fast",
         "-pix_fmt", "yuv420p", "--tile", "256", "--threads", "2"]
    )
    assert (args.scale, args.preset, args.overwrite, args.quiet) == (4, "general-x4", True, True)
    encoding = (args.codec, args.crf, args.encoder_preset, args.pix_fmt, args.tile, args.threads)
    assert encoding == ("libx265", 20, "fast", "yuv420p", 256, 2)
    assert cli._main_parser().parse_args(["a", "b", "-c", "libsvtav1"]).codec == "libsvtav1"
    assert cli_arguments.engine_settings(args).tile == 256


def test_x3_is_not_offered(capsys):
    with pytest.raises(SystemExit) as stop:
        cli._main_parser().parse_args(["in.mp4", "out.mp4", "--scale", "3"])
    assert stop.value.code == 2 and "invalid choice: 3 (choose from 2, 4)" in capsys.readouterr().err


def test_every_option_has_help():
    parsers = [cli._main_parser(), *(cli._subcommand_parser(name)[0] for name in cli.SUBCOMMANDS)]
    for parser in parsers:
        for action in parser._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"{parser.prog}: {action.option_strings or action.dest} has no help text"


def test_progress_columns_are_labelled():
    view = upscale_command._UpscaleProgress(quiet=True)
    texts = [getattr(column, "text_format", "") for column in view.progress.columns]
    assert {"elapsed", "left", "{task.fields[unit]}", "{task.fields[fps]}"} <= set(texts)


def test_a_file_into_an_existing_folder_keeps_its_name(tmp_path, clip, capsys):
    (tmp_path / "out").mkdir()
    assert cli.main([str(clip), str(tmp_path / "out"), *FAST, "-q"]) == 0
    assert len(video_frames(tmp_path / "out" / "clip.mp4")[0]) == 3
    assert capsys.readouterr().err == ""  # --quiet: nothing but errors


def test_missing_parent_folders_are_created(tmp_path, clip):
    assert cli.main([str(clip), str(tmp_path / "a" / "b" / "out.mkv"), *FAST, "-q"]) == 0
    assert (tmp_path / "a" / "b" / "out.mkv").is_file()


def test_a_folder_into_a_file_name_is_refused(tmp_path, clip, capsys):
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "a.mp4", frames=2)
    assert cli.main([str(tmp_path / "in"), str(tmp_path / "x.mp4"), *FAST]) == 1
    assert "x.mp4: looks like a file name, but the input is a folder" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_names_with_a_leading_dash_after_double_dash(tmp_path, clip, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("-in.mp4").write_bytes(clip.read_bytes())
    assert cli.main([*FAST, "-q", "--", "-in.mp4", "-out.mkv"]) == 0
    assert len(video_frames(tmp_path / "-out.mkv")[0]) == 3


def test_json_is_one_summary_on_stdout(tmp_path, clip, capsys):
    assert cli.main([str(clip), str(tmp_path / "out.mkv"), *FAST, "--json"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out)
    assert summary["done"] == 1 and summary["failed"] == 0 and summary["files"][0]["frames"] == 3
    assert summary["preset"] and summary["files"][0]["output"] == str(tmp_path / "out.mkv")


def test_threads_must_be_positive(tmp_path, clip, capsys):
    assert cli.main([str(clip), str(tmp_path / "out.mkv"), *FAST, "--threads", "0"]) == 1
    assert "--threads 0 must be 1 or more" in capsys.readouterr().err


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, clip, capsys):
    src = make_video(tmp_path / "in.mkv", frames=2, audio_tracks=1, subtitles=True)
    out = tmp_path / "new" / "out.mp4"
    assert cli.main([str(src), str(out), *FAST, "--dry-run", "--tile", "32"]) == 0
    text = capsys.readouterr().out
    assert "-> " + str(out) + ": upscale" in text and "size 64x48 -> 128x96; tiles of 32 px" in text
    assert "encoder libx264, pixel format yuv420p, colour " in text
    assert "audio #1 (aac): copy" in text and "subtitle #2 (subrip): convert to mov_text" in text, text
    assert not (tmp_path / "new").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "in.srt"]


def test_folder_summary_counts_and_names_outputs(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "a.avi", frames=10)
    make_video(src / "b.mp4", frames=2)
    (src / "c.mp4").write_bytes(b"not a video")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.mp4").write_bytes(b"already there")
    assert cli.main([str(src), str(tmp_path / "out"), *FAST]) == 1  # one failed
    captured = capsys.readouterr()
    assert "3 file(s): 1 done, 1 skipped (output exists), 1 failed" in captured.err
    assert "a.avi.mkv" in captured.out  # the table names the output as written
    assert (tmp_path / "out" / "a.avi.mkv").is_file() and (tmp_path / "out" / "b.mp4").read_bytes() == b"already there"


def test_quiet_folder_prints_only_the_failures(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "a.mp4", frames=2)
    (src / "c.mp4").write_bytes(b"not a video")
    assert cli.main([str(src), str(tmp_path / "out"), *FAST, "-q"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("error: ") and "c.mp4" in captured.err
