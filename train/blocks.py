"""RepSR training blocks and the frozen-BN mode.

Each multi-branch block reports the (kernel, bias) of its single 3x3 conv equivalent through
`equivalent_kernel_bias()`; `train.merge` sums nothing itself, it only asks the blocks.
Merge algebra (exact for 3x3 -> BN -> 1x1, zero padding needs no border fix):
  BN into 3x3:   t = gamma / sqrt(var + eps);  K' = K * t;  b' = beta + t * (b - mean)
  1x1 after 3x3: K[o, i] = sum_j W[o, j] K'[j, i];  b = W b' + b1
  identity:      1 at the centre tap of channel i -> i
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Protocol, cast, get_args, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrizations

Norm = Literal["bn", "wn", "none"]
NORMS: tuple[Norm, ...] = get_args(Norm)


@runtime_checkable
class Reparameterizable(Protocol):
    """A block that can report its exact single-conv equivalent (before its activation `act`)."""

    act: nn.PReLU

    def equivalent_kernel_bias(self) -> tuple[Tensor, Tensor]: ...


# --- merge helpers ----------------------------------------------------------------------------
# They take a dtype: float64 without autograd for the exported merge (matches to ~1e-7), or the
# training dtype with autograd for the merged forward of a linear block (see RepSRBlock.forward).


def conv_kernel_bias(conv: nn.Conv2d, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """A conv's kernel and bias; a weight-normalized conv yields its effective g * v / |v| weight."""
    kernel = conv.weight.to(dtype)
    bias = conv.bias.to(dtype) if conv.bias is not None else kernel.new_zeros(kernel.shape[0])
    return kernel, bias


def fold_batch_norm(kernel: Tensor, bias: Tensor, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Fold BN with population statistics into the preceding conv."""
    assert bn.running_mean is not None and bn.running_var is not None
    dtype = kernel.dtype
    mean, var = bn.running_mean.to(dtype), bn.running_var.to(dtype)
    gamma = bn.weight.to(dtype) if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.to(dtype) if bn.bias is not None else torch.zeros_like(mean)
    t = gamma / torch.sqrt(var + bn.eps)
    return kernel * t.reshape(-1, 1, 1, 1), beta + t * (bias - mean)


def squeeze_after(kernel: Tensor, bias: Tensor, squeeze: nn.Conv2d) -> tuple[Tensor, Tensor]:
    """Compose a 1x1 conv applied after a 3x3 conv into one 3x3 conv."""
    weight, bias1 = conv_kernel_bias(squeeze, kernel.dtype)
    weight = weight[:, :, 0, 0]
    return torch.einsum("oj,jikl->oikl", weight, kernel), weight @ bias + bias1


def identity_kernel(channels: int, like: Tensor) -> Tensor:
    kernel = torch.zeros(channels, channels, 3, 3, dtype=like.dtype, device=like.device)
    kernel[torch.arange(channels), torch.arange(channels), 1, 1] = 1
    return kernel


# --- frozen BN ------------------------------------------------------------------------------


class FreezableBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that, once frozen, normalizes with population statistics even in train mode.

    The mode is a persistent buffer, not `self.training`, so `model.train()` cannot undo it and it
    travels with checkpoints. While frozen, gamma and beta keep learning; the statistics do not move.
    forward() reads a plain bool mirror of the buffer, so torch.compile sees no tensor-to-bool
    graph break; the mirror is refreshed whenever the buffer is set or loaded.
    """

    frozen: Tensor  # the persistent mode (a buffer)

    def __init__(self, num_features: int) -> None:
        super().__init__(num_features)
        self.register_buffer("frozen", torch.tensor(False))
        self._frozen = False

    def set_frozen(self, frozen: bool) -> None:
        self.frozen.fill_(frozen)
        self._frozen = bool(frozen)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._frozen = bool(self.frozen)

    def forward(self, x: Tensor) -> Tensor:
        if self._frozen:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


def set_bn_frozen(model: nn.Module, frozen: bool = True) -> int:
    """Switch every FreezableBatchNorm2d of `model`; returns how many were switched."""
    layers = [m for m in model.modules() if isinstance(m, FreezableBatchNorm2d)]
    for layer in layers:
        layer.set_frozen(frozen)
    return len(layers)


def is_bn_frozen(model: nn.Module) -> bool:
    layers = [m for m in model.modules() if isinstance(m, FreezableBatchNorm2d)]
    return bool(layers) and all(m._frozen for m in layers)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[Tensor]) -> int:
    """Re-estimate exact population statistics over `batches` with the current weights.

    Why not keep the running averages: with momentum 0.1 they weigh mostly the last ~10 batches,
    computed with older weights, so at the switch they lag the network. Averaging fresh batch
    statistics over N batches with the weights held still gives the population statistics the
    frozen phase (and the merged net) will actually use. Returns the number of batches seen.
    """
    layers = [m for m in model.modules() if isinstance(m, FreezableBatchNorm2d)]
    saved = [(m.momentum, bool(m.frozen)) for m in layers]
    was_training = model.training
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches below
        layer.set_frozen(False)
    model.train()
    seen = 0
    for batch in batches:
        model(batch)
        seen += 1
    for layer, (momentum, frozen) in zip(layers, saved, strict=True):
        layer.momentum = momentum
        layer.set_frozen(frozen)
    model.train(was_training)
    return seen


# --- the RepSR block ------------------------------------------------------------------------


class ExpandSqueeze(nn.Module):
    """conv3x3 (C -> E*C), norm, conv1x1 (E*C -> C): one path of a RepSR block."""

    def __init__(self, channels: int, expansion: int, norm: Norm) -> None:
        super().__init__()
        hidden = channels * expansion
        self.expand = nn.Conv2d(channels, hidden, 3, padding=1, bias=norm != "bn")
        self.norm: nn.Module = FreezableBatchNorm2d(hidden) if norm == "bn" else nn.Identity()
        self.squeeze = nn.Conv2d(hidden, channels, 1)
        if norm == "wn":
            parametrizations.weight_norm(self.expand)
            parametrizations.weight_norm(self.squeeze)

    def forward(self, x: Tensor) -> Tensor:
        return self.squeeze(self.norm(self.expand(x)))

    @property
    def is_linear(self) -> bool:
        """True unless BN still normalizes with mini-batch statistics (which depend on the batch)."""
        return not isinstance(self.norm, FreezableBatchNorm2d) or self.norm._frozen

    def kernel_bias(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        kernel, bias = conv_kernel_bias(self.expand, dtype)
        if isinstance(self.norm, nn.BatchNorm2d):
            kernel, bias = fold_batch_norm(kernel, bias, self.norm)
        return squeeze_after(kernel, bias, self.squeeze)


class RepSRBlock(nn.Module):
    """Identity + two expand-and-squeeze paths, summed, then PReLU; merges into conv3x3 + PReLU."""

    def __init__(self, channels: int, expansion: int = 2, norm: Norm = "bn") -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm {norm!r} is not one of {NORMS}")
        if expansion < 1:
            raise ValueError(f"expansion must be >= 1, not {expansion}")
        self.channels = channels
        self.branches = nn.ModuleList(ExpandSqueeze(channels, expansion, norm) for _ in range(2))
        self.act = nn.PReLU(channels)

    def forward(self, x: Tensor) -> Tensor:
        if all(branch.is_linear for branch in self.branches):
            # Frozen BN (or no BN): the block is one linear map, so run it as the single conv it
            # merges into. Same function and same parameter gradients (autograd goes through the
            # merge algebra), at the cost of a plain conv: about 3x faster steps on a CPU.
            kernel, bias = self.kernel_bias(x.dtype)
            return self.act(F.conv2d(x, kernel, bias, padding=1))
        return self.act(self.branch_sum(x))

    def branch_sum(self, x: Tensor) -> Tensor:
        """The multi-branch form before the activation: identity plus both paths."""
        out = x
        for branch in self.branches:
            out = out + branch(x)
        return out

    def kernel_bias(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        parts = [cast(ExpandSqueeze, branch).kernel_bias(dtype) for branch in self.branches]
        kernel = sum((k for k, _ in parts), identity_kernel(self.channels, parts[0][0]))
        bias = sum((b for _, b in parts), torch.zeros_like(parts[0][1]))
        return kernel, bias

    @torch.no_grad()
    def equivalent_kernel_bias(self) -> tuple[Tensor, Tensor]:
        return self.kernel_bias(torch.float64)
