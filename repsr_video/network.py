"""The deploy network: a plain VGG-style conv stack, what every trained RepSR net merges into."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .choices import SCALES
from .errors import PresetError
from .plain_net import PlainNet, parse_size, plain_net, size_name

__all__ = ["SRNet", "parse_size", "size_name"]


class SRNet(nn.Module):
    """conv3x3(3->C)+PReLU, blocks x [conv3x3(C->C)+PReLU], conv3x3(C->3s^2), pixel shuffle,
    plus the nearest-neighbour upsampled input as global skip.

    Input and output are RGB in [0, 1], shape (N, 3, H, W) -> (N, 3, sH, sW); any H x W works.
    """

    def __init__(self, scale: int, blocks: int, channels: int) -> None:
        super().__init__()
        if scale not in SCALES:
            raise PresetError(f"scale {scale} is not supported; choose one of {SCALES}")
        self.scale = scale
        self.blocks = blocks
        self.channels = channels
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.head_act = nn.PReLU(channels)
        self.body = nn.Sequential(*self._body_layers())
        self.tail = nn.Conv2d(channels, 3 * scale * scale, 3, padding=1)

    def _body_layers(self) -> list[nn.Module]:
        """blocks x [conv3x3 + PReLU]; the training net overrides this with multi-branch blocks."""
        layers: list[nn.Module] = []
        for _ in range(self.blocks):
            layers += [nn.Conv2d(self.channels, self.channels, 3, padding=1), nn.PReLU(self.channels)]
        return layers

    @property
    def size(self) -> str:
        return size_name(self.blocks, self.channels)

    def plain(self) -> PlainNet:
        """The same net as float32 arrays, for runtimes other than torch."""
        state = {k: v.detach().float().cpu().numpy() for k, v in self.state_dict().items()}
        return plain_net(state, self.scale, self.blocks, self.channels, f"SRNet {self.size} x{self.scale}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.body(self.head_act(self.head(x)))
        residual = F.pixel_shuffle(self.tail(features), self.scale)
        return residual + F.interpolate(x, scale_factor=self.scale, mode="nearest")
