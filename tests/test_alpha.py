"""Alpha: carried (upscaled, bicubic) where the output codec can hold it, dropped with a note otherwise."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media_factory import NearestEngine
from repsr_video import decoder as decoder_module
from repsr_video.alpha import alpha_pix_fmt, has_alpha, upscale_alpha
from repsr_video.decoder import VideoDecoder, video_codec_context
from repsr_video.jobs.runner import JobSettings
from repsr_video.output_plan import EncodeSettings
from repsr_video.pipeline import upscale_video

W, H, N = 32, 24, 12
ALPHA_TOLERANCE = 2  # 8-bit levels; yuva carries alpha losslessly, the rest is rgba<->yuva rounding


def _rgba(i: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([(x * 8 + i * 5) % 256, (y * 10) % 256, np.full_like(x, 40 + i * 9)], axis=-1)
    alpha = np.zeros((H, W), np.int64)
    alpha[4:16, i:i + 12] = 255  # an opaque square moving right over a transparent background
    alpha[18:, :] = x[18:, :] * 8  # and a soft ramp
    return np.dstack([rgb, alpha]).astype(np.uint8)


def _write_alpha_clip(path: Path, codec: str, options: dict[str, str] | None = None) -> Path:
    """N yuva420p frames of `_rgba` at 25 fps, encoded with `codec`."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25, options=options or {})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuva420p"
        stream.codec_context.time_base = Fraction(1, 25)
        for i in range(N):
            frame = av.VideoFrame.from_ndarray(_rgba(i), format="rgba").reformat(format="yuva420p")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return _write_alpha_clip(tmp_path_factory.mktemp("alpha") / "in.mkv", "ffv1")


def _decode(path: Path) -> tuple[str, list[int], np.ndarray]:
    with av.open(str(path)) as inp:
        frames = list(inp.decode(video=0))
        return frames[0].format.name, [f.pts for f in frames], np.stack([f.to_ndarray(format="rgba") for f in frames])


@pytest.mark.parametrize("segment_seconds", [0.2, 1000.0])
def test_alpha_is_upscaled_and_kept_in_ffv1(clip, tmp_path, segment_seconds):
    out = tmp_path / "out.mkv"
    result = upscale_video(clip, out, NearestEngine(), encode=EncodeSettings(codec="ffv1"),
                           job=JobSettings(segment_seconds=segment_seconds))
    assert [n for n in result.warnings if "alpha" in n] == [
        "alpha kept: written as yuva420p, upscaled with bicubic interpolation (the network sees RGB only)"]
    fmt, pts, got = _decode(out)
    src_fmt, src_pts, src = _decode(clip)
    assert fmt == "yuva420p" and pts == src_pts and got.shape == (N, H * 2, W * 2, 4)
    expected = upscale_alpha(src[..., 3], 2)
    assert int(np.abs(got[..., 3].astype(int) - expected).max()) <= ALPHA_TOLERANCE
    # RGB: what the opaque path writes for the same frames (ffv1 is lossless, so both compare exactly)
    opaque = tmp_path / "opaque.mkv"
    upscale_video(clip, opaque, NearestEngine(), encode=EncodeSettings(codec="ffv1", pix_fmt="yuv420p"),
                  job=JobSettings(segment_seconds=segment_seconds))
    _, _, ref = _decode(opaque)
    assert np.array_equal(got[..., :3], ref[..., :3])  # carrying alpha leaves the colour bit-identical


def test_alpha_dropped_with_a_note(clip, tmp_path):
    out = tmp_path / "out.mkv"
    result = upscale_video(clip, out, NearestEngine())
    assert any("alpha dropped (yuva420p input): libx264 cannot carry it; use --codec ffv1" in n for n in result.warnings)
    fmt, pts, _ = _decode(out)
    assert fmt == "yuv420p" and len(pts) == N


def test_vp9_keeps_alpha_in_one_pass(clip, tmp_path):
    """VP9 keeps alpha as side data that the NUT segment files drop: such a video is written in one pass."""
    out = tmp_path / "out.webm"
    result = upscale_video(clip, out, NearestEngine(), encode=EncodeSettings(codec="libvpx-vp9"),
                           job=JobSettings(segment_seconds=0.2))
    assert any(n.startswith("alpha kept: written as yuva420p") for n in result.warnings), result.warnings
    with av.open(str(out)) as inp:
        stream = inp.streams.video[0]
        assert stream.metadata.get("alpha_mode") == "1"
        decoder = av.CodecContext.create("libvpx-vp9", "r")  # FFmpeg's own VP9 decoder ignores the alpha
        frames = [f for packet in inp.demux(stream) for f in decoder.decode(packet)]
    assert len(frames) == N and frames[0].format.name == "yuva420p"
    got = np.stack([f.to_ndarray(format="rgba")[..., 3] for f in frames]).astype(int)
    expected = upscale_alpha(_decode(clip)[2][..., 3], 2)
    assert np.abs(got - expected).mean() < 4  # lossy VP9 at its default CRF; a dropped alpha would be 255


def test_decoder_reads_alpha_only_when_asked(clip):
    with VideoDecoder(clip) as decoder:
        assert all(b.alpha is None for b in decoder.batches(5) if hasattr(b, "alpha"))
    with VideoDecoder(clip) as decoder:
        decoder.keep_alpha = True
        batches = [b for b in decoder.batches(5) if hasattr(b, "alpha")]
    assert [b.alpha.shape for b in batches] == [(5, H, W), (5, H, W), (2, H, W)]
    assert batches[0].alpha[0, 8, 2] == 255 and batches[0].alpha[0, 2, 2] == 0


def test_upscale_alpha_is_clamped_bicubic():
    edge = np.zeros((1, 8, 8), np.uint8)
    edge[:, :, 4:] = 255  # bicubic overshoots a hard edge: clamped to the range
    big = upscale_alpha(edge, 2)
    assert big.shape == (1, 16, 16) and big.dtype == np.uint8 and big.min() == 0 and big.max() == 255
    assert 0 < big[0, 0, 8] < 255  # the edge is interpolated, not copied
    deep = upscale_alpha(edge.astype(np.uint16) * 257, 3)
    assert deep.dtype == np.uint16 and deep.shape == (1, 24, 24) and deep.max() == 65535


def test_alpha_formats_per_codec():
    assert alpha_pix_fmt("yuv420p", ["yuv420p", "yuva420p", "yuva444p"]) == "yuva420p"
    assert alpha_pix_fmt("yuv422p10le", ["yuv422p10le", "yuva444p10le"]) == "yuva444p10le"
    assert alpha_pix_fmt("rgb24", ["rgb24", "argb"]) == "argb"
    assert alpha_pix_fmt("yuv420p", ["yuv420p", "nv12"]) is None


@pytest.mark.parametrize(
    "codec, stored, tolerance", [("prores_ks", "yuva444p12le", 1.0), ("qtrle", "argb", 0.0), ("png", "rgba", 0.0)]
)
def test_alpha_kept_in_mov_codecs(clip, tmp_path, codec, stored, tolerance):
    """ProRes 4444 and QTRLE run in one pass (NUT cannot hold them); PNG goes through segments."""
    out = tmp_path / "out.mov"
    result = upscale_video(clip, out, NearestEngine(), encode=EncodeSettings(codec=codec))
    assert any(n.startswith("alpha kept") for n in result.warnings), result.warnings
    fmt, pts, got = _decode(out)
    assert fmt == stored and len(pts) == N  # .mov has its own time base; timing is checked in test_pipeline
    expected = upscale_alpha(_decode(clip)[2][..., 3], 2)
    assert np.abs(got[..., 3].astype(int) - expected).mean() <= tolerance


# --- VP8/VP9 alpha input: a second bitstream in Matroska BlockAdditional side data (alpha_mode=1) ---------

LIBVPX = {"libvpx-vp9": "libvpx-vp9", "libvpx": "libvpx"}  # encoder -> FFmpeg's decoder that reads the alpha


def _vpx_clip(path: Path, codec: str) -> Path:
    """A WebM with alpha as FFmpeg writes it: a keyframe every 4 frames, so segmented runs cut it."""
    # libvpx refuses VP8 alpha with alt-ref frames; set for both so the clips differ in codec only
    return _write_alpha_clip(path, codec, {"g": "4", "auto-alt-ref": "0"})


def _libvpx_decode(path: Path, decoder: str) -> tuple[str, list[int], np.ndarray]:
    """Format, pts and alpha planes as FFmpeg's libvpx decoder reads them (independent of the code under test)."""
    with av.open(str(path)) as inp:
        stream = inp.streams.video[0]
        codec = av.CodecContext.create(decoder, "r")
        frames = [f for packet in inp.demux(stream) if packet.size for f in codec.decode(packet)]
    return frames[0].format.name, [f.pts for f in frames], np.stack([f.to_ndarray(format="rgba")[..., 3] for f in frames])


@pytest.fixture(scope="module", params=["libvpx-vp9", "libvpx"])
def vpx_clip(request, tmp_path_factory) -> tuple[Path, str]:
    path = _vpx_clip(tmp_path_factory.mktemp("vpx") / f"{request.param}.webm", request.param)
    with av.open(str(path)) as inp:
        assert inp.streams.video[0].metadata.get("alpha_mode") == "1"
    return path, LIBVPX[request.param]


# Measured on these clips (VP9 and VP8 in, bicubic of the alpha libvpx reads as reference): FFV1 mean 0.15-0.17,
# max 1; ProRes 4444 mean 0.18-0.20, max 1; VP9 out (lossy, default CRF) mean 0.51 (max 22); VP8 out mean 0.41 (max 11).
LOSSLESS_ALPHA = (0.5, ALPHA_TOLERANCE)  # (mean, max) in 8-bit levels
LOSSY_ALPHA_MEAN = 1.5  # an opaque output would be ~100 levels off: the clip is mostly transparent


@pytest.mark.parametrize("name, codec, segment_seconds", [
    ("out.mkv", "ffv1", 0.2),  # segmented: every segment decodes its alpha again from the source
    ("out.mkv", "ffv1", 1000.0),
    ("out.webm", None, 0.2),  # VP9 (webm's default) or VP8 out: one pass
    ("out.mov", "prores_ks", 0.2),
])
def test_vpx_alpha_input_keeps_alpha(vpx_clip, tmp_path, name, codec, segment_seconds):
    """FFmpeg's native VP8/VP9 decoders drop the side-data alpha; the decoder picks libvpx for such streams."""
    clip, libvpx = vpx_clip
    if codec is None:
        codec = "libvpx" if libvpx == "libvpx" else "libvpx-vp9"  # VP8 in, VP8 out: libvpx needs alt-ref off for alpha
    out = tmp_path / name
    result = upscale_video(clip, out, NearestEngine(), encode=EncodeSettings(codec=codec),
                           job=JobSettings(segment_seconds=segment_seconds))
    assert [n[:27] for n in result.warnings if "alpha" in n] == ["alpha kept: written as yuva"], result.warnings
    _, src_pts, src_alpha = _libvpx_decode(clip, libvpx)
    drawn = np.stack([_rgba(i)[..., 3] for i in range(N)])
    assert np.abs(src_alpha.astype(int) - drawn).mean() < 1  # the clip does carry the drawn alpha
    if name.endswith(".webm"):
        fmt, pts, got = _libvpx_decode(out, libvpx)
    else:
        fmt, pts, rgba = _decode(out)
        got = rgba[..., 3]
    assert has_alpha(fmt) and len(pts) == N, fmt
    if not name.endswith(".mov"):  # .mov has its own time base
        assert pts == src_pts
    diff = np.abs(got.astype(int) - upscale_alpha(src_alpha, 2))
    if codec in ("ffv1", "prores_ks"):
        assert diff.mean() <= LOSSLESS_ALPHA[0] and diff.max() <= LOSSLESS_ALPHA[1], (diff.mean(), diff.max())
    else:
        assert diff.mean() <= LOSSY_ALPHA_MEAN, diff.mean()
    if segment_seconds < 1 and codec == "ffv1":
        assert result.segments > 1


@pytest.mark.parametrize("name, settings", [("opaque.webm", {"pix_fmt": "yuv420p"}), ("opaque.mkv", {})])
def test_an_opaque_output_does_not_claim_alpha(vpx_clip, tmp_path, name, settings):
    """The input's alpha_mode tag is not copied where the output drops the alpha (libx264 in .mkv, yuv420p)."""
    clip, _ = vpx_clip
    out = tmp_path / name
    result = upscale_video(clip, out, NearestEngine(), encode=EncodeSettings(**settings))
    assert any("alpha" in n and "dropped" in n for n in result.warnings), result.warnings
    with av.open(str(out)) as container:
        tags = {k.lower() for k in container.streams.video[0].metadata}
    assert "alpha_mode" not in tags


def test_decoder_picks_libvpx_only_for_tagged_alpha(vpx_clip, tmp_path):
    clip, libvpx = vpx_clip
    with VideoDecoder(clip) as decoder:
        assert decoder.codec.name == libvpx and decoder.info.pix_fmt == "yuva420p" and decoder.info.notes == ()
    opaque = tmp_path / "opaque.webm"  # the same codec without alpha: FFmpeg's native decoder
    with av.open(str(opaque), "w") as out:
        stream = out.add_stream(libvpx, rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        out.mux(stream.encode(av.VideoFrame(W, H, "yuv420p")))
        out.mux(stream.encode(None))
    with av.open(str(opaque)) as inp:
        codec, note = video_codec_context(inp.streams.video[0])
        assert codec is inp.streams.video[0].codec_context and codec.name in ("vp8", "vp9") and note is None


def test_without_libvpx_the_alpha_is_read_as_opaque_with_one_note(vpx_clip, tmp_path, monkeypatch):
    clip, libvpx = vpx_clip
    monkeypatch.setattr(decoder_module, "_SIDE_DATA_ALPHA_DECODERS", {"vp8": "no-such-vp8", "vp9": "no-such-vp9"})
    out = tmp_path / "out.mkv"
    result = upscale_video(clip, out, NearestEngine(), encode=EncodeSettings(codec="ffv1"), job=JobSettings(segment_seconds=0.2))
    notes = [n for n in result.warnings if "alpha" in n]
    assert len(notes) == 1 and "has alpha (alpha_mode=1), but this FFmpeg build has no no-such-" in notes[0], notes
    assert result.segments > 1 and _decode(out)[0] == "yuv420p"
