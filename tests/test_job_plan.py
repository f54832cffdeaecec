"""Keyframe index and segment plan: cuts at clean keyframes, every frame in exactly one segment, and a
segment decoded from its keyframe gives exactly the frames (pixels and pts) a whole-file decode gives."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from job_helpers import decoded, gop_clip
from media_factory import ffmpeg_exe, make_video
from repsr_video.errors import InputError
from repsr_video.jobs.index import index_video
from repsr_video.jobs.plan import TimeRange, plan_segments
from repsr_video.jobs.runner import read_video_info
from repsr_video.jobs.segment import SegmentSource


def _segment_frames(path: Path, segments) -> tuple[list[int], list[np.ndarray]]:
    info = read_video_info(path)
    pts, images = [], []
    for seg in segments:
        source = SegmentSource(path, seg, info)
        for batch in source.batches(3):
            pts += batch.pts
            images += list(batch.pixels)
        assert source.report.frames == seg.frames and source.report.warnings == []
    return pts, images


def _assert_same_as_whole_decode(path: Path, segments) -> None:
    whole_pts, whole = decoded(path)
    pts, images = _segment_frames(path, segments)
    assert pts == whole_pts
    assert all(np.array_equal(a, b) for a, b in zip(images, whole, strict=True))


def test_index_reads_packets_without_decoding(tmp_path):
    clip = gop_clip(tmp_path / "b.mp4", frames=30, keyint=10)
    index = index_video(clip)
    with av.open(str(clip)) as c:
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
        assert index.pts.tolist() == [p.pts for p in packets]
        assert index.keyframe.tolist() == [p.is_keyframe for p in packets]
    assert index.keyframe.sum() == 3 and index.timestamps_complete
    assert sorted(index.frame_pts().tolist()) == index.frame_pts().tolist()
    assert (index.pts != index.dts).any()  # B-frames: decode order differs from display order


def test_short_clip_is_one_segment(tmp_path):
    clip = gop_clip(tmp_path / "short.mkv", frames=50, keyint=10)  # 2 s
    [only] = plan_segments(index_video(clip), 30.0)
    assert (only.start, only.end, only.key_pts, only.frames) == (None, None, None, 50)


def test_cuts_at_keyframes_near_the_target_and_merges_a_short_tail(tmp_path):
    clip = gop_clip(tmp_path / "b.mkv", frames=100, keyint=10)  # keyframes every 0.4 s, 4 s long
    index = index_video(clip)
    segments = plan_segments(index, 1.0)
    keys = set(index.pts[index.keyframe].tolist())
    assert [s.start for s in segments[1:]] == [s.end for s in segments[:-1]]
    assert all(s.start in keys and s.key_pts == s.start for s in segments[1:])
    # 1.2 s each (the first keyframe at or past 1 s), the last 0.4 s merged into the one before
    assert [s.frames for s in segments] == [30, 30, 40]
    assert sum(s.frames for s in segments) == 100


def test_b_frames_across_boundaries(tmp_path):
    clip = gop_clip(tmp_path / "b.mp4", frames=60, keyint=12)
    segments = plan_segments(index_video(clip), 0.4)
    assert len(segments) == 5
    _assert_same_as_whole_decode(clip, segments)


def test_open_gop_hevc_leading_frames_go_to_the_segment_they_display_in(tmp_path):
    clip = gop_clip(tmp_path / "open.mkv", frames=48, keyint=12, codec="libx265")
    index = index_video(clip)
    segments = plan_segments(index, 0.4)
    assert len(segments) == 4
    # the leading (RASL) frames of each CRA are decoded after it but displayed before it: the earlier
    # segment reads past the next one's keyframe to get them
    assert all(a.last_packet > b.first_packet for a, b in zip(segments, segments[1:], strict=False))
    _assert_same_as_whole_decode(clip, segments)


def test_variable_frame_rate(tmp_path):
    pts = sorted({round(i * 1000 / 25) if i % 7 else round(i * 1000 / 25) + 5 for i in range(40)})
    pts = [p + (i // 10) * 300 for i, p in enumerate(pts)]  # gaps: VFR
    clip = make_video(tmp_path / "vfr.mkv", frames=len(pts), pts=pts, time_base=Fraction(1, 1000), options={"g": "5", "bf": "2"})
    segments = plan_segments(index_video(clip), 0.3)
    assert len(segments) > 3
    _assert_same_as_whole_decode(clip, segments)


def test_one_frame_segments_of_an_intra_clip(tmp_path):
    clip = make_video(tmp_path / "intra.mkv", frames=6, options={"g": "1"})
    segments = plan_segments(index_video(clip), 0.01)
    assert [s.frames for s in segments] == [1] * 6
    _assert_same_as_whole_decode(clip, segments)


def test_time_range_starts_between_keyframes(tmp_path):
    clip = gop_clip(tmp_path / "b.mkv", frames=100, keyint=10)  # keyframes every 0.4 s
    segments = plan_segments(index_video(clip), 1.0, TimeRange(Fraction(1, 2), Fraction(2)))
    first_pts, _ = decoded(clip)
    wanted = [p for p in first_pts if 500 <= p < 2500]
    assert segments[0].start == 500 and segments[0].key_pts == 400  # decoded from the keyframe before
    assert sum(s.frames for s in segments) == len(wanted)
    pts, _ = _segment_frames(clip, segments)
    assert pts == wanted


def test_time_range_outside_the_video_is_an_error(tmp_path):
    clip = gop_clip(tmp_path / "b.mkv", frames=20)
    with pytest.raises(InputError, match="no video frame in the requested time range"):
        plan_segments(index_video(clip), 1.0, TimeRange(Fraction(5)))
    with pytest.raises(InputError, match="--segment"):
        plan_segments(index_video(clip), 0)


def test_late_start_keeps_source_timestamps(tmp_path):
    pts = [1400 + 40 * i for i in range(50)]  # the video starts 1.4 s in
    clip = make_video(tmp_path / "late.mkv", frames=50, pts=pts, time_base=Fraction(1, 1000), options={"g": "10", "bf": "2"})
    segments = plan_segments(index_video(clip), 0.5)
    assert segments[0].first_pts == 1400 and len(segments) > 2
    _assert_same_as_whole_decode(clip, segments)


def test_mp4_edit_list_discarded_packets_are_not_frames(tmp_path):
    exe = ffmpeg_exe()
    if exe is None:
        pytest.skip("no ffmpeg binary to cut a clip with an edit list")
    src = gop_clip(tmp_path / "src.mp4", frames=75, keyint=25)
    cut = tmp_path / "cut.mp4"  # stream copy from 1.2 s: packets before it stay as references, marked discard
    subprocess.run([exe, "-v", "error", "-y", "-ss", "1.2", "-i", str(src), "-c", "copy", str(cut)], check=True)
    index = index_video(cut)
    whole_pts, _ = decoded(cut)
    assert index.discard.any() and int(index.produces_frame.sum()) == len(whole_pts)
    segments = plan_segments(index, 0.5)
    assert sum(s.frames for s in segments) == len(whole_pts)
    _assert_same_as_whole_decode(cut, segments)
