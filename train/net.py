"""The training network: the deploy net's shape with every body conv replaced by a RepSR block."""

from __future__ import annotations

from torch import nn

from repsr_video.network import SRNet

from .blocks import Norm, RepSRBlock


class RepSRNet(SRNet):
    """Head conv + PReLU, `blocks` RepSR blocks, tail conv, pixel shuffle, nearest skip.

    Head and tail stay plain convs (they change the channel count, so there is no identity path);
    `repsr_video.train.merge.merge` turns this into an `SRNet` of the same size.
    """

    def __init__(self, scale: int, blocks: int, channels: int, expansion: int = 2, norm: Norm = "bn") -> None:
        self.expansion = expansion
        self.norm = norm
        super().__init__(scale, blocks, channels)

    def _body_layers(self) -> list[nn.Module]:
        return [RepSRBlock(self.channels, self.expansion, self.norm) for _ in range(self.blocks)]
