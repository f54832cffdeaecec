"""Frozen BN: population statistics in train mode, persistent across train(), checkpoints and recalibration."""

from __future__ import annotations

import torch

from repsr_video.train.blocks import FreezableBatchNorm2d, is_bn_frozen, recalibrate_bn, set_bn_frozen
from repsr_video.train.net import RepSRNet


def bn_layers(model):
    return [m for m in model.modules() if isinstance(m, FreezableBatchNorm2d)]


def test_frozen_mode_survives_train():
    model = RepSRNet(2, 2, 8)
    assert set_bn_frozen(model) == 4
    model.train()
    model.eval()
    model.train()
    assert is_bn_frozen(model)
    stats = [m.running_mean.clone() for m in bn_layers(model)]
    model(torch.rand(4, 3, 12, 12))  # a training-mode forward must not move population statistics
    assert all(torch.equal(a, m.running_mean) for a, m in zip(stats, bn_layers(model), strict=True))


def test_frozen_normalizes_with_population_statistics():
    bn = FreezableBatchNorm2d(3)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([1.0, 2.0, 3.0]))
        bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25]))
    x = torch.rand(2, 3, 5, 5) * 10
    bn.train()
    batch_stats = bn(x)  # not frozen: normalized by this batch
    assert abs(batch_stats.mean().item()) < 1e-5
    bn.set_frozen(True)
    bn.train()
    expected = (x - bn.running_mean.view(1, 3, 1, 1)) / torch.sqrt(bn.running_var.view(1, 3, 1, 1) + bn.eps)
    assert torch.allclose(bn(x), expected, atol=1e-5)


def test_gamma_beta_keep_learning_when_frozen():
    model = RepSRNet(2, 1, 4)
    set_bn_frozen(model)
    model.train()
    model(torch.rand(2, 3, 8, 8)).mean().backward()
    bn = bn_layers(model)[0]
    assert bn.weight.grad is not None and bn.weight.grad.abs().sum() > 0


def test_frozen_mode_travels_with_state_dict():
    model = RepSRNet(2, 1, 4)
    set_bn_frozen(model)
    restored = RepSRNet(2, 1, 4)
    restored.load_state_dict(model.state_dict())
    assert is_bn_frozen(restored)


def test_recalibrate_computes_exact_population_statistics():
    torch.manual_seed(0)
    model = RepSRNet(2, 1, 4)
    batches = [torch.rand(2, 3, 6, 6) for _ in range(5)]
    assert recalibrate_bn(model, batches) == 5
    bn = model.body[0].branches[0].norm
    with torch.no_grad():
        feats = [model.body[0].branches[0].expand(model.head_act(model.head(b))) for b in batches]
    mean = torch.stack([f.mean(dim=(0, 2, 3)) for f in feats]).mean(0)
    assert torch.allclose(bn.running_mean, mean, atol=1e-6)
    assert bn.momentum == 0.1 and not is_bn_frozen(model)
