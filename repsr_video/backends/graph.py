"""The whole per-batch computation as one module: integer NHWC frames -> net -> integer NHWC frames.

Keeping the conversions inside the module lets torch.compile fuse them with the net, and on CUDA it
means uint8/uint16 frames cross the bus as integers and become floats on the GPU.

16-bit frames travel as int16 (a bit-for-bit view of uint16): torch's uint16 support is partial on
some devices, while int16 -> int32 and back is supported everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..choices import PrecisionName
from ..network import SRNet

# Frame dtypes the engine accepts, with the torch dtype they travel as and their full-scale value.
WIRE_DTYPES = {"uint8": (torch.uint8, 255.0), "uint16": (torch.int16, 65535.0)}

# The dtype the net's residual runs in, per engine precision (every backend compiles for this one).
COMPUTE_DTYPES: dict[PrecisionName, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Residual(nn.Module):
    """SRNet without its global skip: the learned residual, which is small in magnitude.

    Running only this part in bf16/fp16 and adding the nearest-upsampled input in fp32 keeps the
    low-precision rounding error proportional to the residual, not to the pixel value.
    """

    def __init__(self, net: SRNet) -> None:
        super().__init__()
        self.head, self.head_act, self.body, self.tail = net.head, net.head_act, net.body, net.tail
        self.scale = net.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.tail(self.body(self.head_act(self.head(x)))), self.scale)


def to_float(raw: torch.Tensor, full_scale: float) -> torch.Tensor:
    """(N,H,W,3) uint8 or int16-as-uint16 -> (N,3,H,W) float32 in [0, 1], channels_last memory."""
    values = raw.to(torch.int32) & 0xFFFF if raw.dtype == torch.int16 else raw
    # permute of a contiguous NHWC tensor *is* NCHW in channels_last layout: no copy here.
    return values.permute(0, 3, 1, 2).to(torch.float32) / full_scale


def to_wire(image: torch.Tensor, wire_dtype: torch.dtype, full_scale: float) -> torch.Tensor:
    """(N,3,H,W) float -> (N,H,W,3) integer frames; NaN -> 0, +-inf and out-of-range clamped."""
    image = torch.nan_to_num(image.float(), nan=0.0, posinf=1.0, neginf=0.0).clamp(0.0, 1.0)
    levels = torch.round(image * full_scale).to(torch.int32).permute(0, 2, 3, 1)
    if wire_dtype == torch.int16:
        levels = torch.where(levels > 32767, levels - 65536, levels)
    return levels.to(wire_dtype).contiguous()


ResidualFn = Callable[[torch.Tensor], torch.Tensor]


class FrameGraph(nn.Module):
    """raw frames -> (upscaled raw frames, all_finite flag).

    `residual` is any callable computing SRNet's residual on (N,3,H,W) in `compute_dtype`
    (a Residual module, or a TensorRT/compiled module of one). The skip connection and the
    conversions run in fp32. The flag is False when the low-precision residual overflowed, so the
    engine can recompute that batch in fp32 instead of writing NaN (black) pixels.
    With skip=False, `residual` computes the whole image (a foreign net, which has no separate skip:
    repsr_video/interop/foreign.py) and nothing is added to it.
    """

    def __init__(
        self,
        residual: ResidualFn,
        scale: int,
        compute_dtype: torch.dtype,
        wire_dtype: torch.dtype,
        full_scale: float,
        skip: bool = True,
    ) -> None:
        super().__init__()
        self.residual = residual
        self.skip = skip
        self.scale = scale
        self.compute_dtype = compute_dtype
        self.wire_dtype = wire_dtype
        self.full_scale = full_scale

    def forward(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = to_float(raw, self.full_scale)
        residual = self.residual(x.to(self.compute_dtype)).float()
        finite = torch.isfinite(residual).all()
        image = residual + F.interpolate(x, scale_factor=self.scale, mode="nearest") if self.skip else residual
        return to_wire(image, self.wire_dtype, self.full_scale), finite


# Builds the FrameGraph around a residual callable for one wire dtype (the engine fixes the rest).
GraphFactory = Callable[[ResidualFn, torch.dtype], FrameGraph]
