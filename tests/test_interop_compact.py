"""Compact (SRVGGNetCompact) import: exact against spandrel's own class, every container, refusals."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from interop_helpers import max_level_diff, photo, random_compact, spandrel_or_skip, to_float, to_uint8
from repsr_video.engine import EngineSettings, create_engine_for_network
from repsr_video.errors import InputError, PresetError
from repsr_video.interop.importer import import_model
from repsr_video.network import SRNet
from repsr_video.preset import load_preset, read_preset


def save(net, path: Path, container: str) -> Path:
    state = net.state_dict()
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    elif container == "bare":
        torch.save(state, path)
    elif container == "both":  # Real-ESRGAN's training checkpoints hold both; the EMA weights win
        torch.save({"params": {k: torch.zeros_like(v) for k, v in state.items()}, "params_ema": state}, path)
    else:
        torch.save({container: state}, path)
    return path


@pytest.mark.parametrize(("scale", "container", "suffix"), [
    (2, "params_ema", ".pth"), (2, "params", ".pth"), (3, "bare", ".pth"), (4, "both", ".pth"), (4, "bare", ".safetensors"),
])
def test_import_matches_spandrel_exactly(tmp_path, scale, container, suffix):
    compact = random_compact(scale, seed=scale)
    model = save(compact, tmp_path / f"model{suffix}", container)
    preset = import_model(model, name="imported", out_dir=tmp_path / "presets")
    net = preset.build_network()
    assert type(net) is SRNet and (net.scale, net.blocks, net.channels) == (scale, 3, 16)
    x = torch.rand(2, 3, 19, 27)
    with torch.no_grad():
        ours, theirs = net(x), compact(x)
    assert (ours - theirs).abs().max().item() <= 1e-6  # the same ops in the same order: equal in practice
    # spandrel's own loader reads the same file into the same function
    descriptor = spandrel_or_skip().ModelLoader().load_from_file(model)
    assert descriptor.architecture.id == "Compact"
    with torch.no_grad():
        assert (descriptor.model.eval()(x) - ours).abs().max().item() <= 1e-6


def test_preset_records_its_source(tmp_path):
    model = save(random_compact(2), tmp_path / "realesr-like.pth", "params")
    preset = import_model(model, name="anime-compact", scale=2, description="from a test", out_dir=tmp_path)
    assert preset.source["file"] == "realesr-like.pth"
    assert preset.source["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert preset.source["container"] == "params"
    assert preset.architecture == "repsr" and preset.size == "M3C16" and preset.description == "from a test"
    assert read_preset(preset.path) == preset


def test_engine_fp32_reproduces_compact_on_a_photo(tmp_path):
    compact = random_compact(2)
    preset = import_model(save(compact, tmp_path / "m.pth", "params"), name="m", out_dir=tmp_path)
    frames = photo(96, 128)
    engine = create_engine_for_network(preset.build_network(), EngineSettings(device="cpu", backend="eager"), precision="fp32")
    with torch.no_grad():
        reference = to_uint8(compact(to_float(frames)))
    assert max_level_diff(engine.upscale(frames), reference) <= 1  # only values that round the other way


def test_relu_variant_is_refused(tmp_path):
    model = save(random_compact(2, act_type="relu"), tmp_path / "relu.pth", "params")
    with pytest.raises(InputError, match=r"relu\.pth: Compact layout without PReLU weights"):
        import_model(model, name="relu", out_dir=tmp_path / "presets")
    assert not (tmp_path / "presets").exists() or not any((tmp_path / "presets").iterdir())


def test_wrong_scale_is_refused(tmp_path):
    model = save(random_compact(2), tmp_path / "x2.pth", "params")
    with pytest.raises(InputError, match=r"x2\.pth: the weights upscale x2, not x4"):
        import_model(model, name="x2", scale=4, out_dir=tmp_path)


class _Marker:
    """Unpickling this would create a file: proof that code from the model file ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_pickle_that_needs_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    model = tmp_path / "evil.pth"
    torch.save({"params": random_compact(2).state_dict(), "extra": _Marker(marker)}, model)
    with pytest.raises(InputError, match=r"evil\.pth: refused: loading it would run code"):
        import_model(model, name="evil", out_dir=tmp_path)
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # the same file through plain pickle would run it
        torch.load(model, weights_only=True)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("model.onnx", b"x", r"model\.onnx: not a model file this reads"),
    ("broken.pth", b"not a zip", r"broken\.pth: not a readable PyTorch weights file"),
    ("broken.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}", r"broken\.safetensors: not a valid safetensors file"),
])
def test_unreadable_files_give_one_line_errors(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        import_model(tmp_path / name, name="x", out_dir=tmp_path / "presets")
    assert "\n" not in str(caught.value)


def test_name_rules(tmp_path):
    model = save(random_compact(2), tmp_path / "m.pth", "params")
    with pytest.raises(PresetError, match="taken by a shipped preset"):
        import_model(model, name="general-x2-fast", out_dir=tmp_path)
    with pytest.raises(PresetError, match="may hold only"):
        import_model(model, name="../evil", out_dir=tmp_path)
    import_model(model, name="mine", out_dir=tmp_path)
    with pytest.raises(PresetError, match=r"mine\.toml: a preset of this name exists; pass --overwrite"):
        import_model(model, name="mine", out_dir=tmp_path)
    assert import_model(model, name="mine", out_dir=tmp_path, overwrite=True).name == "mine"


def test_cli_import_then_upscale_an_image(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from repsr_video.cli import main

    compact = random_compact(2)
    model = save(compact, tmp_path / "community.pth", "params_ema")
    assert main(["import", str(model), "--name", "community-x2"]) == 0  # into $REPSR_VIDEO_PRESETS (conftest)
    assert "imported" in capsys.readouterr().err
    assert load_preset("community-x2").source["file"] == "community.pth"
    frames = photo(48, 64, "chelsea")
    Image.fromarray(frames[0]).save(tmp_path / "in.png")
    argv = [str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--preset", "community-x2", "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))
    with torch.no_grad():
        reference = to_uint8(compact(to_float(frames)))[0]
    # the CLI runs the default precision (bf16 residual on CPUs with bf16 instructions): a few levels
    assert max_level_diff(out, reference) <= 4


def test_cli_import_error_is_one_line(tmp_path, capsys):
    from repsr_video.cli import main

    (tmp_path / "bad.pth").write_bytes(b"nope")
    assert main(["import", str(tmp_path / "bad.pth"), "--name", "bad"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "bad.pth" in err and "\n" not in err
