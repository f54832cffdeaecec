"""Merge a trained multi-branch net into the plain deploy net (a pure function: the input is untouched)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from repsr_video.network import SRNet

from .blocks import Reparameterizable
from .net import RepSRNet


@torch.no_grad()
def merge(model: SRNet) -> SRNet:
    """Return a new `SRNet` computing what `model` computes in eval / frozen-BN mode.

    A plain `SRNet` (already merged, or trained directly) is returned as a copy, so merging twice
    is harmless. The result is float32, in eval mode, on the model's device.
    """
    if not isinstance(model, RepSRNet):
        return copy.deepcopy(model).float().eval()
    device = model.head.weight.device
    deploy = SRNet(model.scale, model.blocks, model.channels).to(device)
    deploy.head.load_state_dict(model.head.state_dict())
    deploy.head_act.load_state_dict(model.head_act.state_dict())
    deploy.tail.load_state_dict(model.tail.state_dict())
    for index, block in enumerate(model.body):
        assert isinstance(block, Reparameterizable)
        kernel, bias = block.equivalent_kernel_bias()
        conv, act = deploy.body[2 * index], deploy.body[2 * index + 1]
        assert isinstance(conv, nn.Conv2d) and conv.bias is not None and isinstance(act, nn.PReLU)
        conv.weight.copy_(kernel.to(conv.weight.dtype))
        conv.bias.copy_(bias.to(conv.bias.dtype))
        act.weight.copy_(block.act.weight)
    return deploy.float().eval()
