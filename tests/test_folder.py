"""Images (same kind out, 16-bit kept, alpha and grey) and whole folders (tree mirrored, skip, failures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from media_factory import NearestEngine, frame_pixels, make_video, video_frames
from repsr_video.errors import InputError, OutputError
from repsr_video.folder import upscale_folder
from repsr_video.images import Picture, read_image, upscale_image, write_image


@pytest.mark.parametrize("ext", ["png", "jpg", "tif", "webp", "bmp"])
def test_image_kinds(tmp_path, ext):
    src = tmp_path / f"in.{ext}"
    Image.fromarray(frame_pixels(0, 20, 14)).save(src)
    out = tmp_path / f"out.{ext}"
    result = upscale_image(src, out, NearestEngine(3))
    with Image.open(out) as im:
        assert im.size == (60, 42) and im.format == Image.open(src).format
    assert result.status == "done" and result.frames == 1


def test_sixteen_bit_png_and_tiff_stay_sixteen_bit(tmp_path):
    deep = frame_pixels(1, 20, 14, np.uint16)
    for ext, kind in (("png", "PNG"), ("tif", "TIFF")):
        src = tmp_path / f"deep.{ext}"
        write_image(src, Picture(deep, None, False), kind)
        out = tmp_path / f"out.{ext}"
        upscale_image(src, out, NearestEngine(2))
        back = read_image(out)
        assert back.rgb.dtype == np.uint16 and np.array_equal(back.rgb[::2, ::2], deep)


def test_alpha_and_grey_are_kept(tmp_path):
    rgba = np.dstack([frame_pixels(0, 20, 14), np.full((14, 20), 77, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    upscale_image(tmp_path / "a.png", tmp_path / "a2.png", NearestEngine(2))
    back = read_image(tmp_path / "a2.png")
    assert back.alpha is not None and back.alpha.shape == (28, 40) and int(back.alpha.mean()) == 77
    Image.fromarray(frame_pixels(0, 20, 14)[..., 0], "L").save(tmp_path / "g.png")
    upscale_image(tmp_path / "g.png", tmp_path / "g2.png", NearestEngine(2))
    assert Image.open(tmp_path / "g2.png").mode == "L"


def test_bad_images(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="bad.png: not an image"):
        upscale_image(tmp_path / "bad.png", tmp_path / "out.png", NearestEngine(2))
    with pytest.raises(InputError, match="no such file"):
        upscale_image(tmp_path / "missing.png", tmp_path / "out.png", NearestEngine(2))
    assert not (tmp_path / "out.png").exists()


def test_folder_mirrors_tree_skips_existing_and_survives_failures(tmp_path):
    src = tmp_path / "in"
    (src / "sub" / "deeper").mkdir(parents=True)
    make_video(src / "clip.mkv", frames=3, audio_tracks=1)
    make_video(src / "sub" / "other.mp4", frames=4)
    Image.fromarray(frame_pixels(0, 16, 12)).save(src / "sub" / "deeper" / "still.jpg")
    (src / "sub" / "broken.mp4").write_bytes(b"garbage")
    (src / "notes.txt").write_text("ignored")
    dst = tmp_path / "out"
    (dst / "sub").mkdir(parents=True)
    make_video(dst / "sub" / "other.mp4", frames=1)  # already there: skipped
    engine = NearestEngine(2)
    done = []
    results = upscale_folder(src, dst, engine, on_file_done=done.append)
    by_name = {r.input.name: r for r in results}
    assert sorted(by_name) == ["broken.mp4", "clip.mkv", "other.mp4", "still.jpg"] and done == results
    assert by_name["clip.mkv"].status == "done" and by_name["clip.mkv"].frames == 3
    assert by_name["other.mp4"].status == "skipped"
    assert by_name["broken.mp4"].status == "failed" and "broken.mp4" in by_name["broken.mp4"].error
    assert by_name["still.jpg"].status == "done"
    assert (dst / "sub" / "deeper" / "still.jpg").is_file()
    assert len(video_frames(dst / "clip.mkv")[0]) == 3
    assert not (dst / "sub" / "broken.mp4").exists()
    assert len(video_frames(dst / "sub" / "other.mp4")[0]) == 1  # untouched
    # --overwrite redoes it
    again = upscale_folder(src, dst, engine, overwrite=True)
    assert {r.input.name: r.status for r in again}["other.mp4"] == "done"
    assert len(video_frames(dst / "sub" / "other.mp4")[0]) == 4


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no video or image"):
        upscale_folder(tmp_path / "empty", tmp_path / "out", NearestEngine())
    with pytest.raises(OutputError, match="is the input folder"):
        upscale_folder(tmp_path / "empty", tmp_path / "empty", NearestEngine())
    with pytest.raises(InputError, match="no such folder"):
        upscale_folder(tmp_path / "missing", tmp_path / "out", NearestEngine())


def test_output_folder_inside_input_is_not_reprocessed(tmp_path):
    make_video(tmp_path / "a.mkv", frames=2)
    results = upscale_folder(tmp_path, tmp_path / "big", NearestEngine())
    assert [r.input.name for r in results] == ["a.mkv"]
    assert [r.input.name for r in upscale_folder(tmp_path, tmp_path / "big", NearestEngine())] == ["a.mkv"]


def test_folder_walk_takes_exactly_the_shared_media_suffixes(tmp_path):
    from repsr_video.folder import find_media, output_for
    from repsr_video.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    for suffix in [*VIDEO_SUFFIXES, *IMAGE_SUFFIXES, ".txt", ".srt", ".json"]:
        (tmp_path / f"f{suffix.upper() if suffix == '.ogg' else suffix}").write_bytes(b"")
    found = {p.suffix.lower() for p in find_media(tmp_path)}
    assert found == VIDEO_SUFFIXES | IMAGE_SUFFIXES  # .ogg and .3gp included, case-insensitively
    assert output_for(tmp_path / "f.3gp", tmp_path, tmp_path / "out").name == "f.3gp.mkv"  # no container we write
    assert output_for(tmp_path / "f.webm", tmp_path, tmp_path / "out").name == "f.webm"


def test_outputs_are_unique_by_construction(tmp_path):
    from repsr_video.folder import plan_folder

    src = tmp_path / "in"
    src.mkdir()
    for name in ("clip.avi", "clip.mkv", "clip.ts"):
        make_video(src / name, frames=10)
    pairs = plan_folder(src, tmp_path / "out")
    assert sorted(t.name for _, t in pairs) == ["clip.avi.mkv", "clip.mkv", "clip.ts.mkv"]
    results = upscale_folder(src, tmp_path / "out", NearestEngine(2))
    assert [r.status for r in results] == ["done"] * 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip.avi.mkv", "clip.mkv", "clip.ts.mkv"]


def test_collisions_are_refused_before_any_work(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "clip.avi", frames=2)
    make_video(src / "clip.avi.mkv", frames=2)  # the one name the rule cannot keep apart
    engine = NearestEngine(2)
    with pytest.raises(OutputError, match=r"clip\.avi and .*clip\.avi\.mkv would both be written to .*clip\.avi\.mkv"):
        upscale_folder(src, tmp_path / "out", engine)
    assert engine.calls == [] and not (tmp_path / "out").exists()


def test_names_differing_only_in_case_are_refused(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "Clip.mp4", frames=2)
    make_video(src / "clip.MP4", frames=2)
    with pytest.raises(OutputError, match="would both be written to"):
        upscale_folder(src, tmp_path / "out", NearestEngine(2))


def test_an_output_folder_inside_the_input_is_excluded_with_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("in").mkdir()
    make_video(Path("in") / "a.mkv", frames=2)
    first = upscale_folder(Path("in"), Path("in") / "out", NearestEngine())
    second = upscale_folder(Path("in"), Path("in/./out"), NearestEngine())
    assert [r.input.name for r in first] == [r.input.name for r in second] == ["a.mkv"]
    assert not (tmp_path / "in" / "out" / "out").exists()


@pytest.mark.parametrize("name", ["x.mp4", "big.png"])
def test_a_folder_into_a_file_name_is_refused(tmp_path, name):
    (tmp_path / "in").mkdir()
    make_video(tmp_path / "in" / "a.mkv", frames=2)
    with pytest.raises(OutputError, match=r"looks like a file name, but the input is a folder"):
        upscale_folder(tmp_path / "in", tmp_path / name, NearestEngine())
    assert not (tmp_path / name).exists()


def test_results_are_counted_by_status(tmp_path):
    from repsr_video.folder import count_results
    from repsr_video.output import FileResult

    results = [FileResult(tmp_path, tmp_path, status) for status in ("done", "skipped", "skipped", "failed")]
    assert count_results(results) == {"done": 1, "skipped": 2, "failed": 1}
