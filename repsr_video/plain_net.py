"""The deploy net as plain arrays: its layer names, shapes and weights, without importing torch.

torch's SRNet (repsr_video/network.py) and the OpenVINO graph (repsr_video/backends/openvino.py) are
two implementations of one net; this module is what both agree on: the state-dict names and shapes
of a size, and the weights as float32 numpy arrays. A CPU run on OpenVINO never loads torch (import
torch alone costs 1.5-2 s on a 2-core machine, more than upscaling an image).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from .errors import PresetError

_SIZE_NAME = re.compile(r"^M(\d+)C(\d+)$")


def parse_size(name: str) -> tuple[int, int]:
    """'M4C16' -> (blocks=4, channels=16), the naming of ECBSR/RepSR."""
    match = _SIZE_NAME.match(name.strip().upper())
    if not match or int(match.group(2)) < 1:
        raise PresetError(f"size {name!r} is not of the form M<blocks>C<channels>, e.g. M4C16")
    return int(match.group(1)), int(match.group(2))


def size_name(blocks: int, channels: int) -> str:
    return f"M{blocks}C{channels}"


def weight_shapes(scale: int, blocks: int, channels: int) -> dict[str, tuple[int, ...]]:
    """SRNet's state-dict names and shapes: head conv + PReLU, `blocks` x (conv + PReLU) as body.0, body.1, ...,
    and the tail conv to 3*scale^2 channels for the pixel shuffle."""
    c, out = channels, 3 * scale * scale
    shapes: dict[str, tuple[int, ...]] = {"head.weight": (c, 3, 3, 3), "head.bias": (c,), "head_act.weight": (c,)}
    for i in range(blocks):
        shapes |= {f"body.{2 * i}.weight": (c, c, 3, 3), f"body.{2 * i}.bias": (c,), f"body.{2 * i + 1}.weight": (c,)}
    return shapes | {"tail.weight": (out, c, 3, 3), "tail.bias": (out,)}


def check_weight_shapes(found: Mapping[str, tuple[int, ...]], scale: int, blocks: int, channels: int, where: str) -> None:
    """Raise PresetError (one line naming `where`) unless `found` has exactly the names and shapes of this size."""
    expected = weight_shapes(scale, blocks, channels)
    if dict(found) == expected:
        return
    missing = sorted(set(expected) - set(found))
    wrong = sorted(k for k in set(expected) & set(found) if expected[k] != tuple(found[k]))
    extra = sorted(set(found) - set(expected))
    parts = (f"missing {', '.join(missing[:3])}" if missing else "",
             f"wrong shape for {', '.join(wrong[:3])}" if wrong else "",
             f"unexpected {', '.join(extra[:3])}" if extra else "")
    detail = "; ".join(part for part in parts if part)
    raise PresetError(f"{where}: weights do not fit {size_name(blocks, channels)} x{scale} ({detail})")


@dataclass(frozen=True)
class PlainNet:
    """A deploy net's size and float32 weights (SRNet's state-dict names)."""

    scale: int
    blocks: int
    channels: int
    weights: Mapping[str, np.ndarray]

    @property
    def radius(self) -> int:
        """Input pixels an output pixel depends on, on each side: one per 3x3 conv (repsr_video/tiling.py)."""
        return self.blocks + 2

    def layers(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        """(conv weight, conv bias, PReLU slopes) from head to tail; the tail has no PReLU (None)."""
        w = self.weights
        yield w["head.weight"], w["head.bias"], w["head_act.weight"]
        for i in range(self.blocks):
            yield w[f"body.{2 * i}.weight"], w[f"body.{2 * i}.bias"], w[f"body.{2 * i + 1}.weight"]
        yield w["tail.weight"], w["tail.bias"], None


def plain_net(state: Mapping[str, np.ndarray], scale: int, blocks: int, channels: int, where: str) -> PlainNet:
    """A checked PlainNet from a state dict of arrays (PresetError naming `where` when it does not fit)."""
    check_weight_shapes({k: tuple(v.shape) for k, v in state.items()}, scale, blocks, channels, where)
    return PlainNet(scale, blocks, channels, {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()})
