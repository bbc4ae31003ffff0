"""Heavy-ball momentum (Polyak 1964) in PyTorch's form, torch.optim.SGD(momentum=μ).

    g ← g + λ·w;  v ← μ·v + g;  w ← w − α·v

The notes (Sutskever et al. 2013, CS231n) write it with the step size inside the velocity:

    u ← μ·u − α·g;  w ← w + u

With α constant the two are the same method: u = −α·v satisfies the second recursion
whenever v satisfies the first. They drift apart when α is annealed: PyTorch's step
α_t·(μ·v + g) rescales the whole accumulated velocity by the new α_t at once, while the
notes' μ·u − α_t·g keeps the past velocity at the step sizes it was built with, so a lower
rate only takes effect as old velocity decays (and momentum can no longer overshoot by
the ratio of old to new rate). steepest uses PyTorch's form so runs compare with
torch.optim; a schedule on lr therefore acts immediately, as in PyTorch.

Hyperparameters (float or [K] tensor): lr α, momentum μ (0.9 by default: PyTorch's
default μ = 0 would make this plain SGD), weight_decay λ. PyTorch's dampening is not
supported (always 0, PyTorch's default).
"""

from collections.abc import Mapping

import torch
from torch import Tensor

from steepest.optim.foreach import Hyper, add_scaled_, scale_add_
from steepest.optim.state import State

DEFAULTS: dict[str, float] = {"lr": 1e-3, "momentum": 0.9, "weight_decay": 0.0}


def init(params: list[Tensor]) -> State:
    """v = 0 (PyTorch starts from v = g at the first step: the same value)."""
    return {"momentum_buffer": [torch.zeros_like(p) for p in params]}


def accumulate(
    grads: list[Tensor], state: State, params: list[Tensor], hp: Mapping[str, Hyper]
) -> list[Tensor]:
    """v ← μ·v + g + λ·w in place in `state`; returns v."""
    velocity = state["momentum_buffer"]
    scale_add_(velocity, hp["momentum"], grads)
    add_scaled_(velocity, hp["weight_decay"], params)
    return velocity


def update(
    grads: list[Tensor], state: State, params: list[Tensor], hp: Mapping[str, Hyper]
) -> None:
    """v ← μ·v + (g + λ·w);  w ← w − α·v, in place on `params` and `state`."""
    add_scaled_(params, hp["lr"], accumulate(grads, state, params, hp), sign=-1.0)
