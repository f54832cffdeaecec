"""Preset format: TOML <-> frozen dataclass, safetensors weights, one-line errors naming the file."""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from pathlib import Path

import pytest
import torch

from repsr_video.errors import PresetError
from repsr_video.network import SRNet, parse_size
from repsr_video.preset import (
    _FIELDS,
    _KEY_ORDER,
    Preset,
    Quality,
    default_preset,
    installed_presets,
    load_preset,
    preset_from_table,
    preset_to_toml,
    read_preset,
)
from repsr_video.train.preset import write_preset


def write(tmp_path, **kwargs):
    torch.manual_seed(1)
    net = SRNet(kwargs.pop("scale", 2), 2, 8)
    quality = Quality(eval_set="skimage", mean_gain_db=2.5, worst_gain_db=1.1)
    path = write_preset(net, tmp_path, name=kwargs.pop("name", "demo-x2"), description='says "hi"\n',
                        recipe={"iters": 10, "lr": 5e-4, "nested": {"a": [1, 2]}}, data={"images": 3},
                        quality=quality, **kwargs)
    return net, path


def test_round_trip(tmp_path):
    net, path = write(tmp_path)
    preset = load_preset(path)
    assert (preset.name, preset.scale, preset.size, preset.description) == ("demo-x2", 2, "M2C8", 'says "hi"\n')
    assert preset.recipe == {"iters": 10, "lr": 5e-4, "nested": {"a": [1, 2]}}
    assert preset.quality.mean_gain_db == 2.5 and preset.quality.cpu_fps is None
    assert preset.sha256 == hashlib.sha256(preset.weights_path.read_bytes()).hexdigest()
    loaded = preset.build_network()
    x = torch.rand(1, 3, 5, 7)
    with torch.no_grad():
        assert torch.equal(loaded(x), net.eval()(x))
    with pytest.raises(AttributeError):
        preset.scale = 3  # frozen dataclass


def test_a_written_preset_reads_back_equal(tmp_path):
    recipe = {"command": "repsr-video train --data 'a b' --name x", "lr": 5e-4, "frozen": None, "ok": True,
              "nested": {"list": [1, 2.5, "three"], "odd key": "tab\there", "quote": 'say "hi" \\ back'},
              "unicode": "Überschärfe ×2"}
    quality = Quality(eval_set="held-out", mean_gain_db=1.25, worst_gain_db=-0.5, mean_ssim_y=0.9123)
    path = write_preset(SRNet(3, 1, 4), tmp_path, name="x3.v1_a-b", description="line one\nline two", recipe=recipe,
                        data={"images": 3, "sources": ["a.png", "b.png"]}, quality=quality, default=True)
    preset = read_preset(path)
    expected_recipe = {k: v for k, v in recipe.items() if v is not None}  # TOML has no null: None is left out
    assert (preset.name, preset.scale, preset.size, preset.default) == ("x3.v1_a-b", 3, "M1C4", True)
    assert preset.description == "line one\nline two" and preset.recipe == expected_recipe and preset.quality == quality
    assert preset.data == {"images": 3, "sources": ["a.png", "b.png"]}
    # the dataclass and the file agree both ways
    assert tomllib.loads(path.read_text()) == preset.to_table()
    assert preset_from_table(tomllib.loads(preset_to_toml(preset)), path) == preset


def test_every_preset_field_has_a_place_in_the_file():
    assert set(_KEY_ORDER) == _FIELDS == {f.name for f in dataclasses.fields(Preset)} - {"path"}


def test_shipped_presets_are_written_back_byte_for_byte():
    """The writer reproduces every shipped TOML exactly: rewriting one (scripts/measure_presets.py) changes only what changed."""
    presets = installed_presets()
    assert presets
    for preset in presets:
        assert preset_to_toml(preset) == preset.path.read_text(encoding="utf-8"), preset.name
        assert preset_from_table(preset.to_table(), preset.path) == preset


def test_a_foreign_architecture_round_trips_without_the_srnet_size():
    foreign = Preset(name="span", scale=4, description="d", weights="span.safetensors", sha256="0" * 64,
                     architecture="spandrel:SPAN", source={"file": "span.pth"}, path=Path("span.toml"))
    table = foreign.to_table()
    assert "blocks" not in table and "channels" not in table and table["architecture"] == "spandrel:SPAN"
    assert preset_from_table(tomllib.loads(preset_to_toml(foreign)), foreign.path) == foreign
    plain = dataclasses.replace(foreign, architecture="repsr", blocks=2, channels=8, source={})
    assert "architecture" not in plain.to_table() and "source" not in plain.to_table()
    assert preset_from_table(plain.to_table(), plain.path) == plain


def test_unknown_key(tmp_path):
    _, path = write(tmp_path)
    path.write_text(path.read_text().replace('name = "demo-x2"', 'name = "demo-x2"\nspeed = 3'))
    with pytest.raises(PresetError, match=rf"{path}.*unknown key.*speed"):
        read_preset(path)


def test_unknown_quality_key(tmp_path):
    _, path = write(tmp_path)
    path.write_text(path.read_text() + "psnr = 3.0\n")  # lands in the last table, [quality]
    with pytest.raises(PresetError, match=r"unknown key.*\[quality\].*psnr"):
        read_preset(path)


def test_missing_weights(tmp_path):
    _, path = write(tmp_path)
    (tmp_path / "demo-x2.safetensors").unlink()
    with pytest.raises(PresetError, match=rf"{path}.*weights file demo-x2.safetensors is missing"):
        read_preset(path)


def test_hash_mismatch(tmp_path):
    _, path = write(tmp_path)
    weights = tmp_path / "demo-x2.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(PresetError, match=r"demo-x2.safetensors.*SHA-256"):
        read_preset(path).build_network()


def test_weights_that_do_not_fit(tmp_path):
    _, path = write(tmp_path)
    text = path.read_text().replace("channels = 8", "channels = 16")
    path.write_text(text)
    with pytest.raises(PresetError, match=r"demo-x2.safetensors.*do not fit M2C16 x2.*wrong shape"):
        read_preset(path).build_network()


def test_not_toml_and_wrong_types(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(PresetError, match=rf"{bad}.*not valid TOML"):
        read_preset(bad)
    _, path = write(tmp_path)
    path.write_text(path.read_text().replace("scale = 2", "scale = true"))
    with pytest.raises(PresetError, match=r"'scale' has the wrong type"):
        read_preset(path)
    with pytest.raises(PresetError, match=r"preset file not found"):
        load_preset(tmp_path / "nope.toml")


def test_pickle_weights_are_rejected(tmp_path):
    _, path = write(tmp_path)
    weights = tmp_path / "demo-x2.safetensors"
    torch.save(SRNet(2, 2, 8).state_dict(), weights)  # a pickle, not safetensors
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    text = path.read_text()
    old = read_preset(path).sha256
    path.write_text(text.replace(old, digest))
    with pytest.raises(PresetError, match=r"not a valid safetensors file"):
        read_preset(path).build_network()


def test_installed_and_default(tmp_path, monkeypatch):
    user = tmp_path / "user"
    monkeypatch.setenv("REPSR_VIDEO_PRESETS", str(user))
    write(user, name="user-a-x2")
    write(user, name="user-b-x2", default=True)
    names = [p.name for p in installed_presets()]
    assert "user-a-x2" in names and "user-b-x2" in names
    shipped_x2 = [p for p in installed_presets() if p.scale == 2 and p.path.parent != user]
    expected = next((p.name for p in shipped_x2 if p.default), "user-b-x2")
    assert default_preset(2).name == expected
    assert load_preset("user-a-x2").name == "user-a-x2"
    with pytest.raises(PresetError, match="preset 'nothing' not found"):
        load_preset("nothing")


def test_shipped_presets_are_valid():
    """Every preset in presets/ loads, verifies its hash and runs."""
    for preset in installed_presets():
        net = preset.build_network()
        with torch.no_grad():
            out = net(torch.rand(1, 3, 8, 8))
        assert out.shape == (1, 3, 8 * preset.scale, 8 * preset.scale)


def test_parse_size():
    assert parse_size("M4C16") == (4, 16)
    assert parse_size("m10c32") == (10, 32)
    with pytest.raises(PresetError, match="M<blocks>C<channels>"):
        parse_size("big")


def test_a_malformed_user_preset_is_skipped_with_a_warning(tmp_path, monkeypatch):
    from repsr_video.errors import PresetWarning

    user = tmp_path / "user"
    monkeypatch.setenv("REPSR_VIDEO_PRESETS", str(user))
    write(user, name="good-x2")
    (user / "broken.toml").write_text("name = 'broken'\nscale = [")
    with pytest.warns(PresetWarning, match=r"broken\.toml: not valid TOML .*\(preset skipped\)"):
        names = [p.name for p in installed_presets()]
    assert "good-x2" in names and "broken" not in names
    with pytest.warns(PresetWarning):
        assert default_preset(2).scale == 2  # the shipped default still works
        assert load_preset("good-x2").name == "good-x2"
    with pytest.warns(PresetWarning), pytest.raises(PresetError, match=r"broken\.toml: not valid TOML"):
        load_preset("broken")  # asked for by name: its error


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_a_weights_file_given_as_preset_is_one_clear_line(tmp_path, suffix):
    _, path = write(tmp_path, name="demo-x2")
    weights = path.with_suffix(suffix)
    if not weights.exists():
        weights.write_bytes(bytes(range(256)) * 8)
    message = rf"demo-x2{suffix}: is a weights file, not a preset; give the preset's \.toml"
    with pytest.raises(PresetError, match=message) as caught:
        load_preset(weights)
    assert "\n" not in str(caught.value) and (suffix != ".safetensors" or "use " in str(caught.value))


def test_a_binary_file_named_toml_is_one_clear_line(tmp_path):
    path = tmp_path / "x.toml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(PresetError, match=r"x\.toml: is not a preset TOML \(binary content\)"):
        load_preset(path)
