"""Foreach ops whose coefficients are per-member hyperparameters.

A hyperparameter is a Python float (the same for every member) or a tensor of shape [K]
(one value per member). Every tensor in a rule's list has the population size K as its
leading dimension, so a [K] coefficient is viewed as [K, 1, …, 1] to broadcast against it.
Floats keep torch's scalar fast paths. The ops work in place and allocate as few
full-size temporaries as they can: on a CPU, a fresh multi-megabyte buffer costs several
times the arithmetic done in it.
"""

from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor

Hyper = float | Tensor


def per_member(value: Hyper, tensors: Sequence[Tensor]) -> float | list[Tensor]:
    """`value` as a foreach operand: a float stays a float; a [K] tensor becomes one
    [K, 1, …, 1] view per tensor (c_k applies to every entry of member k's row)."""
    if not isinstance(value, Tensor):
        return value
    return [_column(value, t.dim()) for t in tensors]


@lru_cache(maxsize=256)
def _column(value: Tensor, dim: int) -> Tensor:
    """A [K] tensor viewed as [K, 1, …, 1] with `dim` dimensions. Cached by the tensor's
    identity (the cache holds it, so its id is not reused): a population makes its
    hyperparameter tensors once an epoch and every step uses them, where a fresh view
    per tensor and step is a dispatch each."""
    return value.view(-1, *([1] * (dim - 1)))


def is_zero(value: Hyper) -> bool:
    """Whether a hyperparameter is the float 0 (a [K] tensor never is: its members may
    differ, and a rule must not branch on its values)."""
    return not isinstance(value, Tensor) and value == 0


# `sign` = −1 makes a descent step by a learning rate a: negating a [K] tensor instead
# would make a new one every step.


def add_scaled_(ys: list[Tensor], a: Hyper, xs: list[Tensor], sign: float = 1.0) -> None:
    """y ← y + sign·a·x in place; nothing when a is the float 0."""
    if isinstance(a, Tensor):
        torch._foreach_addcmul_(ys, xs, per_member(a, xs), value=sign)
    elif not is_zero(a):
        torch._foreach_add_(ys, xs, alpha=sign * a)


def scale_add_(ys: list[Tensor], a: Hyper, xs: list[Tensor]) -> None:
    """y ← a·y + x in place, one pass over each tensor (torch.addcmul into y) where a
    scale of y and then an add read and write y twice: once a population's parameters
    outgrow the cache its update is bound by memory (K=64 hidden-512 digits MLPs at
    batch 32, momentum: 147 → 157 GFLOP/s a step, bench/population.py (b), 2026-12-02).
    Per tensor: torch has no foreach op with an output."""
    if isinstance(a, Tensor):
        for y, x, column in zip(ys, xs, per_member(a, ys), strict=True):
            torch.addcmul(x, y, column, out=y)
    else:
        for y, x in zip(ys, xs, strict=True):
            torch.add(x, y, alpha=a, out=y)


def add_quotient_(
    ys: list[Tensor], a: Hyper, xs: list[Tensor], zs: list[Tensor], sign: float = 1.0
) -> None:
    """y ← y + sign·a·x/z in place. `zs` is scratch: a [K] `a` is divided into it."""
    if isinstance(a, Tensor):
        torch._foreach_div_(zs, per_member(a, zs))
        torch._foreach_addcdiv_(ys, xs, zs, value=sign)
    else:
        torch._foreach_addcdiv_(ys, xs, zs, value=sign * a)


def decay_(params: list[Tensor], rate: Hyper) -> None:
    """w ← (1 − rate)·w in place; nothing when rate is the float 0."""
    if not is_zero(rate):
        torch._foreach_mul_(params, per_member(1 - rate, params))


def coupled_decay(grads: list[Tensor], params: list[Tensor], weight_decay: Hyper) -> list[Tensor]:
    """g + λ·w as new tensors (the L2 penalty folded into the gradient, as torch.optim does);
    `grads` itself when λ is the float 0."""
    if is_zero(weight_decay):
        return grads
    if isinstance(weight_decay, Tensor):
        return torch._foreach_addcmul(grads, params, per_member(weight_decay, params))
    return torch._foreach_add(grads, params, alpha=weight_decay)


def ema_square_(avgs: list[Tensor], decay: Hyper, xs: list[Tensor]) -> list[Tensor]:
    """s ← ρ·s + (1 − ρ)·x² in place on `avgs`; returns √s as new tensors."""
    torch._foreach_mul_(avgs, per_member(decay, avgs))
    if not isinstance(decay, Tensor):
        torch._foreach_addcmul_(avgs, xs, xs, value=1 - decay)
        return torch._foreach_sqrt(avgs)
    root = torch._foreach_mul(xs, per_member(1 - decay, xs))  # reused for √s: one temporary
    torch._foreach_addcmul_(avgs, root, xs)
    torch._foreach_copy_(root, avgs)
    torch._foreach_sqrt_(root)
    return root
