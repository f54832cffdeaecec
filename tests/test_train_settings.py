"""`repsr-video train`'s options: one table (TrainSettings) behind the parser, the checks and the replayed command."""

from __future__ import annotations

import argparse
import dataclasses
import shlex

import pytest

from repsr_video.choices import DEVICES, SCALES
from repsr_video.train.ablation import ABLATION_DEFAULTS
from repsr_video.train.ablation import _parser as ablation_parser
from repsr_video.train.blocks import NORMS
from repsr_video.train.commands import settings_from_args, train_parser
from repsr_video.train.data import DEGRADES
from repsr_video.train.settings import TrainError, TrainSettings


def _parse(argv: list[str]) -> TrainSettings:
    parser = argparse.ArgumentParser()
    train_parser(parser)
    return settings_from_args(parser.parse_args(argv))


def test_parser_defaults_are_the_dataclass_defaults():
    assert _parse(["--data", "a", "b", "--scale", "2", "--name", "n"]) == TrainSettings(data=("a", "b"), scale=2, name="n")


def test_the_replayed_command_parses_back_to_the_same_settings():
    settings = TrainSettings(
        data=("photos", "clip one.mp4"), scale=4, name="x", size="M8C32", expansion=1, norm="wn", plain=True,
        iterations=300, batch_size=8, patch=64, lr=1e-3, freeze_bn_at=None, degrade="video", prescale=2.0,
        frames_per_clip=4, val=("held out",), seed=7, description='says "hi"', default=True,
    )
    words = shlex.split(settings.command())
    assert words[:2] == ["repsr-video", "train"]
    replayed = _parse(words[2:])
    # freeze_bn_at None (never) is written as 1, which also means never
    assert replayed == dataclasses.replace(settings, freeze_bn_at=1.0)
    assert replayed.schedule.freeze_iteration is None
    # defaults are left out of the command
    assert TrainSettings(data=("a",), scale=2, name="n").command() == "repsr-video train --data a --scale 2 --name n"


@pytest.mark.parametrize(("flag", "allowed"), [("--norm", NORMS), ("--degrade", DEGRADES), ("--device", DEVICES),
                                               ("--scale", SCALES)])
def test_choices_come_from_the_tuples(flag, allowed, capsys):
    parser = argparse.ArgumentParser()
    train_parser(parser)
    action = next(a for a in parser._actions if flag in a.option_strings)
    assert tuple(action.choices) == allowed
    with pytest.raises(SystemExit):
        parser.parse_args(["--data", "a", "--scale", "2", "--name", "n", flag, "7"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(("key", "value", "message"), [
    ("norm", "ln", "norm 'ln' is not one of bn, wn, none"),
    ("degrade", "jpeg", "degrade 'jpeg' is not one of bicubic, video"),
    ("device", "gpu", "device 'gpu' is not one of auto, cpu, cuda"),
    ("scale", 5, "scale 5 is not supported"),
])
def test_a_bad_choice_names_the_allowed_values(key, value, message):
    with pytest.raises(TrainError, match=message):
        TrainSettings(**{"data": ("a",), "scale": 2, "name": "n", key: value})


def test_ablation_parser_shares_the_defaults_but_its_own_budget():
    args = ablation_parser().parse_args(["--data", "a", "--val", "v"])
    settings = settings_from_args(args, name="ablation")
    plain = TrainSettings(data=("a",), val=("v",), scale=2, name="ablation")
    expected = tuple(ABLATION_DEFAULTS[k] for k in ("iterations", "prescale", "scale"))
    assert (settings.iterations, settings.prescale, settings.scale) == expected
    assert dataclasses.replace(settings, iterations=plain.iterations, prescale=plain.prescale) == plain
    assert settings.out is None  # the ablation's --out is its own folder, not a run's


def test_workers_help_states_the_defaults_the_run_uses(capsys):
    parser = argparse.ArgumentParser()
    train_parser(parser)
    text = " ".join(parser.format_help().split())
    for degrade in DEGRADES:
        workers = TrainSettings(data=("a",), scale=2, name="n", degrade=degrade).data_workers
        assert f"{workers} for {degrade}" in text
    assert TrainSettings(data=("a",), scale=2, name="n", degrade="video", workers=0).data_workers == 0
