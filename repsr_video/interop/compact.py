"""Real-ESRGAN's SRVGGNetCompact ("Compact") <-> our deploy SRNet, exactly.

Compact keeps everything in one `body` list: conv(3->F), PReLU(F), n x [conv(F->F), PReLU(F)],
conv(F->3s^2); then pixel shuffle and `out += nearest(x)`. SRNet is the same computation with named
parts (head, head_act, body, tail) and the same order of operations (residual + nearest), so a
Compact net maps onto SRNet(scale=s, blocks=n, channels=F) with identical outputs: only the keys
change. Compact's ReLU and LeakyReLU variants have no activation weights, so which of the two a file
holds cannot be told from it; they are refused rather than guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError, OutputError
from ..network import SCALES, SRNet
from ..output import atomic_write

_BODY_KEY = re.compile(r"^body\.(\d+)\.(weight|bias)$")


@dataclass(frozen=True)
class CompactShape:
    features: int  # num_feat
    convs: int  # num_conv: the conv+PReLU pairs between the first and the last conv
    scale: int


def looks_like_compact(state: dict[str, torch.Tensor]) -> bool:
    """Every key is body.<i>.weight/bias and body.0 is a conv: Compact's layout, whatever its activation."""
    return all(_BODY_KEY.match(k) for k in state) and getattr(state.get("body.0.weight"), "ndim", 0) == 4


def compact_shape(state: dict[str, torch.Tensor], source: Path, scale: int | None = None) -> CompactShape:
    """Read F, n and s from the tensors, checking every one; InputError naming `source` if it does not fit."""
    indices = sorted({int(_BODY_KEY.match(k).group(1)) for k in state})  # type: ignore[union-attr]
    last = indices[-1]
    if indices != list(range(last + 1)):
        raise InputError(f"{source}: Compact layout without PReLU weights (a ReLU/LeakyReLU variant, or damaged); "
                         "only PReLU Compact models are supported")
    if last % 2 or last < 2:
        raise InputError(f"{source}: Compact layout with {last + 1} layers cannot end in a conv")
    head = state["body.0.weight"]
    features, channels_in = head.shape[0], head.shape[1]
    if channels_in != 3:
        raise InputError(f"{source}: the model takes {channels_in} input channel(s); only RGB (3) is supported")
    out_channels = state[f"body.{last}.weight"].shape[0]
    found = round((out_channels / 3) ** 0.5)
    if out_channels % 3 or found * found * 3 != out_channels or found not in SCALES:
        raise InputError(f"{source}: last conv has {out_channels} outputs, not 3 x scale^2 for a scale in {SCALES}")
    if scale is not None and scale != found:
        raise InputError(f"{source}: the weights upscale x{found}, not x{scale} as --scale says")
    shape = CompactShape(features, (last - 2) // 2, found)
    _check_tensors(state, shape, source)
    return shape


def _expected_shapes(shape: CompactShape) -> dict[str, tuple[int, ...]]:
    f, last = shape.features, 2 * shape.convs + 2
    expected: dict[str, tuple[int, ...]] = {}
    for i in range(0, last + 1, 2):
        c_in = 3 if i == 0 else f
        c_out = 3 * shape.scale**2 if i == last else f
        expected |= {f"body.{i}.weight": (c_out, c_in, 3, 3), f"body.{i}.bias": (c_out,)}
        if i != last:
            expected[f"body.{i + 1}.weight"] = (f,)
    return expected


def _check_tensors(state: dict[str, torch.Tensor], shape: CompactShape, source: Path) -> None:
    expected = _expected_shapes(shape)
    for key, want in expected.items():
        got = tuple(state[key].shape) if key in state else None
        if got != want and not (key.endswith(".weight") and len(want) == 1 and got == (1,)):  # PReLU(1) broadcasts
            size = f"{shape.features}nf {shape.convs}nc x{shape.scale}"
            raise InputError(f"{source}: {key} has shape {got}, expected {want} for Compact {size}")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise InputError(f"{source}: unexpected tensor(s) for a Compact model: {', '.join(extra[:3])}")
    if not all(t.is_floating_point() for t in state.values()):
        raise InputError(f"{source}: Compact weights must be floating point")


def _srnet_key(index: int, kind: str, convs: int) -> str:
    """Compact's body.<index> -> SRNet's key: body.0/1 head/head_act, body.2 ... the body, the last the tail."""
    if index == 0:
        return f"head.{kind}"
    if index == 1:
        return "head_act.weight"
    if index == 2 * convs + 2:
        return f"tail.{kind}"
    return f"body.{index - 2}.{kind}"


def compact_to_srnet(state: dict[str, torch.Tensor], source: Path, scale: int | None = None) -> SRNet:
    """The SRNet computing exactly what SRVGGNetCompact computes with these weights (float32, eval)."""
    shape = compact_shape(state, source, scale)
    net = SRNet(shape.scale, shape.convs, shape.features)
    mapped = {}
    for key, tensor in state.items():
        match = _BODY_KEY.match(key)
        index, kind = int(match.group(1)), match.group(2)  # type: ignore[union-attr]
        value = tensor.detach().to(torch.float32)
        if index % 2:
            value = value.expand(shape.features).clone()  # PReLU(1) -> one slope per channel, same values
        mapped[_srnet_key(index, kind, shape.convs)] = value
    net.load_state_dict(mapped)
    return net.eval()


def srnet_to_compact(net: SRNet) -> dict[str, torch.Tensor]:
    """SRNet weights under SRVGGNetCompact's keys (float32, contiguous, CPU)."""
    compact = {}
    for key, tensor in net.state_dict().items():
        part, _, rest = key.partition(".")
        if part == "head":
            new = f"body.0.{rest}"
        elif part == "head_act":
            new = "body.1.weight"
        elif part == "tail":
            new = f"body.{2 * net.blocks + 2}.{rest}"
        else:  # body.<i>.<kind>
            index, kind = rest.split(".")
            new = f"body.{int(index) + 2}.{kind}"
        compact[new] = tensor.detach().to("cpu", torch.float32).contiguous()
    return compact


COMPACT_SUFFIXES = (".pth", ".safetensors")


def export_compact(net: SRNet, path: Path | str, *, fp16: bool = False, check: Callable[[Path], None] | None = None) -> Path:
    """Write `net` as a Compact model: .pth as Real-ESRGAN saves it ({"params": state}), or a bare
    .safetensors state dict; both load in spandrel (and chaiNNer) as SRVGGNetCompact.
    `check(partial_path)` runs on the written file before it is renamed into place."""
    path = Path(path)
    if path.suffix.lower() not in COMPACT_SUFFIXES:
        raise OutputError(f"{path}: a Compact model is written as {' or '.join(COMPACT_SUFFIXES)}")
    state = srnet_to_compact(net)
    if fp16:
        state = {k: v.half() for k, v in state.items()}
    with atomic_write(path) as partial:
        if path.suffix.lower() == ".pth":
            torch.save({"params": state}, partial)
        else:
            from safetensors.torch import save_file

            save_file(state, str(partial), metadata={"format": "pt", "architecture": "SRVGGNetCompact"})
        if check is not None:
            check(partial)
    return path
