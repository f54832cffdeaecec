"""Foreign architectures through spandrel: import as "spandrel:<id>" presets, the same output as
spandrel's own descriptor, tiling, and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interop_helpers import max_level_diff, photo, random_esrgan, random_span, spandrel_or_skip, tame, to_float, to_uint8
from repsr_video.backends import compiled
from repsr_video.engine import EngineSettings, create_engine_for_network
from repsr_video.errors import EngineError, InputError, PresetError
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


# --- the engine ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tamed_span(tmp_path_factory):
    root = tmp_path_factory.mktemp("span")
    model = tame(random_span(2, seed=3))
    torch.save(model.state_dict(), root / "span.pth")
    return model, import_model(root / "span.pth", name="span", out_dir=root / "presets")


@pytest.mark.parametrize(("backend", "precision", "limit"), [
    ("eager", "fp32", 1), ("eager", "bf16", 4), ("eager", "fp16", 2), ("compile", "fp32", 1), ("compile", "bf16", 4),
])
def test_engine_runs_a_foreign_preset(tamed_span, monkeypatch, backend, precision, limit):
    """The whole net in the engine's precision, eager or compiled, against spandrel's fp32 forward."""
    if backend == "compile":
        problem = compiled.compiler_problem(torch.device("cpu"))
        if problem:
            pytest.skip(f"no C++ compiler for torch.compile: {problem}")
        monkeypatch.setattr(compiled, "COMPILE_AFTER_FRAMES", 0)  # compile at the first call
    model, preset = tamed_span
    frames = np.concatenate([photo(40, 56), photo(40, 56, "coffee")])
    with torch.no_grad():
        reference = to_uint8(model(to_float(frames)))
    engine = create_engine_for_network(preset.build_network(), EngineSettings(device="cpu", backend=backend), precision=precision)
    outputs = [engine.upscale(frames) for _ in range(2)]
    assert engine.backend == backend and engine.precision == precision, engine.notes
    if backend == "compile":
        assert engine._runner._ready, "nothing was compiled"
    assert all(max_level_diff(out, reference) <= limit for out in outputs)


def test_engine_refuses_tensorrt_and_unsupported_precisions(tamed_span):
    _, preset = tamed_span
    with pytest.raises(EngineError, match="'tensorrt' runs RepSR presets only, not SPAN"):
        create_engine_for_network(preset.build_network(), EngineSettings(device="cpu", backend="tensorrt"))
    net = preset.build_network()
    net.precisions = ("fp32",)  # as for an architecture spandrel marks without half-precision support
    assert create_engine_for_network(net, EngineSettings(device="cpu", backend="eager")).precision == "fp32"
    with pytest.raises(EngineError, match="SPAN does not run in bf16"):
        create_engine_for_network(net, EngineSettings(device="cpu", backend="eager"), precision="bf16")


def test_cli_upscales_an_image_with_a_foreign_preset(tamed_span, tmp_path, monkeypatch):
    from PIL import Image

    from repsr_video.cli import main

    model, preset = tamed_span
    monkeypatch.setenv("REPSR_VIDEO_PRESETS", str(preset.path.parent))
    frames = photo(36, 44, "chelsea")
    Image.fromarray(frames[0]).save(tmp_path / "in.png")
    assert main([str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--preset", "span", "--device", "cpu", "--quiet"]) == 0
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    with torch.no_grad():
        reference = to_uint8(model(to_float(frames)))[0]
    assert max_level_diff(out, reference) <= 4  # the default precision: bf16 on CPUs with bf16 instructions
