"""The training loop: BN switch, exact resume, the merge check, and `repsr-video train` end to end."""

from __future__ import annotations

import json

import pytest
import torch

from repsr_video.cli import main
from repsr_video.preset import load_preset
from repsr_video.train import export, loop
from repsr_video.train.blocks import FreezableBatchNorm2d, is_bn_frozen
from repsr_video.train.loop import train
from repsr_video.train.settings import TrainError, TrainSettings
from train_images import write_images


def _settings(tmp_path, *, data=None, **overrides) -> TrainSettings:
    data = data or write_images(tmp_path / "data")
    base = dict(data=(str(data),), scale=2, name="tiny", size="M1C4", iterations=4, batch_size=2, patch=16,
                out=str(tmp_path / "out"), val_every=2, checkpoint_every=2, val_crop=48)
    return TrainSettings(**(base | overrides))


def _final_state(result_dir, name="tiny") -> dict:
    return torch.load(result_dir / f"{name}.ckpt", map_location="cpu", weights_only=True)


def test_bn_switch_happens_at_the_configured_iteration_and_persists(tmp_path):
    seen = []
    frozen_during = {}
    original_validate = loop._validate

    def spy(model, val, scale, device):
        frozen_during[len(seen)] = is_bn_frozen(model)
        return original_validate(model, val, scale, device)

    settings = _settings(tmp_path, iterations=8, freeze_bn_at=0.5, val_every=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loop, "_validate", spy)
        result = train(settings, lambda e: seen.append(e))
    switches = [e for e in seen if e.kind == "bn_frozen"]
    assert [e.iteration for e in switches] == [4]
    assert result.history.bn_frozen_at == 4
    validations = [e.iteration for e in seen if e.kind == "validation"]
    assert validations == list(range(1, 9))
    # validation after steps 1..4 ran unfrozen, after 5..8 frozen (model.train() between steps did not undo it)
    states = [frozen_during[i] for i in sorted(frozen_during)]
    assert states == [False] * 4 + [True] * 4
    state = _final_state(tmp_path / "out")
    frozen_flags = [v for k, v in state["model"].items() if k.endswith(".frozen")]
    assert frozen_flags and all(bool(f) for f in frozen_flags)


def test_bn_never_frozen_when_fraction_is_one(tmp_path):
    seen = []
    result = train(_settings(tmp_path, freeze_bn_at=1.0), seen.append)
    assert result.history.bn_frozen_at is None
    assert not [e for e in seen if e.kind == "bn_frozen"]


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_two_plus_two_equals_four_straight(tmp_path, workers):
    data = write_images(tmp_path / "data")  # the same files: the held-out choice depends on their names
    straight = _settings(tmp_path / "a", data=data, iterations=4, freeze_bn_at=0.5, workers=workers)
    train(straight)
    reference = _final_state(tmp_path / "a" / "out")

    resumed = _settings(tmp_path / "b", data=data, iterations=4, freeze_bn_at=0.5, workers=workers)

    def interrupt(event):
        if event.kind == "step" and event.iteration == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(resumed, interrupt)
    state = _final_state(tmp_path / "b" / "out")
    assert state["iteration"] == 2
    with pytest.raises(TrainError, match="--resume"):
        train(resumed)
    train(TrainSettings(**{**resumed.__dict__, "resume": True}))
    final = _final_state(tmp_path / "b" / "out")
    assert final["iteration"] == reference["iteration"] == 4
    for key, value in reference["model"].items():
        assert torch.equal(value, final["model"][key]), key
    for a, b in zip(reference["optimizer"]["state"].values(), final["optimizer"]["state"].values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    assert json.loads(final["history"])["loss"] == json.loads(reference["history"])["loss"]


def test_resume_refuses_changed_settings(tmp_path):
    settings = _settings(tmp_path, iterations=2)
    train(settings)
    changed = TrainSettings(**{**settings.__dict__, "resume": True, "lr": 1e-3})
    with pytest.raises(TrainError, match="lr"):
        train(changed)


def test_merge_check_failure_is_loud_and_writes_no_preset(tmp_path, monkeypatch):
    real_merge = export.merge

    def broken_merge(model):
        net = real_merge(model)
        with torch.no_grad():
            net.body[0].bias.add_(1e-2)
        return net

    monkeypatch.setattr(export, "merge", broken_merge)
    settings = _settings(tmp_path, iterations=2)
    with pytest.raises(TrainError, match="differs from the trained net"):
        train(settings)
    assert not (tmp_path / "out" / "tiny.toml").exists()


def test_repsr_model_really_has_batch_norm(tmp_path):
    model = loop.build_model(_settings(tmp_path))
    assert any(isinstance(m, FreezableBatchNorm2d) for m in model.modules())
    plain = loop.build_model(_settings(tmp_path, plain=True))
    assert not any(isinstance(m, FreezableBatchNorm2d) for m in plain.modules())


def test_train_command_end_to_end_makes_a_loadable_preset(tmp_path, capsys):
    data = write_images(tmp_path / "data", count=5)
    out = tmp_path / "out"
    code = main(["train", "--data", str(data), "--scale", "2", "--name", "mini", "--size", "M1C4",
                 "--iters", "30", "--batch-size", "4", "--patch", "24", "--out", str(out), "--quiet", "--lr", "2e-3"])
    assert code == 0
    assert f"use it: repsr-video INPUT OUTPUT --preset {out / 'mini.toml'}" in capsys.readouterr().err
    preset = load_preset(out / "mini.toml")
    assert (preset.scale, preset.size) == (2, "M1C4")
    assert preset.recipe["norm"] == "bn" and preset.recipe["iterations"] == 30
    assert preset.recipe["command"].startswith("repsr-video train --data")
    assert preset.recipe["merge_max_abs_error"] <= 1e-4
    assert preset.data["images"] == 5 and len(preset.data["validation"]) == 1
    assert preset.quality.mean_gain_db is not None and preset.quality.mean_psnr_y > 20
    net = preset.build_network()
    assert net(torch.rand(1, 3, 11, 13)).shape == (1, 3, 22, 26)
    report = (out / "mini-report.md").read_text()
    assert "merged vs multi-branch max abs error" in report
    assert f"(limit {export.MERGE_TOLERANCE:g})" in report  # the limit the merge check applies
    assert (out / "mini-curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the preset scores through `repsr-video eval` as it did at the end of training
    capsys.readouterr()
    assert main(["eval", "--preset", str(out / "mini.toml"), preset.data["validation"][0], "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["mean"]["psnr"] == pytest.approx(preset.quality.mean_psnr_y, abs=1e-3)


def test_train_command_errors_name_the_folder(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    assert main(["train", "--data", str(empty), "--scale", "2", "--name", "x", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(empty) in errors[0] and "no image or video" in errors[0]


def test_training_on_a_clip_with_video_degradation(tmp_path):
    from test_train_data import make_clip

    folder = tmp_path / "clips"
    folder.mkdir()
    make_clip(folder / "a.mp4", frames=12, width=96, height=80)
    make_clip(folder / "b.mkv", frames=12, width=96, height=80)
    seen = []
    result = train(_settings(tmp_path, data=folder, iterations=3, degrade="video", frames_per_clip=3), seen.append)
    assert result.merge_error <= 1e-4
    preset = load_preset(result.preset_path)
    assert preset.recipe["degrade"] == "video"
    assert (preset.data["clips"], preset.data["video_frames"]) == (2, 6)
    assert len(preset.data["validation"]) == 1  # one whole clip held out
    assert [e.iteration for e in seen if e.kind == "step"] == [1, 2, 3]


def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from repsr_video.train import checkpoint

    settings = _settings(tmp_path)
    model = loop.build_model(settings)
    optimizer = torch.optim.Adam(model.parameters())
    path = checkpoint.checkpoint_path(settings)
    kwargs = dict(settings=settings, model=model, optimizer=optimizer, history=checkpoint.History(), fingerprint="f")
    checkpoint.save_checkpoint(path, iteration=1, **kwargs)

    def half_written(state, target):
        open(target, "wb").write(b"half")  # noqa: SIM115
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", half_written)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_checkpoint(path, iteration=2, **kwargs)
    assert checkpoint.load_checkpoint(path, settings, "f")["iteration"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
