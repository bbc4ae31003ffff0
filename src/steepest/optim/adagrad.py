"""Adagrad (Duchi et al. 2011), torch.optim.Adagrad.

    g ← g + λ·w;  s ← s + g²;  w ← w − α·g/(√s + ε)

ε sits outside the square root and defaults to 1e-10, as in PyTorch. PyTorch's lr_decay
(α/(1 + (t−1)·decay) per step) is left to schedules (`inverse_time`, per epoch) and its
initial_accumulator_value is always 0 (PyTorch's default).

Hyperparameters (float or [K] tensor): lr α, eps ε, weight_decay λ.
"""

from collections.abc import Mapping

import torch
from torch import Tensor

from steepest.optim.foreach import Hyper, add_quotient_, coupled_decay, per_member
from steepest.optim.state import State

DEFAULTS: dict[str, float] = {"lr": 1e-2, "eps": 1e-10, "weight_decay": 0.0}


def init(params: list[Tensor]) -> State:
    """s = 0."""
    return {"sum": [torch.zeros_like(p) for p in params]}


def update(
    grads: list[Tensor], state: State, params: list[Tensor], hp: Mapping[str, Hyper]
) -> None:
    """s ← s + g²;  w ← w − α·g/(√s + ε) with g = ∇ + λ·w, in place."""
    grads = coupled_decay(grads, params, hp["weight_decay"])
    total = state["sum"]
    torch._foreach_addcmul_(total, grads, grads)
    std = torch._foreach_sqrt(total)
    torch._foreach_add_(std, per_member(hp["eps"], std))
    add_quotient_(params, hp["lr"], grads, std, sign=-1.0)
