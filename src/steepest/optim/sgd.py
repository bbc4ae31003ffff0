"""Vanilla stochastic gradient descent, torch.optim.SGD with momentum=0.

    g ← g + λ·w;  w ← w − α·g

computed as w ← (1 − α·λ)·w − α·g, the same step without a temporary for g + λ·w.

Hyperparameters (float or [K] tensor): lr α, weight_decay λ.
"""

from collections.abc import Mapping

from torch import Tensor

from steepest.optim.foreach import Hyper, add_scaled_, decay_
from steepest.optim.state import State

DEFAULTS: dict[str, float] = {"lr": 1e-3, "weight_decay": 0.0}


def init(params: list[Tensor]) -> State:
    """SGD keeps no state."""
    return {}


def update(
    grads: list[Tensor], state: State, params: list[Tensor], hp: Mapping[str, Hyper]
) -> None:
    """w ← w − α·(g + λ·w), in place on `params`."""
    decay_(params, hp["lr"] * hp["weight_decay"])
    add_scaled_(params, hp["lr"], grads, sign=-1.0)
