"""RMSProp (Tieleman & Hinton 2012), torch.optim.RMSprop with centered=False.

    g ← g + λ·w;  s ← ρ·s + (1−ρ)·g²;  b ← μ·b + g/(√s + ε);  w ← w − α·b

ρ is called `rho` here and `alpha` in PyTorch (the notes' "decay rate"); ε sits outside the
square root. Defaults are PyTorch's: ρ = 0.99, ε = 1e-8, μ = 0 (then b = g/(√s + ε)).

Hyperparameters (float or [K] tensor): lr α, rho ρ, eps ε, weight_decay λ, momentum μ.
"""

from collections.abc import Mapping

import torch
from torch import Tensor

from steepest.optim.foreach import (
    Hyper,
    add_quotient_,
    add_scaled_,
    coupled_decay,
    ema_square_,
    is_zero,
    per_member,
)
from steepest.optim.state import State

DEFAULTS: dict[str, float] = {
    "lr": 1e-2,
    "rho": 0.99,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "momentum": 0.0,
}


def init(params: list[Tensor]) -> State:
    """s = 0, b = 0."""
    return {
        "square_avg": [torch.zeros_like(p) for p in params],
        "momentum_buffer": [torch.zeros_like(p) for p in params],
    }


def update(
    grads: list[Tensor], state: State, params: list[Tensor], hp: Mapping[str, Hyper]
) -> None:
    """s ← ρ·s + (1−ρ)·g²;  b ← μ·b + g/(√s + ε);  w ← w − α·b with g = ∇ + λ·w, in place."""
    grads = coupled_decay(grads, params, hp["weight_decay"])
    rms = ema_square_(state["square_avg"], hp["rho"], grads)
    torch._foreach_add_(rms, per_member(hp["eps"], rms))
    if is_zero(hp["momentum"]):
        # b = g/(√s + ε) goes straight into w: the buffer's two passes are skipped, and
        # it stays 0, where a momentum that becomes nonzero later starts from, as in torch.
        add_quotient_(params, hp["lr"], grads, rms, sign=-1.0)
        return
    buffer = state["momentum_buffer"]
    torch._foreach_mul_(buffer, per_member(hp["momentum"], buffer))
    torch._foreach_addcdiv_(buffer, grads, rms)
    add_scaled_(params, hp["lr"], buffer, sign=-1.0)
