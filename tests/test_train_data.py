"""Training data: finding and decoding media, hold-out, HR/LR patch batches, augmentation, degradations."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

from repsr_video.errors import InputError
from repsr_video.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from repsr_video.train.data import (
    DataSummary,
    downscale,
    find_media,
    load_pictures,
    make_picture,
    sample_video_frames,
    split_validation,
)
from repsr_video.train.degrade import codec_round_trip, degrade_video_batch
from repsr_video.train.patches import PatchBatches, batch_loader, flip, oriented
from train_images import textured_image, write_images


def make_clip(path, frames=30, width=96, height=80):
    """Frame i is a flat grey of level 8*i (plus texture), so a decoded frame tells its index."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "10", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 25)
        for i in range(frames):
            img = np.full((height, width, 3), 8 * i + 10, np.uint8)
            img[:8, :8] = 255
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_video_frames_are_spread_over_the_clip(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=30)
    frames = sample_video_frames(clip, 4)
    levels = [int(np.median(f[20:, 20:, 1])) for f in frames]
    indices = [round((level - 10) / 8) for level in levels]
    assert indices == [0, 10, 19, 29]
    assert all(f.shape == (80, 96, 3) and f.dtype == np.uint8 for f in frames)


def test_folder_of_images_and_clips(tmp_path):
    folder = write_images(tmp_path / "media", count=3)
    make_clip(folder / "sub" / "clip.mkv" if (folder / "sub").mkdir() is None else None, frames=12)
    (folder / "readme.txt").write_text("not media")
    (folder / "broken.png").write_bytes(b"not a png at all")
    summary = DataSummary()
    pictures = load_pictures([folder], scale=2, min_size=32, frames_per_clip=5, summary=summary)
    assert (summary.images, summary.clips, summary.frames) == (3, 1, 5)
    assert len(pictures) == 8
    assert len(summary.skipped) == 1 and "broken.png" in summary.skipped[0]
    for p in pictures:
        assert p.hr.shape[0] % 2 == 0 and p.hr.shape[1] % 2 == 0
        assert p.lr.shape == (p.hr.shape[0] // 2, p.hr.shape[1] // 2, 3)
        # LR is PIL's antialiased bicubic downscale of the HR picture
        assert np.array_equal(p.lr, np.asarray(Image.fromarray(p.hr).resize(p.lr.shape[1::-1], Image.BICUBIC)))


def test_training_finds_every_suffix_the_upscaler_reads(tmp_path):
    """.ogg and .3gp clips (and upper-case names) count as media in a training folder, as they do for upscaling."""
    names = sorted(f"a{s}" for s in IMAGE_SUFFIXES | VIDEO_SUFFIXES) + ["clip.OGG", "phone.3gp", "notes.txt", "x.srt"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    found = [p.name for p in find_media([tmp_path])]
    assert found == sorted(n for n in names if n not in ("notes.txt", "x.srt"))
    assert "a.ogg" in found and "phone.3gp" in found


def test_unusable_inputs_are_one_line_errors_naming_the_path(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="empty: folder holds no image or video"):
        load_pictures([empty], scale=2, min_size=32)
    broken = tmp_path / "only"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"garbage")
    with pytest.raises(InputError, match="only: folder holds no usable image or clip"):
        load_pictures([broken], scale=2, min_size=32)
    with pytest.raises(InputError, match="a.jpg: cannot read image"):
        load_pictures([broken / "a.jpg"], scale=2, min_size=32)
    small = tmp_path / "small"
    write_images(small, count=1, height=20, width=20)
    with pytest.raises(InputError, match="small: folder holds no usable image or clip \\(need at least 32x32"):
        load_pictures([small], scale=2, min_size=32)
    with pytest.raises(InputError, match="missing: no such file"):
        load_pictures([tmp_path / "missing"], scale=2, min_size=32)
    for error in (InputError,):
        try:
            load_pictures([empty], scale=2, min_size=32)
        except error as e:
            assert "\n" not in str(e)


def test_prescale_downscales_before_use(tmp_path):
    folder = write_images(tmp_path / "p", count=1, height=96, width=112)
    [picture] = load_pictures([folder], scale=2, min_size=32, prescale=2.0)
    assert picture.hr.shape == (48, 56, 3)
    assert np.array_equal(picture.hr, downscale(textured_image(0, 96, 112), 2.0))


def test_hold_out_whole_sources_stably(tmp_path):
    folder = write_images(tmp_path / "h", count=10)
    pictures = load_pictures([folder], scale=2, min_size=32)
    train, val = split_validation(pictures)
    assert len(val) == 1 and len(train) == 9
    assert not {p.source for p in train} & {p.source for p in val}
    assert split_validation(pictures)[1][0].source == val[0].source  # the same choice every run
    single = load_pictures([folder / "photo0.png"], scale=2, min_size=32)
    train, val = split_validation(single, min_size=16)
    assert train[0].hr.shape[0] + val[0].hr.shape[0] == single[0].hr.shape[0]


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_orientation_keeps_lr_exactly_the_downscale_of_hr(scale):
    picture = make_picture("p", "p", textured_image(3, 48, 60), scale)
    for code in range(8):
        lr, hr = flip(*oriented(picture, transpose=bool(code & 4)), code)
        assert np.array_equal(downscale(np.ascontiguousarray(hr), scale), lr), code


def test_patch_batches_shapes_determinism_and_loader(tmp_path):
    pictures = load_pictures([write_images(tmp_path / "d", count=3)], scale=3, min_size=36)
    dataset = PatchBatches(pictures, scale=3, patch=36, batch_size=5, seed=4, length=10)
    lr, hr = dataset[2]
    assert lr.shape == (5, 3, 12, 12) and hr.shape == (5, 3, 36, 36)
    assert lr.dtype == hr.dtype == torch.uint8
    again_lr, again_hr = dataset[2]
    assert torch.equal(lr, again_lr) and torch.equal(hr, again_hr)
    assert not torch.equal(dataset[3][1], hr)
    # every LR patch is the bicubic downscale of its HR patch (away from the patch border)
    for i in range(5):
        patch_hr = hr[i].permute(1, 2, 0).numpy()
        patch_lr = lr[i].permute(1, 2, 0).numpy()
        inner = np.abs(downscale(patch_hr, 3).astype(int) - patch_lr)[2:-2, 2:-2]
        assert inner.max() <= 3  # only 8-bit rounding between the two resize passes differs
    # workers, and starting in the middle, give the same batches as the dataset itself
    loaded = list(batch_loader(dataset, start=6, stop=10, workers=2))
    assert len(loaded) == 4
    for offset, (lr, hr) in enumerate(loaded):
        assert torch.equal(lr, dataset[6 + offset][0]) and torch.equal(hr, dataset[6 + offset][1])
    # two DDP ranks take interleaved global batches
    rank1 = list(batch_loader(dataset, start=1, stop=3, rank=1, world=2))
    assert torch.equal(rank1[0][1], dataset[3][1]) and torch.equal(rank1[1][1], dataset[5][1])


def test_video_degradation_compresses_the_lr_patches(tmp_path):
    patches = [textured_image(i, 24, 24) for i in range(6)]
    rng = np.random.default_rng(0)
    out = degrade_video_batch(patches, rng)
    assert [p.shape for p in out] == [(24, 24, 3)] * 6
    differences = [np.abs(a.astype(int) - b).mean() for a, b in zip(out, patches, strict=True)]
    assert all(0 < d < 40 for d in differences)
    hevc = codec_round_trip(textured_image(9, 32, 48), "libx265", "hevc", 30)
    assert hevc.shape == (32, 48, 3)
    pictures = load_pictures([write_images(tmp_path / "v", count=2)], scale=2, min_size=32)
    clean = PatchBatches(pictures, scale=2, patch=32, batch_size=4, seed=1, length=2)
    video = PatchBatches(pictures, scale=2, patch=32, batch_size=4, seed=1, length=2, degrade="video")
    assert torch.equal(clean[0][1], video[0][1])  # the same HR targets
    assert not torch.equal(clean[0][0], video[0][0])  # degraded inputs
    assert torch.equal(video[0][0], video[0][0])  # still a function of (seed, index)
