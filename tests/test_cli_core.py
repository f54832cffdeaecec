"""The CLI skeleton through main(argv): version, presets listing, one-line errors."""

from __future__ import annotations

import json

import pytest

from repsr_video import cli


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("repsr-video ") and "torch " in out and "av " in out and "torch-tensorrt " in out


def test_presets_lists_user_preset(tiny_preset, monkeypatch, capsys):
    monkeypatch.setenv("REPSR_VIDEO_PRESETS", str(tiny_preset.path.parent))
    assert cli.main(["presets", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(p["name"] == "tiny-x2" and p["scale"] == 2 and p["size"] == "M1C4" for p in listed)


def test_bad_preset_is_one_line_error(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "broken.toml"
    bad.write_text("name = 'x'\nscale = 2\n")
    monkeypatch.setenv("REPSR_VIDEO_PRESETS", str(tmp_path))
    assert cli.main(["presets"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and str(bad) in err and "missing key" in err and "\n" not in err
