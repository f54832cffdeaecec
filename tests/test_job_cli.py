"""The long-video options through cli.main(argv): time range, resume by running again, --restart, workers."""

from __future__ import annotations

import json

import pytest

from job_helpers import StopAfter, decoded, gop_clip
from repsr_video import cli
from repsr_video.engine import EngineSettings
from repsr_video.jobs import JobSettings, PresetEngine, job_dir_for, run_job
from repsr_video.jobs.options import parse_devices, parse_time


@pytest.fixture
def run(tiny_preset):
    def run(*argv: str) -> int:
        return cli.main([*map(str, argv), "--preset", str(tiny_preset.path), "--device", "cpu", "--backend", "eager"])

    return run


@pytest.fixture
def clip(tmp_path):
    return gop_clip(tmp_path / "in.mkv", frames=80, keyint=10, audio_tracks=1)


def test_start_and_duration_ffmpeg_spelling(run, clip, tmp_path, capsys):
    assert run(clip, tmp_path / "a.mkv", "-ss", "1", "-t", "0:00:01") == 0
    assert run(clip, tmp_path / "b.mkv", "--start", "1000ms", "--duration", "1") == 0
    assert decoded(tmp_path / "a.mkv")[0] == decoded(tmp_path / "b.mkv")[0] == [40 * i for i in range(25)]
    assert "25 frame(s)" in " ".join(capsys.readouterr().err.split())  # (rich wraps long lines)


def test_running_again_resumes_and_says_so(run, clip, tmp_path, tiny_preset, capsys):
    out = tmp_path / "out.mkv"
    factory = PresetEngine(str(tiny_preset.path), EngineSettings(device="cpu", backend="eager"))

    with pytest.raises(KeyboardInterrupt):  # what an interrupted `repsr-video in.mkv out.mkv --segment 0.8` leaves
        run_job(clip, out, factory, job=JobSettings(segment_seconds=0.8), progress=StopAfter(2))
    assert run(clip, out, "--segment", "0.8") == 0
    err = " ".join(capsys.readouterr().err.split())  # (rich wraps long lines)
    assert "80 frame(s)" in err and "resuming; 2 of 4 segment(s) (40 frames) were done by an earlier run" in err
    assert "4 segment(s); 2 were done by an earlier run (50% of the frames)" in err
    assert not job_dir_for(out).exists()


def test_quiet_resume_prints_nothing(run, clip, tmp_path, tiny_preset, capsys):
    out = tmp_path / "out.mkv"
    factory = PresetEngine(str(tiny_preset.path), EngineSettings(device="cpu", backend="eager"))
    with pytest.raises(KeyboardInterrupt):
        run_job(clip, out, factory, job=JobSettings(segment_seconds=0.8), progress=StopAfter(2))
    capsys.readouterr()
    assert run(clip, out, "--segment", "0.8", "-q") == 0
    assert capsys.readouterr().err == ""


def test_changed_settings_are_refused_until_restart(run, clip, tmp_path, tiny_preset, capsys):
    out = tmp_path / "out.mkv"
    factory = PresetEngine(str(tiny_preset.path), EngineSettings(device="cpu", backend="eager"))

    with pytest.raises(KeyboardInterrupt):
        run_job(clip, out, factory, job=JobSettings(segment_seconds=0.8), progress=StopAfter(1))
    assert run(clip, out, "--segment", "0.8", "--crf", "30", "--quiet") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different input or settings" in err[0] and "--restart" in err[0]
    assert run(clip, out, "--segment", "0.8", "--crf", "30", "--restart") == 0


def test_two_workers(run, clip, tmp_path, capsys):
    assert run(clip, tmp_path / "two.mkv", "--segment", "0.8", "--workers", "2") == 0
    assert len(decoded(tmp_path / "two.mkv")[0]) == 80
    err = " ".join(capsys.readouterr().err.split())
    assert "in 2 worker processes" in err and "4 segment(s)" in err  # the main process builds no model


def test_json_summary_has_segments(run, clip, tmp_path, capsys):
    assert run(clip, tmp_path / "out.mkv", "--segment", "0.8", "--json") == 0
    [entry] = json.loads(capsys.readouterr().out)["files"]
    assert (entry["frames"], entry["segments"], entry["segments_resumed"], entry["resume_saved"]) == (80, 4, 0, 0)


@pytest.mark.parametrize(
    ("argv", "cause"),
    [
        (["-ss", "soon"], "is not [HH:]MM:SS"),
        (["--device", "cuda:0,0"], "names a GPU twice"),
        (["--device", "gpu"], "or a GPU list like cuda:0"),
    ],
)
def test_bad_job_options_are_usage_errors(run, clip, tmp_path, capsys, argv, cause):
    with pytest.raises(SystemExit) as exit_:
        run(clip, tmp_path / "out.mkv", *argv)
    assert exit_.value.code == 2 and cause in capsys.readouterr().err
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))


def test_start_past_the_end_is_one_line(run, clip, tmp_path, capsys):
    assert run(clip, tmp_path / "out.mkv", "-ss", "10", "--quiet") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no video frame in the requested time range" in err[0]


def test_option_parsing():
    assert parse_time("90") == 90 and parse_time("1:30") == 90 and parse_time("01:01:30.5") == 3690.5
    assert parse_time("250ms") == parse_time("0.25") == parse_time(".25s")
    assert parse_devices("cuda:1,0") == ("cuda:1", ("cuda:1", "cuda:0")) and parse_devices("cpu") == ("cpu", ())
    assert parse_devices("cuda:2") == ("cuda:2", ("cuda:2",))


def test_library_and_cli_runs_share_saved_work(tiny_preset):
    """An Engine describes its model as its PresetEngine does, so a library call resumes a CLI run (and a
    different preset of the same scale is told apart by its weights)."""
    from repsr_video.engine import create_engine
    from repsr_video.jobs.runner import engine_fingerprint

    settings = EngineSettings(device="cpu", backend="eager")
    fingerprint = PresetEngine(str(tiny_preset.path), settings).fingerprint()
    assert engine_fingerprint(create_engine(tiny_preset, settings)) == fingerprint
    assert fingerprint["weights_sha256"] == tiny_preset.sha256


def test_folder_videos_take_the_job_options(run, clip, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    clip.rename(folder / "in.mkv")
    assert run(folder, tmp_path / "big", "-t", "1", "--segment", "0.4", "--workers", "2") == 0
    assert decoded(tmp_path / "big" / "in.mkv")[0] == [40 * i for i in range(25)]
