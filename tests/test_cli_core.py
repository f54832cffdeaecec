"""The CLI skeleton through main(argv): version, presets listing, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from repsr_video import cli, cli_arguments

# Runs main(argv) in a fresh interpreter, then prints (after a marker) the exit status and every module it loaded.
_PROBE = """
import sys
from repsr_video import cli
try:
    status = cli.main(sys.argv[1:])
except SystemExit as stop:
    status = stop.code
print("@@", status, *sorted(sys.modules))
"""


def _run_fresh(*argv: str) -> tuple[str, int, set[str]]:
    """(output before the marker, exit status, names of the modules loaded) of cli.main(argv) in a new process."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True)
    out, _, probe = done.stdout.rpartition("@@ ")
    status, *modules = probe.split()
    return out, int(status), set(modules)


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("repsr-video ") and "torch " in out and "av " in out and "torch-tensorrt " in out


def test_help_does_not_import_torch_and_version_probes_it():
    out, status, loaded = _run_fresh("--help")
    assert status == 0 and "usage: repsr-video" in out and "--version" in out
    assert not loaded & {"torch", "av", "numpy", "repsr_video.train"}, "repsr-video --help imported the heavy runtime"
    out, status, loaded = _run_fresh("--version")
    import av
    import torch

    assert status == 0 and f"torch {torch.__version__}" in out and f"av {av.__version__}" in out and "torch-tensorrt " in out
    assert "torch" in loaded


def test_subcommand_help_loads_only_its_own_module():
    out, status, loaded = _run_fresh("presets", "--help")
    assert status == 0 and "usage: repsr-video presets" in out and "--json" in out
    assert not loaded & {"torch", "repsr_video.train"}


def test_presets_lists_user_preset(tiny_preset, monkeypatch, capsys):
    monkeypatch.setenv("REPSR_VIDEO_PRESETS", str(tiny_preset.path.parent))
    assert cli.main(["presets", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(p["name"] == "tiny-x2" and p["scale"] == 2 and p["size"] == "M1C4" for p in listed)


def test_a_bad_user_preset_is_one_warning_line_and_the_rest_works(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "broken.toml"
    bad.write_text("name = 'x'\nscale = 2\n")
    monkeypatch.setenv("REPSR_VIDEO_PRESETS", str(tmp_path))
    assert cli.main(["presets", "--json"]) == 0
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("warning: ") and str(bad) in err and "missing key" in err and "\n" not in err
    assert any(p["default"] for p in json.loads(captured.out))  # the shipped presets are still listed
    assert cli.main(["presets", "--json"]) == 0 and "warning: " in capsys.readouterr().err  # every run says so


def _choices(parser) -> dict[str, tuple]:
    return {action.option_strings[-1]: tuple(action.choices) for action in parser._actions if action.choices}


def test_choices_are_the_librarys_own():
    """argparse offers exactly what the settings accept: the tuples in repsr_video.choices."""
    import typing

    from repsr_video import choices, engine, network, output_plan

    assert choices.DEVICES == typing.get_args(engine.DeviceName)
    assert choices.BACKENDS == typing.get_args(engine.BackendName)
    assert choices.PRECISIONS == typing.get_args(engine.PrecisionName)
    assert choices.ENCODERS == typing.get_args(output_plan.EncoderKind) and choices.SCALES == tuple(network.SCALES)
    expected = {"--backend": choices.BACKENDS, "--encoder": choices.ENCODERS, "--deinterlace": choices.DEINTERLACE_MODES,
                "--yuv-path": choices.YUV_PATH_MODES}
    # upscaling offers the scales with a shipped default preset; bench's random weights any scale of the net
    assert _choices(cli._main_parser()) == expected | {"--scale": choices.DEFAULT_PRESET_SCALES}
    assert _choices(cli._subcommand_parser("bench")[0]) == expected | {"--scale": choices.SCALES}


def test_bench_and_upscale_share_the_engine_and_encoding_options():
    def options(parser) -> set[str]:
        groups = [g for g in parser._action_groups if g.title in ("model", "encoding (FFmpeg names)")]
        return {option for group in groups for action in group._group_actions for option in action.option_strings}

    upscale, bench = options(cli._main_parser()), options(cli._subcommand_parser("bench")[0])
    assert bench == upscale | {"--size"} and {"--device", "--batch", "--codec", "--pix-fmt", "--encoder"} <= upscale


def test_defaults_come_from_the_settings_dataclasses():
    from repsr_video.engine import EngineSettings
    from repsr_video.output_plan import EncodeSettings

    parser = cli._main_parser()
    args = parser.parse_args(["in.mp4", "out.mp4"])
    assert cli_arguments.engine_settings(args) == EngineSettings() and cli_arguments.encode_settings(args) == EncodeSettings()
    given = ["--device", "cpu", "--batch", "3", "--encoder", "ffmpeg", "--encoder-preset", "ultrafast"]
    args = parser.parse_args(["in.mp4", "out.mp4", *given])
    assert cli_arguments.engine_settings(args) == EngineSettings(device="cpu", batch=3)
    assert cli_arguments.encode_settings(args) == EncodeSettings(encoder="ffmpeg", preset="ultrafast")
    bench_args = cli._subcommand_parser("bench")[0].parse_args(["clip.mp4", "--backend", "eager", "--crf", "20"])
    assert cli_arguments.engine_settings(bench_args) == EngineSettings(backend="eager")
    assert cli_arguments.encode_settings(bench_args) == EncodeSettings(crf=20)
