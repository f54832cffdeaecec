"""The merged deploy net computes exactly what the multi-branch training net computes."""

from __future__ import annotations

import itertools

import pytest
import torch

from repsr_video.network import SRNet
from repsr_video.train.blocks import FreezableBatchNorm2d, RepSRBlock, set_bn_frozen
from repsr_video.train.merge import merge
from repsr_video.train.net import RepSRNet


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Random BN statistics and affine parameters, random PReLU slopes and weight-norm gains."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, FreezableBatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=g) * 0.5)
                module.running_var.copy_(torch.rand(module.num_features, generator=g) * 2 + 0.1)
                module.weight.copy_(torch.randn(module.num_features, generator=g))
                module.bias.copy_(torch.randn(module.num_features, generator=g) * 0.2)
            elif isinstance(module, torch.nn.PReLU):
                module.weight.copy_(torch.rand(module.weight.shape, generator=g) * 0.5)
        for name, param in model.named_parameters():
            if "original0" in name:  # weight-norm magnitude g
                param.copy_(torch.rand(param.shape, generator=g) + 0.5)
            elif name.endswith("bias"):
                param.copy_(torch.randn(param.shape, generator=g) * 0.1)


CASES = list(itertools.product((2, 3, 4), ("bn", "wn", "none"), (1, 2, 4)))


@pytest.mark.parametrize("scale,norm,expansion", CASES)
def test_merged_equals_multibranch(scale, norm, expansion):
    torch.manual_seed(scale * 100 + expansion)
    model = RepSRNet(scale, blocks=3, channels=8, expansion=expansion, norm=norm)
    randomize(model, seed=expansion)
    model.eval()
    deploy = merge(model)
    assert type(deploy) is SRNet and (deploy.scale, deploy.blocks, deploy.channels) == (scale, 3, 8)
    for height, width in ((1, 1), (7, 13), (17, 5)):  # odd sizes: every pixel touches a border
        x = torch.rand(2, 3, height, width)
        with torch.no_grad():
            expected, merged = model(x), deploy(x)
        assert merged.shape == (2, 3, height * scale, width * scale)
        assert (expected - merged).abs().max().item() <= 1e-5


def test_frozen_train_mode_equals_merged():
    """In frozen mode the training net (still in train mode) already computes the deploy function."""
    model = RepSRNet(2, 2, 8)
    randomize(model, seed=3)
    set_bn_frozen(model)
    model.train()
    x = torch.rand(1, 3, 9, 11)
    with torch.no_grad():
        assert (model(x) - merge(model)(x)).abs().max().item() <= 1e-5


def test_block_reports_exact_kernel():
    block = RepSRBlock(6, expansion=2, norm="bn")
    randomize(block, seed=5)
    block.eval()
    kernel, bias = block.equivalent_kernel_bias()
    x = torch.rand(1, 6, 10, 10, dtype=torch.float64)
    with torch.no_grad():
        conv = torch.nn.functional.conv2d(x, kernel, bias, padding=1)
        expected = block.double()(x)
    assert torch.allclose(block.act(conv), expected, atol=1e-10)


def test_merge_is_pure_and_idempotent():
    model = RepSRNet(2, 2, 8)
    randomize(model, seed=7)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    once = merge(model)
    twice = merge(once)
    again = merge(model)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"merge changed the input's {key}"
    assert once is not twice and twice.state_dict().keys() == once.state_dict().keys()
    for key in once.state_dict():
        assert torch.equal(once.state_dict()[key], twice.state_dict()[key])
        assert torch.equal(once.state_dict()[key], again.state_dict()[key])
    assert model.body[0].branches[0].norm.frozen.item() is False


@pytest.mark.parametrize("norm", ("bn", "wn", "none"))
def test_linear_block_trains_as_one_conv_with_the_same_gradients(norm):
    """A linear block (frozen BN, WN, no norm) runs as its merged conv in training: the output and
    every parameter's gradient equal those of the explicit multi-branch form."""
    block = RepSRBlock(6, expansion=2, norm=norm).double()
    randomize(block, seed=11)
    set_bn_frozen(block)
    block.train()
    x = torch.rand(2, 6, 9, 7, dtype=torch.float64)
    target = torch.rand(2, 6, 9, 7, dtype=torch.float64)
    results = []
    for form in (block, lambda v: block.act(block.branch_sum(v))):
        block.zero_grad(set_to_none=True)
        out = form(x)
        torch.nn.functional.l1_loss(out, target).backward()
        results.append((out.detach(), {n: p.grad.clone() for n, p in block.named_parameters()}))
    (merged_out, merged_grads), (branch_out, branch_grads) = results
    assert torch.allclose(merged_out, branch_out, atol=1e-12)
    assert merged_grads.keys() == branch_grads.keys() and len(merged_grads) > 3
    for name in merged_grads:
        assert torch.allclose(merged_grads[name], branch_grads[name], atol=1e-12), name


def test_block_with_minibatch_bn_runs_the_branches():
    """Before the switch BN statistics depend on the batch, so the block cannot run merged."""
    block = RepSRBlock(4, expansion=2, norm="bn").train()
    assert not any(branch.is_linear for branch in block.branches)
    x = torch.rand(3, 4, 6, 6)
    assert torch.equal(block(x), block.act(block.branch_sum(x)))
    set_bn_frozen(block)
    assert all(branch.is_linear for branch in block.branches)
