"""Foreach ops whose coefficients are per-member hyperparameters.

A hyperparameter is a Python float (the same for every member) or a tensor of shape [K]
(one value per member). Every tensor in a rule's list has the population size K as its
leading dimension, so a [K] coefficient is viewed as [K, 1, …, 1] to broadcast against it.
Floats keep torch's scalar fast paths (one fused foreach kernel per op).
"""

from collections.abc import Sequence

import torch
from torch import Tensor

Hyper = float | Tensor


def per_member(value: Hyper, tensors: Sequence[Tensor]) -> float | list[Tensor]:
    """`value` as a foreach operand: a float stays a float; a [K] tensor becomes one
    [K, 1, …, 1] view per tensor (c_k applies to every entry of member k's row)."""
    if not isinstance(value, Tensor):
        return value
    views = {t.dim(): value.view(-1, *([1] * (t.dim() - 1))) for t in tensors}
    return [views[t.dim()] for t in tensors]


def add_scaled_(ys: list[Tensor], a: Hyper, xs: list[Tensor]) -> None:
    """y ← y + a·x, in place on `ys`."""
    if isinstance(a, Tensor):
        torch._foreach_addcmul_(ys, xs, per_member(a, xs))
    else:
        torch._foreach_add_(ys, xs, alpha=a)


def add_product_(ys: list[Tensor], a: Hyper, xs: list[Tensor], zs: list[Tensor]) -> None:
    """y ← y + a·x·z, in place on `ys`."""
    if isinstance(a, Tensor):
        torch._foreach_addcmul_(ys, torch._foreach_mul(xs, per_member(a, xs)), zs)
    else:
        torch._foreach_addcmul_(ys, xs, zs, value=a)


def add_quotient_(ys: list[Tensor], a: Hyper, xs: list[Tensor], zs: list[Tensor]) -> None:
    """y ← y + a·x/z, in place on `ys`."""
    if isinstance(a, Tensor):
        torch._foreach_addcdiv_(ys, torch._foreach_mul(xs, per_member(a, xs)), zs)
    else:
        torch._foreach_addcdiv_(ys, xs, zs, value=a)


def plus_scaled(xs: list[Tensor], a: Hyper, ys: list[Tensor]) -> list[Tensor]:
    """x + a·y as new tensors."""
    if isinstance(a, Tensor):
        return torch._foreach_addcmul(xs, ys, per_member(a, ys))
    return torch._foreach_add(xs, ys, alpha=a)


def coupled_decay(grads: list[Tensor], params: list[Tensor], weight_decay: Hyper) -> list[Tensor]:
    """g + λ·w as new tensors (the L2 penalty folded into the gradient, as torch.optim does);
    `grads` itself when λ is the float 0."""
    if not isinstance(weight_decay, Tensor) and weight_decay == 0:
        return grads
    return plus_scaled(grads, weight_decay, params)
