"""Export: a preset as ONNX (checked with onnxruntime on real photos) and as a Compact model that
spandrel loads as SRVGGNetCompact; import -> export round trips back to the original weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interop_helpers import max_level_diff, photo, random_compact, spandrel_or_skip, to_float, to_uint8
from repsr_video.errors import OutputError, PresetError
from repsr_video.interop import exporter
from repsr_video.interop.exporter import engine_upscale, export_preset
from repsr_video.interop.importer import import_model
from repsr_video.interop.model_files import read_model_file


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A random-weight Compact x2 from spandrel's class, imported as a preset."""
    root = tmp_path_factory.mktemp("compact")
    compact = random_compact(2, features=16, convs=4, seed=7)
    torch.save({"params_ema": compact.state_dict()}, root / "community.pth")
    return compact, import_model(root / "community.pth", name="community", out_dir=root / "presets")


@pytest.fixture(scope="module")
def onnx_files(imported, tmp_path_factory):
    pytest.importorskip("onnxscript", reason="the ONNX exporter needs onnxscript (interop extra)")
    pytest.importorskip("onnxruntime", reason="checking ONNX files needs onnxruntime (interop extra)")
    root = tmp_path_factory.mktemp("onnx")
    _, preset = imported
    fp32 = export_preset(preset, "onnx", root / "community.onnx")
    fp16 = export_preset(preset, "onnx", root / "community-fp16.onnx", fp16=True)
    return fp32, fp16


def test_onnx_graph_interface(onnx_files):
    import onnx

    for result, elem in zip(onnx_files, (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16), strict=True):
        model = onnx.load(str(result.files[0]))
        assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {17}
        (inp,), (out,) = model.graph.input, model.graph.output
        assert (inp.name, out.name) == ("input", "output")
        assert inp.type.tensor_type.elem_type == elem and out.type.tensor_type.elem_type == elem
        dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
        assert dims[1] == 3 and all(isinstance(d, str) and d for d in (dims[0], dims[2], dims[3]))  # N, H, W dynamic
        ops = {node.op_type for node in model.graph.node}
        assert "Clip" in ops  # clamped to [0, 1]
        assert not ops & {"Reshape", "Transpose"}  # VideoJaNai builds dynamic-shape engines only without these


@pytest.mark.parametrize("frames_shape", [(1, 96, 128, "astronaut"), (2, 61, 83, "coffee")])
def test_onnx_matches_engine_on_photos(imported, onnx_files, frames_shape):
    from repsr_video.interop.onnx_export import onnx_upscale

    batch, height, width, name = frames_shape
    frames = np.concatenate([photo(height, width, name)] * batch)
    compact, preset = imported
    ours = engine_upscale(preset.build_network(), frames)
    fp32, fp16 = (onnx_upscale(result.files[0], frames) for result in onnx_files)
    assert max_level_diff(fp32, ours) <= 1
    assert max_level_diff(fp16, ours) <= exporter.TOLERANCE["fp16"]
    with torch.no_grad():  # and the round trip ends where it began: the community model's own output
        assert max_level_diff(fp32, to_uint8(compact(to_float(frames)))) <= 1


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_compact_round_trip_gives_back_the_original_weights(imported, tmp_path, suffix):
    compact, preset = imported
    result = export_preset(preset, "compact", tmp_path / f"out{suffix}")
    assert result.max_diff <= 1 and result.files == (tmp_path / f"out{suffix}",)
    written = read_model_file(result.files[0])
    assert written.container == ("params" if suffix == ".pth" else "bare")
    original = compact.state_dict()
    assert written.state.keys() == original.keys()
    assert all(torch.equal(written.state[k], original[k]) for k in original)
    descriptor = spandrel_or_skip().ModelLoader().load_from_file(result.files[0])
    assert descriptor.architecture.id == "Compact" and descriptor.scale == 2
    x = torch.rand(1, 3, 23, 17)
    with torch.no_grad():
        assert torch.equal(descriptor.model.eval()(x), compact(x))


def test_compact_default_names_and_fp16(imported, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, preset = imported
    result = export_preset(preset, "compact", fp16=True)
    assert [p.name for p in result.files] == ["community-fp16.pth", "community-fp16.safetensors"]
    assert result.precision == "fp16" and result.max_diff <= exporter.TOLERANCE["fp16"]
    assert all(t.dtype == torch.float16 for t in read_model_file(result.files[1]).state.values())


def test_existing_output_is_kept(imported, tmp_path):
    _, preset = imported
    target = tmp_path / "taken.pth"
    target.write_bytes(b"keep me")
    with pytest.raises(OutputError, match=r"taken\.pth: exists; pass --overwrite"):
        export_preset(preset, "compact", target)
    assert target.read_bytes() == b"keep me"


def test_failed_check_leaves_nothing(imported, tmp_path, monkeypatch):
    _, preset = imported
    monkeypatch.setitem(exporter.TOLERANCE, "fp32", -1)  # no file can pass: the check must refuse it
    with pytest.raises(OutputError, match="differs from our engine"):
        export_preset(preset, "compact", tmp_path / "refused.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_foreign_preset_is_not_exported(tmp_path):
    from repsr_video.preset import read_preset

    toml = tmp_path / "f.toml"
    (tmp_path / "f.safetensors").write_bytes(b"")
    toml.write_text('name = "f"\nscale = 2\narchitecture = "spandrel:SPAN"\ndescription = ""\n'
                    'weights = "f.safetensors"\nsha256 = ""\n')
    with pytest.raises(PresetError, match="foreign architecture"):
        export_preset(read_preset(toml), "compact", tmp_path / "f.pth")


def test_cli_export(imported, tmp_path, capsys):
    from repsr_video.cli import main

    _, preset = imported
    out = tmp_path / "cli.safetensors"
    assert main(["export", str(preset.path), "--format", "compact", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"wrote {out}" in err and "max difference 0 level(s)" in err
    assert main(["export", str(preset.path), "--format", "compact", "-o", str(out)]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err


def test_cli_round_trip_import_upscale_export(tmp_path, capsys):
    """A community Compact file -> `import` -> `upscale` -> `export` ONNX and Compact: every step
    reproduces the original model (the upscale at the CLI's default precision, within bf16 rounding)."""
    pytest.importorskip("onnxscript", reason="the ONNX exporter needs onnxscript (interop extra)")
    from PIL import Image

    from repsr_video.cli import main
    from repsr_video.interop.onnx_export import onnx_upscale

    compact = random_compact(2, features=8, convs=2, seed=11)
    torch.save({"params": compact.state_dict()}, tmp_path / "2x_community.pth")
    frames = photo(40, 48, "rocket")
    with torch.no_grad():
        reference = to_uint8(compact(to_float(frames)))
    Image.fromarray(frames[0]).save(tmp_path / "in.png")
    assert main(["import", str(tmp_path / "2x_community.pth"), "--name", "community"]) == 0
    assert main([str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--preset", "community", "--device", "cpu", "--quiet"]) == 0
    assert max_level_diff(np.asarray(Image.open(tmp_path / "out.png").convert("RGB"))[None], reference) <= 4
    assert main(["export", "community", "--format", "onnx", "-o", str(tmp_path / "community.onnx")]) == 0
    assert main(["export", "community", "--format", "compact", "-o", str(tmp_path / "back.pth")]) == 0
    assert "max difference" in capsys.readouterr().err
    assert max_level_diff(onnx_upscale(tmp_path / "community.onnx", frames), reference) <= 1
    back = read_model_file(tmp_path / "back.pth").state
    assert all(torch.equal(back[k], v) for k, v in compact.state_dict().items())
