"""Losses: L = (1/B)·Σ_b ℓ(f_b, y_b), the batch mean of a per-example loss ℓ.

Each loss is written once as its per-example form ℓ (``*_each``: [B] values), which the
population applies to all members' examples at once, flattened to [K·B, …] (one fused
kernel instead of a vmap over members), then averages per member. The public scalar
functions (`mse`, `cross_entropy`, …) are the batch means.

`output` is [B, C] (or [B, 1] / [B] for one-output losses); `target` is [B] class
indices (long) for classification, [B] or [B, D] floats for regression. All are
``vmap``-friendly and differentiable in `output`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from steepest.errors import UserError


def _residual(output: Tensor, target: Tensor, name: str) -> Tensor:
    """r = y − f as [B, D]; a [B] target or output is one column."""
    target = target.to(output.dtype)
    if target.dim() == output.dim() - 1:
        target = target.unsqueeze(-1)
    if target.shape != output.shape:
        raise UserError(
            f"loss {name}: output shape {tuple(output.shape)} does not match "
            f"target shape {tuple(target.shape)}"
        )
    r = target - output
    return r.reshape(r.shape[0], -1)


def mse_each(output: Tensor, target: Tensor) -> Tensor:
    """ℓ = ½·Σ_j (y_j − f_j)².

    The notes' convention: torch's ``MSELoss`` is the mean over all B·D elements without
    the ½, so the batch mean of ours = ½·D·torch's.
    """
    return 0.5 * _residual(output, target, "mse").pow(2).sum(1)


def l1_each(output: Tensor, target: Tensor) -> Tensor:
    """ℓ = Σ_j |y_j − f_j|."""
    return _residual(output, target, "l1").abs().sum(1)


def huber_each(output: Tensor, target: Tensor, delta: float = 1.0) -> Tensor:
    """ℓ = Σ_j h(y_j − f_j),  h(r) = ½r² if |r| ≤ δ else δ·(|r| − ½δ)."""
    r = _residual(output, target, "huber")
    a = r.abs()
    return torch.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)).sum(1)


def cross_entropy_each(output: Tensor, target: Tensor) -> Tensor:
    """ℓ = −log softmax(f)_y = log Σ_j e^{f_j} − f_y (torch's fused kernel)."""
    return F.cross_entropy(output, target.long(), reduction="none")


def hinge_each(output: Tensor, target: Tensor) -> Tensor:
    """Multiclass SVM (Weston–Watkins): ℓ = Σ_{j≠y} max(0, f_j − f_y + 1).

    The j = y term is always max(0, 1) = 1, so ℓ = Σ_j max(0, f_j − f_y + 1) − 1.
    """
    margins = torch.relu(output - _class_score(output, target).unsqueeze(1) + 1.0)
    return margins.sum(1) - 1.0


def logistic_each(output: Tensor, target: Tensor) -> Tensor:
    """Binary, one logit f, y ∈ {0, 1}, s = 2y − 1: ℓ = log(1 + e^{−s·f}) = softplus(−s·f)."""
    f = output.reshape(output.shape[0], -1)
    if f.shape[1] != 1:
        raise UserError(f"loss logistic: expected one logit per example, got {f.shape[1]}")
    sign = 2.0 * target.to(output.dtype) - 1.0
    return F.softplus(-sign * f.squeeze(1))


def batch_mean(each: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """L(f, y) = (1/B)·Σ_b ℓ(f_b, y_b) from a per-example loss ℓ."""

    def mean(output: Tensor, target: Tensor, *args: float, **kwargs: float) -> Tensor:
        return each(output, target, *args, **kwargs).mean()

    mean.__name__ = each.__name__.removesuffix("_each")
    mean.__doc__ = f"Batch mean of `{each.__name__}`: {each.__doc__}"
    return mean


mse = batch_mean(mse_each)
l1 = batch_mean(l1_each)
huber = batch_mean(huber_each)
cross_entropy = batch_mean(cross_entropy_each)
hinge = batch_mean(hinge_each)
logistic = batch_mean(logistic_each)


def _class_score(output: Tensor, target: Tensor) -> Tensor:
    """f_y for each example: [B]."""
    return output.gather(1, target.long().unsqueeze(1)).squeeze(1)


Task = Literal["classification", "regression"]


def _one_output_per(n: int) -> int:
    return n


def _binary(n: int) -> int:
    if n != 2:
        raise UserError(
            f"[train] loss = 'logistic': binary, expected 2 classes, got {n}; "
            "use cross_entropy or hinge"
        )
    return 1


@dataclass(frozen=True)
class LossSpec:
    """A loss, the task it serves and how many outputs it needs for n classes or targets."""

    fn: Callable[..., Tensor]
    each: Callable[..., Tensor]
    task: Task
    outputs: Callable[[int], int]


LOSSES: dict[str, LossSpec] = {
    "mse": LossSpec(mse, mse_each, "regression", _one_output_per),
    "l1": LossSpec(l1, l1_each, "regression", _one_output_per),
    "huber": LossSpec(huber, huber_each, "regression", _one_output_per),
    "cross_entropy": LossSpec(cross_entropy, cross_entropy_each, "classification", _one_output_per),
    "hinge": LossSpec(hinge, hinge_each, "classification", _one_output_per),
    "logistic": LossSpec(logistic, logistic_each, "classification", _binary),
}


def make_loss(
    name: str, huber_delta: float = 1.0, per_example: bool = False
) -> Callable[[Tensor, Tensor], Tensor]:
    """The loss `name` as fn(output, target) → scalar batch mean, or → [B] per-example
    values with `per_example` (huber with δ = `huber_delta`)."""
    if name not in LOSSES:
        raise UserError(f"loss = {name!r}: expected one of {', '.join(LOSSES)}")
    spec = LOSSES[name]
    fn = spec.each if per_example else spec.fn
    if name == "huber":
        if huber_delta <= 0:
            raise UserError(f"huber_delta = {huber_delta!r}: expected a positive number")
        return partial(fn, delta=huber_delta)
    return fn
