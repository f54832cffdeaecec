"""The benchmark: work clips of exact length, every stage measured, the CLI table/JSON. Tiny clip and net."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from media_factory import make_video, video_frames
from repsr_video.bench import make_work_clip, memory_check, run_bench
from repsr_video.cli import main
from repsr_video.engine import EngineSettings, create_engine_for_network
from repsr_video.errors import InputError
from repsr_video.network import SRNet


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("bench") / "clip.mp4", frames=20, width=64, height=48)


@pytest.fixture(scope="module")
def engine():
    torch.manual_seed(0)
    return create_engine_for_network(SRNet(2, 1, 4).eval(), EngineSettings(device="cpu", backend="eager", batch=4))


@pytest.mark.parametrize("frames", [7, 20, 53])
def test_work_clip_has_exactly_the_requested_frames_looping_when_short(clip, tmp_path, frames):
    work = tmp_path / "work.mp4"
    assert make_work_clip(clip, frames, work) == frames
    pts, pixels, _ = video_frames(work)
    assert len(pixels) == frames
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), "looped timestamps must keep increasing"
    _, original, _ = video_frames(clip)
    # The loop restarts the clip: frame 20 decodes to the same picture as frame 0.
    if frames > 20:
        assert np.array_equal(pixels[20], original[0])


def test_work_clip_rejects_a_file_without_video(tmp_path):
    from media_factory import make_audio_only

    with pytest.raises(InputError, match="no video stream"):
        make_work_clip(make_audio_only(tmp_path / "a.m4a"), 5, tmp_path / "w.mkv")


def test_run_bench_measures_every_stage_over_the_same_frames(clip, engine, tmp_path):
    report = run_bench(clip, engine, frames=24, workdir=tmp_path)
    assert [s.stage for s in report.stages] == ["decode", "infer", "encode", "end-to-end"]
    for stage in report.stages:
        assert stage.frames == 24 and stage.seconds > 0 and stage.fps > 0
        assert stage.peak_rss_mb > 10 and stage.cuda_peak_mb is None
    assert report.input_size == "64x48" and report.output_size == "128x96"
    assert report.slowest.stage in ("decode", "infer", "encode")
    assert report.ratio == pytest.approx(report.end_to_end.fps / report.slowest.fps)
    data = json.loads(json.dumps(report.as_dict()))
    assert data["stages"][1]["fps"] > 0 and data["slowest_stage"] == report.slowest.stage
    assert (data["segments"], data["segments_resumed"]) == (1, 0)  # a 24-frame clip is one segment, run fresh
    assert list(tmp_path.iterdir()) == [], "the work clip and outputs are removed"


def test_memory_check_runs_the_pipeline_at_each_length(clip, engine, tmp_path):
    rows = memory_check(clip, engine, lengths=(10, 30), workdir=tmp_path)
    assert [r.frames for r in rows] == [10, 30]
    for row in rows:
        assert row.peak_rss_mb >= row.rss_before_mb > 10 and row.fps > 0


def test_bench_cli_json(clip, capsys):
    code = main(["bench", str(clip), "--size", "M1C4", "--frames", "12", "--device", "cpu", "--backend", "eager", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["frames"] == 12 and data["model"] == "random M1C4 x2"
    assert {s["stage"] for s in data["stages"]} == {"decode", "infer", "encode", "end-to-end"}


def test_bench_cli_table(clip, capsys):
    code = main(["bench", str(clip), "--size", "M1C4", "--scale", "3", "--frames", "8", "--device", "cpu", "--backend", "eager"])
    out = capsys.readouterr()
    assert code == 0
    text = out.out + out.err
    assert "end-to-end" in text and "192x144" in text and "slowest stage" in text


def test_bench_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "missing.mp4"), "--size", "M1C4", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "missing.mp4" in err and "Traceback" not in err
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    assert main(["bench", str(not_video), "--size", "M1C4", "--device", "cpu"]) == 1
    assert "notes.mp4" in capsys.readouterr().err
