"""Segmented jobs end to end: join, resume, refusal of changed input or settings, crash safety of the
state, idempotent retries, time ranges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from job_helpers import NearestFactory, StopAfter, decoded, gop_clip
from media_factory import packets_bytes
from repsr_video.jobs import JobSettings, JobStateError, TimeRange, job_dir_for, run_job
from repsr_video.jobs.index import index_video
from repsr_video.jobs.plan import plan_segments
from repsr_video.jobs.runner import read_video_info
from repsr_video.jobs.state import marker_file, publish_bytes, segment_file
from repsr_video.jobs.work import SegmentTask, run_segment
from repsr_video.output_plan import EncodeSettings, plan_output

LOSSLESS = EncodeSettings(codec="ffv1")
TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def rich_gop_clip(tmp_path_factory) -> Path:
    """3.2 s, keyframes every 0.4 s, B-frames, two audio tracks, subtitles, a font, chapters, metadata."""
    folder = tmp_path_factory.mktemp("jobs")
    return gop_clip(
        folder / "rich.mkv",
        frames=80,
        keyint=10,
        audio_tracks=2,
        subtitles=True,
        attachment=bytes(range(256)) * 8,
        chapters=True,
        metadata={"title": "A clip"},
    )


def _video_packets(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [(p.pts, bytes(p)) for p in c.demux(s) if p.size]


def _same_frames(a: Path, b: Path) -> bool:
    pts_a, img_a = decoded(a)
    pts_b, img_b = decoded(b)
    return pts_a == pts_b and all(np.array_equal(x, y) for x, y in zip(img_a, img_b, strict=True))



def test_all_streams_survive_the_join(rich_gop_clip, tmp_path):
    out = tmp_path / "out.mkv"
    result = run_job(rich_gop_clip, out, NearestFactory(), job=JobSettings(segment_seconds=0.8))
    assert result.segments == 4 and result.frames == 80 and result.segments_resumed == 0
    assert not job_dir_for(out).exists()  # state removed once the output is published
    pts, images = decoded(out)
    src_pts, src_images = decoded(rich_gop_clip)
    assert pts == src_pts and images[0].shape == (96, 128, 3)
    assert packets_bytes(out, "audio") == packets_bytes(rich_gop_clip, "audio")
    assert packets_bytes(out, "subtitle") == packets_bytes(rich_gop_clip, "subtitle")
    with av.open(str(rich_gop_clip)) as a, av.open(str(out)) as b:
        assert [s.type for s in a.streams] == [s.type for s in b.streams]
        for sa, sb in zip(a.streams, b.streams, strict=False):
            assert sa.metadata.get("language") == sb.metadata.get("language") and sa.disposition == sb.disposition
        assert b.streams.attachments[0].data == a.streams.attachments[0].data
        assert [c["metadata"] for c in b.chapters()] == [c["metadata"] for c in a.chapters()]
        assert b.metadata["title"] == "A clip"


def test_join_timestamps_are_monotonic_in_mp4(tmp_path):
    clip = gop_clip(tmp_path / "b.mp4", frames=60, keyint=12, audio_tracks=1)
    out = tmp_path / "out.mp4"
    run_job(clip, out, NearestFactory(), job=JobSettings(segment_seconds=0.4))
    with av.open(str(out)) as c:
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
    dts = [p.dts for p in packets]
    assert all(a < b for a, b in zip(dts, dts[1:], strict=False))  # MP4 needs strictly increasing dts
    assert all(p.dts <= p.pts for p in packets)
    assert sorted(p.pts for p in packets) == [p.pts for p in sorted(packets, key=lambda p: p.pts)]
    assert len({p.pts for p in packets}) == 60  # pts unique: strictly increasing in display order
    assert decoded(out)[0] == decoded(_one_segment(clip, tmp_path / "one.mp4", EncodeSettings()))[0]


def _one_segment(clip: Path, out: Path, encode: EncodeSettings) -> Path:
    run_job(clip, out, NearestFactory(), encode=encode, job=JobSettings(segment_seconds=1000))
    return out


def test_interrupted_run_resumes_and_gives_the_same_output(rich_gop_clip, tmp_path):
    out = tmp_path / "out.mkv"
    job = JobSettings(segment_seconds=0.8)
    with pytest.raises(KeyboardInterrupt):
        run_job(rich_gop_clip, out, NearestFactory(), encode=LOSSLESS, job=job, progress=StopAfter(2))
    assert not out.exists()
    folder = job_dir_for(out)
    assert sorted(p.name for p in folder.glob("seg*.done.json")) == ["seg00000.done.json", "seg00001.done.json"]
    result = run_job(rich_gop_clip, out, NearestFactory(), encode=LOSSLESS, job=job)
    assert (result.segments, result.segments_resumed, result.frames_resumed) == (4, 2, 40)
    assert result.resume_saved == 0.5
    uninterrupted = tmp_path / "whole.mkv"
    run_job(rich_gop_clip, uninterrupted, NearestFactory(), encode=LOSSLESS, job=job)
    assert _same_frames(out, uninterrupted)
    assert _video_packets(out) == _video_packets(uninterrupted)  # bit-identical video


def test_changed_input_or_settings_are_refused_and_restart_discards(tmp_path):
    clip = gop_clip(tmp_path / "c.mkv", frames=40, keyint=10)
    out = tmp_path / "out.mkv"
    job = JobSettings(segment_seconds=0.4)
    with pytest.raises(KeyboardInterrupt):
        run_job(clip, out, NearestFactory(), job=job, progress=StopAfter(1))
    with pytest.raises(JobStateError, match=r"settings\.encode\.options.*--restart"):
        run_job(clip, out, NearestFactory(), encode=EncodeSettings(crf=30), job=job)
    with pytest.raises(JobStateError, match=r"settings\.model"):
        run_job(clip, out, NearestFactory(scale=4), job=job)
    with pytest.raises(JobStateError, match=r"settings\.segment_seconds"):
        run_job(clip, out, NearestFactory(), job=JobSettings(segment_seconds=0.8))
    gop_clip(clip, frames=40, keyint=10, rate=30)  # the input is replaced by another clip
    with pytest.raises(JobStateError, match=r"input\.") as caught:
        run_job(clip, out, NearestFactory(), job=job)
    assert "\n" not in str(caught.value)
    result = run_job(clip, out, NearestFactory(), job=JobSettings(segment_seconds=0.4, restart=True))
    assert result.segments_resumed == 0 and out.exists()


def test_a_second_run_on_the_same_output_is_refused_while_the_first_works(tmp_path):
    clip = gop_clip(tmp_path / "c.mkv", frames=40, keyint=10)
    out = tmp_path / "out.mkv"
    job = JobSettings(segment_seconds=0.4)

    def second_run(event) -> None:
        if event.segments_done == 1:
            with pytest.raises(JobStateError, match="another run is working on this output"):
                run_job(clip, out, NearestFactory(), job=job)

    run_job(clip, out, NearestFactory(), job=job, progress=second_run)
    assert out.exists()


def test_damaged_or_half_written_markers_mean_redo(tmp_path):
    clip = gop_clip(tmp_path / "c.mkv", frames=40, keyint=10)
    out = tmp_path / "out.mkv"
    job = JobSettings(segment_seconds=0.4)
    with pytest.raises(KeyboardInterrupt):
        run_job(clip, out, NearestFactory(), encode=LOSSLESS, job=job, progress=StopAfter(3))
    folder = job_dir_for(out)
    marker_file(folder, 0).write_text('{"segment": {"index": 0, "sta')  # torn write (a filesystem without atomic rename)
    segment_file(folder, 1).write_bytes(b"short")  # a segment file of the wrong size
    (folder / ".seg00002.done.json.abc.tmp").write_text("{")  # a temporary marker a crash left behind
    result = run_job(clip, out, NearestFactory(), encode=LOSSLESS, job=job)
    assert result.segments_resumed == 1  # only segment 2's marker and file were intact
    assert not list(tmp_path.glob(".*"))
    assert _same_frames(out, _one_segment(clip, tmp_path / "one.mkv", LOSSLESS))


def test_crash_while_writing_a_marker_leaves_state_readable(tmp_path):
    target = tmp_path / "seg00000.done.json"
    publish_bytes(target, b'{"old": true}')
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from repsr_video.jobs import state
        real_fsync = os.fsync
        def crash(fd):  # die between writing the new marker and renaming it into place
            os.kill(os.getpid(), signal.SIGKILL)
        os.fsync = crash
        state.publish_bytes(Path({str(target)!r}), b'{{"new": true}}' * 1000)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert done.returncode == -9
    assert json.loads(target.read_text()) == {"old": True}  # the marker is the old one, whole
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # removed by the next run's start


def test_a_retried_segment_is_harmless(tmp_path):
    clip = gop_clip(tmp_path / "c.mkv", frames=40, keyint=10)
    folder = tmp_path / "job"
    folder.mkdir()
    info = read_video_info(clip)
    plan = plan_output(info, 2, tmp_path / "out.mkv", LOSSLESS)
    segment = plan_segments(index_video(clip), 0.4)[1]
    task = SegmentTask(str(clip), str(folder), segment, info, plan)
    first = run_segment(task, NearestFactory()())
    stamp = segment_file(folder, 1).stat().st_mtime_ns
    assert run_segment(task, NearestFactory()()) == first  # already done: not redone
    assert segment_file(folder, 1).stat().st_mtime_ns == stamp
    marker_file(folder, 1).unlink()  # the marker was lost (e.g. a worker died just before writing it)
    again = run_segment(task, NearestFactory()())
    assert again["facts"] == first["facts"]  # redone: identical file
    assert sorted(p.name for p in folder.iterdir()) == ["seg00001.done.json", "seg00001.nut"]


def test_time_range_trims_audio_and_subtitles(rich_gop_clip, tmp_path):
    out = tmp_path / "part.mkv"
    result = run_job(
        rich_gop_clip, out, NearestFactory(), job=JobSettings(segment_seconds=0.8, time_range=TimeRange(Fraction(1), Fraction(1)))
    )
    assert result.frames == 25
    pts, _ = decoded(out)
    assert pts[0] == 0 and pts[-1] == 960  # starts at 0, as FFmpeg's -ss/-t do
    with av.open(str(out)) as c:
        audio = [p for p in c.demux(c.streams.audio[0]) if p.size]
        assert 0 <= audio[0].pts * audio[0].time_base < Fraction(1, 20)
        end = audio[-1].pts * audio[-1].time_base
        assert Fraction(9, 10) < end < Fraction(1)
    assert len(packets_bytes(out, "audio")[0]) < len(packets_bytes(rich_gop_clip, "audio")[0]) / 2


def test_segment_files_keep_the_source_time_base(tmp_path):
    clip = gop_clip(tmp_path / "c.mkv", frames=40, keyint=10)
    out = tmp_path / "out.mkv"
    with pytest.raises(KeyboardInterrupt):
        run_job(clip, out, NearestFactory(), job=JobSettings(segment_seconds=0.4), progress=StopAfter(1))
    marker = json.loads(marker_file(job_dir_for(out), 0).read_text())
    assert marker["facts"]["first_pts"] == 0 and marker["facts"]["last_pts"] == 360 and marker["facts"]["frames"] == 10
    assert os.path.getsize(segment_file(job_dir_for(out), 0)) == marker["facts"]["size"]
