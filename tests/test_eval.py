"""`repsr-video eval`: per-image and mean PSNR/SSIM-Y of bicubic and a preset, gain, and the compare PNG."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio

from repsr_video.cli import main
from repsr_video.network import SRNet
from repsr_video.preset import load_preset
from repsr_video.train.data import bicubic_upscale, downscale
from repsr_video.train.evaluate import evaluate_pictures, load_eval_pictures
from repsr_video.train.metrics import rgb_to_y, shave
from repsr_video.train.preset import write_preset


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "hr"
    folder.mkdir()
    Image.fromarray(skdata.astronaut()[:120, :150]).save(folder / "astronaut.png")
    Image.fromarray(skdata.coffee()[:101, :133]).save(folder / "coffee.png")  # odd size: cropped to x2
    return folder


@pytest.fixture
def identity_preset(tmp_path):
    """A x2 net whose residual is exactly zero: it is nearest-neighbour upscaling, a known quantity."""
    net = SRNet(2, 1, 4)
    with torch.no_grad():
        net.tail.weight.zero_()
        net.tail.bias.zero_()
    return load_preset(write_preset(net, tmp_path / "p", name="nearest-x2", description="nearest"))


def _expected_psnrs(hr, lr):
    """scikit-image's PSNR-Y (2 pixels shaved) of nearest and of bicubic x2 upscaling of `lr` against `hr`."""
    nearest = lr.repeat(2, axis=0).repeat(2, axis=1)
    reference = shave(rgb_to_y(hr), 2)
    return tuple(peak_signal_noise_ratio(reference, shave(rgb_to_y(up), 2), data_range=255)
                 for up in (nearest, bicubic_upscale(lr, 2)))


def test_eval_json_scores_agree_with_an_independent_computation(images, identity_preset, capsys):
    assert main(["eval", "--preset", str(identity_preset.path), str(images), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p.split("/")[-1] for p in (i["name"] for i in report["images"])] == ["astronaut.png", "coffee.png"]
    for item in report["images"]:
        hr = np.asarray(Image.open(item["name"]).convert("RGB"))
        hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
        lr = downscale(hr, 2)
        expected_preset, expected_bicubic = _expected_psnrs(hr, lr)
        assert item["psnr"] == pytest.approx(expected_preset, abs=0.01)
        assert item["bicubic_psnr"] == pytest.approx(expected_bicubic, abs=0.01)
        assert item["gain"] == pytest.approx(item["psnr"] - item["bicubic_psnr"])
        assert item["gain"] < 0  # nearest is worse than bicubic on photos
    mean = report["mean"]
    assert mean["gain"] == pytest.approx(np.mean([i["gain"] for i in report["images"]]))
    assert mean["worst_gain"] == pytest.approx(min(i["gain"] for i in report["images"]))


def test_eval_table_and_compare_png(images, identity_preset, tmp_path, capsys):
    out = tmp_path / "cmp" / "side.png"
    assert main(["eval", "--preset", str(identity_preset.path), str(images / "astronaut.png"), "--compare", str(out)]) == 0
    captured = capsys.readouterr()
    assert "astronaut.png" in captured.out and "mean" in captured.out
    picture = np.asarray(Image.open(out).convert("RGB"))
    assert picture.shape[1] > 2.5 * picture.shape[0] * 0.8  # three panels side by side
    third = (picture.shape[1] + 4) // 3
    left, middle = picture[30:, 5 : third - 10], picture[30:, third + 5 : 2 * third - 10]
    assert not np.array_equal(left, middle)  # bicubic and the preset really differ


def test_a_better_net_scores_higher_than_a_worse_one(images):
    pictures = load_eval_pictures([images], 2)
    nearest = SRNet(2, 1, 4)
    with torch.no_grad():
        nearest.tail.weight.zero_()
        nearest.tail.bias.zero_()
    noisy = SRNet(2, 1, 4)
    good = evaluate_pictures(nearest, pictures, 2)
    bad = evaluate_pictures(noisy, pictures, 2)
    assert good.mean_psnr > bad.mean_psnr


def test_eval_errors(tmp_path, identity_preset, capsys):
    assert main(["eval", "--preset", str(tmp_path / "missing.toml"), str(tmp_path)]) == 1
    assert "missing.toml" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["eval", "--preset", str(identity_preset.path), str(empty)]) == 1
    assert str(empty) in capsys.readouterr().err
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tiny)
    assert main(["eval", "--preset", str(identity_preset.path), str(tiny)]) == 1
    assert "too small" in capsys.readouterr().err
    assert main(["eval", "--preset", str(identity_preset.path), str(tiny.parent / "hr.txt")]) == 1


def test_eval_on_compressed_input_matches_an_independent_computation(images, identity_preset, capsys):
    """--degrade video: both bicubic and the preset upscale the same H.264-compressed LR input."""
    from repsr_video.train.degrade import codec_round_trip

    assert main(["eval", "--preset", str(identity_preset.path), str(images), "--json", "--degrade", "video"]) == 0
    report = json.loads(capsys.readouterr().out)
    for item in report["images"]:
        hr = np.asarray(Image.open(item["name"]).convert("RGB"))
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]  # even LR size for 4:2:0
        lr = codec_round_trip(downscale(hr, 2), "libx264", "h264", 28)
        assert not np.array_equal(lr, downscale(hr, 2))  # the input really is compressed
        expected, expected_bicubic = _expected_psnrs(hr, lr)
        assert item["psnr"] == pytest.approx(expected, abs=0.01)
        assert item["bicubic_psnr"] == pytest.approx(expected_bicubic, abs=0.01)
