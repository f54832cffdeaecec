"""Foreign architectures: nets that spandrel detects and builds from a state dict (SPAN, ESRGAN, ...).

A `ForeignNet` is what the engine runs for a preset with architecture "spandrel:<id>": RGB in [0,1]
(N,3,H,W) -> the whole upscaled image (N,3,sH,sW). Unlike SRNet it has no separate global skip, so
the engine runs all of it in the compute precision (see backends/graph.py). It pads each input to the
architecture's size requirements as spandrel does, and cuts frames larger than TILE pixels into
overlapping tiles of one fixed size (one compiled graph per frame size, and bounded memory: an
ESRGAN x4 on a whole 1080p frame needs several GB for activations).

Only spandrel's own architectures are used (MAIN_REGISTRY; never the non-commercial
spandrel-extra-arches package), and only image super-resolution ones: RGB in, RGB out, a scale the
presets support, not face models (fixed-size crops) nor inpainting.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, PresetError, RepsrError
from ..network import SCALES
from .spandrel_support import spandrel_module

# Input tile side and the context each tile keeps on every side it shares with a neighbour.
TILE = 512
MARGIN = 16


def _tile_spans(length: int, tile: int, margin: int) -> list[tuple[int, int, int]]:
    """(tile start, keep from, keep to) along one axis: tiles of one size that overlap by at least
    2*margin, evenly spread, and cut at the middle of each overlap; the kept parts cover [0, length)."""
    if length <= tile:
        return [(0, 0, length)]
    stride = tile - 2 * margin
    count = -(-(length - tile) // stride) + 1
    starts = [round(i * (length - tile) / (count - 1)) for i in range(count)]
    cuts = [0] + [(starts[i + 1] + starts[i] + tile) // 2 for i in range(count - 1)] + [length]
    return [(starts[i], cuts[i], cuts[i + 1]) for i in range(count)]


class ForeignNet(nn.Module):
    """A spandrel model as the engine runs it. `precisions`: the engine precisions it supports."""

    def __init__(self, descriptor, arch_id: str, tiled: bool, tile: int = TILE, margin: int = MARGIN) -> None:
        super().__init__()
        self.model = descriptor.model
        _settle(self.model)
        self.scale: int = descriptor.scale
        self.arch_id = arch_id
        self.size_requirements = descriptor.size_requirements
        # spandrel's per-architecture call (e.g. MMRealSR returns a tuple); private in spandrel 0.4
        self._call: Callable[[nn.Module, torch.Tensor], torch.Tensor] = descriptor._call_fn
        self.precisions = ("fp32",) + ("bf16",) * descriptor.supports_bfloat16 + ("fp16",) * descriptor.supports_half
        self.tiled = tiled
        self.tile = tile
        self.margin = margin
        # the widest feature map, for the engine's memory estimate (budget.bytes_per_output_pixel)
        self.channels = max((m.out_channels for m in self.model.modules() if isinstance(m, nn.Conv2d)), default=64)

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_w, pad_h = self.size_requirements.get_padding(w, h)
        if pad_w or pad_h:  # as spandrel pads: reflect as far as it can, then replicate
            reflect_w, reflect_h = min(pad_w, w - 1), min(pad_h, h - 1)
            x = F.pad(x, (0, reflect_w, 0, reflect_h), "reflect")
            x = F.pad(x, (0, pad_w - reflect_w, 0, pad_h - reflect_h), "replicate")
        return self._call(self.model, x)[..., : h * self.scale, : w * self.scale]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        if not self.tiled or (h <= self.tile and w <= self.tile):
            return self._run(x)
        s = self.scale
        out = x.new_empty(n, 3, h * s, w * s)
        for y0, y_from, y_to in _tile_spans(h, self.tile, self.margin):
            for x0, x_from, x_to in _tile_spans(w, self.tile, self.margin):
                piece = self._run(x[:, :, y0 : y0 + self.tile, x0 : x0 + self.tile])
                out[:, :, y_from * s : y_to * s, x_from * s : x_to * s] = piece[
                    :, :, (y_from - y0) * s : (y_to - y0) * s, (x_from - x0) * s : (x_to - x0) * s
                ]
        return out


def _no_op() -> None:
    pass


def _settle(model: nn.Module) -> None:
    """Make the forward pass read-only where spandrel's architecture would rewrite its weights.

    SPAN's Conv3XC re-merges its three branches into `eval_conv` on every eval forward and assigns the
    result to the weights in place; compiled graphs cannot follow that (the second call fails on the
    weights' strides), and it costs the merge on every frame. The merge depends on the weights only:
    do it once, here, in fp32, and skip it from then on.
    """
    import importlib

    try:
        conv3xc = importlib.import_module("spandrel.architectures.SPAN.__arch.span").Conv3XC
    except (ImportError, AttributeError):  # another spandrel layout: nothing known to settle
        return
    for module in model.modules():
        if isinstance(module, conv3xc):
            module.update_params()
            module.update_params = _no_op


def load_descriptor(state: dict[str, torch.Tensor], source: Path, error: type[RepsrError] = InputError):
    """spandrel's ImageModelDescriptor for `state`; `error` (naming `source`) if spandrel does not
    know the weights or they are not an RGB image upscaler at a supported scale."""
    spandrel = spandrel_module()
    try:
        descriptor = spandrel.ModelLoader(device="cpu").load_from_state_dict(state)
    except spandrel.UnsupportedModelError:
        raise error(f"{source}: no architecture spandrel {spandrel.__version__} knows matches these weights") from None
    except Exception as problem:  # noqa: BLE001 - an architecture's loader failing on odd weights
        raise error(f"{source}: spandrel could not build the model ({type(problem).__name__}: {str(problem)[:200]})") from None
    arch = descriptor.architecture.id
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose not in ("SR", "Restoration"):
        raise error(f"{source}: {arch} is a {descriptor.purpose} model, not an image upscaler")
    if (descriptor.input_channels, descriptor.output_channels) != (3, 3):
        channels = f"takes {descriptor.input_channels} and gives {descriptor.output_channels} channels"
        raise error(f"{source}: {arch} {channels}; only RGB to RGB is supported")
    if descriptor.scale not in SCALES:
        raise error(f"{source}: {arch} upscales x{descriptor.scale}; supported scales are {SCALES}")
    return descriptor


def build_foreign(state: dict[str, torch.Tensor], arch_id: str, scale: int, source: Path) -> ForeignNet:
    """The preset's net: spandrel must detect the recorded architecture and scale again."""
    descriptor = load_descriptor(state, source, PresetError)
    if descriptor.architecture.id != arch_id or descriptor.scale != scale:
        found = f"{descriptor.architecture.id} x{descriptor.scale}"
        raise PresetError(f"{source}: the weights are {found}, the preset says {arch_id} x{scale}")
    spandrel = spandrel_module()
    tiled = descriptor.tiling == spandrel.ModelTiling.SUPPORTED  # DISCOURAGED/INTERNAL: whole frames
    return ForeignNet(descriptor, arch_id, tiled).float().eval().requires_grad_(False)
