"""describe_error: the one way a cause is worded in the package's one-line messages."""

from __future__ import annotations

import av
import av.error
import pytest

from repsr_video.errors import describe_error


def test_ffmpeg_and_os_errors_give_their_own_text_without_errno_or_path(tmp_path):
    with pytest.raises(av.error.FFmpegError) as ffmpeg:
        (tmp_path / "x.mkv").write_bytes(b"not a video at all" * 10)
        av.open(str(tmp_path / "x.mkv"))
    assert describe_error(ffmpeg.value) == "Invalid data found when processing input"
    with pytest.raises(OSError) as os_error:
        open(tmp_path / "missing")
    assert describe_error(os_error.value) == "No such file or directory"


def test_other_errors_give_their_text_or_their_type():
    assert describe_error(ValueError("bad value")) == "bad value"
    assert describe_error(OSError("no errno here")) == "no errno here"
    assert describe_error(RuntimeError()) == "RuntimeError"
