"""Output handling: atomic writes (temporary name, rename, clean-up), the output-path rules, and the
image path through them."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from repsr_video.errors import OutputError
from repsr_video.output import FileResult, atomic_write, check_output_path


def test_atomic_write_renames_a_partial_file_beside_the_target(tmp_path):
    target = tmp_path / "clip.mkv"
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path and re.fullmatch(r"\.clip\.[^.]+\.partial\.mkv", tmp.name)
        assert not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["clip.mkv"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # like any new file, not mkstemp's 0600


@pytest.mark.parametrize("error", [RuntimeError("failed half-way"), KeyboardInterrupt()])
def test_atomic_write_keeps_the_old_file_and_removes_the_partial_one(tmp_path, error):
    target = tmp_path / "clip.mkv"
    target.write_bytes(b"old")
    with pytest.raises(type(error)), atomic_write(target) as tmp:
        tmp.write_bytes(b"half")
        raise error
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["clip.mkv"]


def test_atomic_write_into_a_missing_folder_is_one_output_error(tmp_path):
    with pytest.raises(OutputError, match="cannot write in"), atomic_write(tmp_path / "nope" / "x.png"):
        pass


def test_output_path_rules(tmp_path):
    source = tmp_path / "in.mkv"
    source.write_bytes(b"x")
    with pytest.raises(OutputError, match="is the input file"):
        check_output_path(source, tmp_path / "." / "in.mkv", overwrite=True)
    with pytest.raises(OutputError, match="is a folder"):
        check_output_path(source, tmp_path, overwrite=True)
    with pytest.raises(OutputError, match="exists; pass --overwrite"):
        check_output_path(tmp_path / "other.mkv", source, overwrite=False)
    with pytest.raises(OutputError, match=r"in\.mkv is a file, not a folder"):
        check_output_path(tmp_path / "other.mkv", source / "sub" / "out.mkv", overwrite=False)
    check_output_path(source, tmp_path / "nope" / "out.mkv", overwrite=False)  # missing folders are made when writing
    check_output_path(source, tmp_path / "out.mkv", overwrite=False)


def test_file_result_rate(tmp_path):
    assert FileResult(tmp_path / "a", tmp_path / "b", "done", frames=10, seconds=2.0).fps == 5.0
    assert FileResult(tmp_path / "a", tmp_path / "b", "skipped").fps == 0.0


def test_a_failed_image_write_leaves_the_old_output_alone(tmp_path, monkeypatch):
    from media_factory import NearestEngine
    from repsr_video import images
    from repsr_video.images import Picture, upscale_image, write_image

    src = tmp_path / "in.png"
    write_image(src, Picture(np.zeros((4, 5, 3), np.uint8), None, False), "PNG")
    out = tmp_path / "out.png"
    out.write_bytes(b"previous")

    def broken(path, picture, kind):
        path.write_bytes(b"half an image")
        raise OSError("disk full (test)")

    monkeypatch.setattr(images, "write_image", broken)
    with pytest.raises(OutputError, match=r"out\.png: cannot be written \(disk full"):
        upscale_image(src, out, NearestEngine(2, 1), overwrite=True)
    assert out.read_bytes() == b"previous" and sorted(os.listdir(tmp_path)) == ["in.png", "out.png"]
