"""Foreign architectures through spandrel: import as "spandrel:<id>" presets, the same output as
spandrel's own descriptor, tiling, and refusals."""

from __future__ import annotations

import json

import pytest
import torch

from interop_helpers import photo, random_esrgan, random_span, spandrel_or_skip, to_float
from repsr_video.errors import InputError, PresetError
from repsr_video.interop.foreign import ForeignNet, _tile_spans, load_descriptor
from repsr_video.interop.importer import import_model
from repsr_video.preset import load_preset, read_preset


@pytest.fixture
def span_preset(tmp_path):
    torch.save({"params": random_span(2).state_dict()}, tmp_path / "span.pth")
    return import_model(tmp_path / "span.pth", name="span-x2", out_dir=tmp_path / "presets")


@pytest.mark.parametrize(("make", "arch", "scale"), [
    (random_span, "SPAN", 2), (random_span, "SPAN", 4), (random_esrgan, "ESRGAN", 2),
])
def test_imported_net_equals_spandrel(tmp_path, make, arch, scale):
    model = make(scale)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "m.safetensors"))
    preset = import_model(tmp_path / "m.safetensors", name="foreign", out_dir=tmp_path / "presets")
    assert (preset.architecture, preset.scale, preset.size) == (f"spandrel:{arch}", scale, f"spandrel:{arch}")
    assert "blocks" not in preset.path.read_text()
    net = preset.build_network()
    assert isinstance(net, ForeignNet) and net.scale == scale
    x = to_float(photo(40, 52))
    descriptor = spandrel_or_skip().ModelLoader().load_from_file(tmp_path / "m.safetensors")
    with torch.no_grad():
        ours = net(x)
    assert ours.shape == (1, 3, 40 * scale, 52 * scale)
    assert (ours.clamp(0, 1) - descriptor(x)).abs().max().item() <= 1e-6


def test_tiles_cover_the_frame_once():
    for length, tile, margin in ((100, 64, 24), (513, 512, 16), (2000, 512, 32), (64, 64, 8)):
        spans = _tile_spans(length, tile, margin)
        kept = [i for _, lo, hi in spans for i in range(lo, hi)]
        assert kept == list(range(length))
        for start, lo, hi in spans:
            assert start + min(tile, length) <= length
            assert (lo - start >= margin or start == 0) and (start + tile - hi >= margin or hi == length)


def test_tiled_equals_whole_frame_within_the_receptive_field(span_preset):
    """SPAN's output pixel depends on inputs 21 pixels away: tiles with a 24-pixel margin match up
    to float rounding (convolution kernels differ by size), a 2-pixel margin visibly does not."""
    net = span_preset.build_network()
    x = to_float(photo(124, 124, "coffee"))  # 2 x 64 - 2 x 2: with margin 2 two tiles overlap by 4 pixels
    with torch.no_grad():
        whole = net(x)
        net.tile, net.margin = 64, 24
        tiled = net(x)
        net.margin = 2
        seams = net(x)
    assert (tiled - whole).abs().max().item() <= 1e-4
    assert (seams - whole).abs().max().item() > 1e-3


def test_presets_listing_shows_the_architecture(span_preset, monkeypatch, capsys):
    from repsr_video.cli import main

    monkeypatch.setenv("REPSR_VIDEO_PRESETS", str(span_preset.path.parent))
    assert main(["presets", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert listed["span-x2"]["architecture"] == "spandrel:SPAN" and listed["span-x2"]["size"] == "spandrel:SPAN"
    assert listed["general-x2-fast"]["architecture"] == "repsr"
    assert load_preset("span-x2").source["detected"].startswith("SPAN x2")


def test_preset_rules_for_foreign_architectures(span_preset):
    text = span_preset.path.read_text()
    span_preset.path.write_text(text.replace('architecture = "spandrel:SPAN"', 'architecture = "spandrel:SPAN"\nblocks = 4'))
    with pytest.raises(PresetError, match="blocks apply only to architecture 'repsr'"):
        read_preset(span_preset.path)
    span_preset.path.write_text(text.replace('architecture = "spandrel:SPAN"', 'architecture = "onnx:SPAN"'))
    with pytest.raises(PresetError, match="architecture 'onnx:SPAN' is neither"):
        read_preset(span_preset.path)
    span_preset.path.write_text(text.replace('"spandrel:SPAN"', '"spandrel:ESRGAN"'))
    with pytest.raises(PresetError, match=r"span-x2\.safetensors: the weights are SPAN x2, the preset says ESRGAN x2"):
        read_preset(span_preset.path).build_network()


def test_refusals(tmp_path):
    cases = [
        ({"conv.weight": torch.zeros(3, 3, 3, 3)}, "no architecture spandrel"),
        (random_span(2, channels=1).state_dict(), "takes 1 and gives 1 channels"),
        (random_span(1).state_dict(), "upscales x1"),
    ]
    for state, message in cases:
        torch.save(state, tmp_path / "m.pth")
        with pytest.raises(InputError, match=rf"m\.pth: .*{message}"):
            import_model(tmp_path / "m.pth", name="refused", out_dir=tmp_path / "presets")
    assert not list((tmp_path / "presets").glob("*")) if (tmp_path / "presets").exists() else True


def test_descriptor_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"weights\.bin: no architecture"):
        load_descriptor({"x.weight": torch.zeros(1)}, tmp_path / "weights.bin")


def test_precisions_follow_spandrel(span_preset):
    assert span_preset.build_network().precisions == ("fp32", "bf16", "fp16")
