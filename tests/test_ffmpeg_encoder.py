"""`--encoder ffmpeg`: the streams the ffmpeg process copies from the input keep the input's packet times."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from media_factory import NearestEngine, ffmpeg_exe
from repsr_video.output_plan import EncodeSettings
from repsr_video.pipeline import upscale_video

FFMPEG = ffmpeg_exe()
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs an ffmpeg binary")


def audio_packets(path: Path) -> list[tuple[Fraction, bytes]]:
    """(time in seconds, payload) of every packet of the first audio stream, in file order."""
    with av.open(str(path)) as inp:
        stream = inp.streams.audio[0]
        return [(p.pts * p.time_base, bytes(p)) for p in inp.demux(stream) if p.size]


def avi_with_shared_audio_times(folder: Path) -> Path:
    """An AVI whose AAC packets come several to one timestamp.

    ffmpeg's AVI muxer stores AAC with a block align; a stream copy of that AVI writes it as the
    stream's sample size, and the demuxer then derives each packet's time from the bytes before it,
    so four or five packets share one time (an AVI cut with `ffmpeg -c copy` looks like this).
    """
    first, copied = folder / "encoded.avi", folder / "in.avi"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=1",
                    "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=1",
                    "-c:v", "mpeg4", "-c:a", "aac", "-shortest", str(first)], check=True)
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(first), "-c", "copy", str(copied)], check=True)
    return copied


def test_copied_audio_packets_that_share_a_time_keep_it(tmp_path):
    src = avi_with_shared_audio_times(tmp_path)
    given = audio_packets(src)
    times = [t for t, _ in given]
    assert len(set(times)) < len(times) and max(times) > Fraction(1, 10)  # the case itself: shared, coarse times
    outputs = {}
    for kind in ("pyav", "ffmpeg"):
        outputs[kind] = tmp_path / f"{kind}.mkv"
        upscale_video(src, outputs[kind], NearestEngine(2, 2), encode=EncodeSettings(encoder=kind, preset="ultrafast"))
    # Matroska's clock is the millisecond: the input's times rounded to it, the bytes unchanged.
    expected = [Fraction(round(t * 1000), 1000) for t in times]
    for kind, out in outputs.items():
        written = audio_packets(out)
        assert [t for t, _ in written] == expected, kind
        assert [data for _, data in written] == [data for _, data in given], kind
