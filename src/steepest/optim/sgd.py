"""Vanilla stochastic gradient descent, torch.optim.SGD with momentum=0.

    g ← g + λ·w;  w ← w − α·g

Hyperparameters (float or [K] tensor): lr α, weight_decay λ.
"""

from collections.abc import Mapping

from torch import Tensor

from steepest.optim.foreach import Hyper, add_scaled_, coupled_decay
from steepest.optim.state import State

DEFAULTS: dict[str, float] = {"lr": 1e-3, "weight_decay": 0.0}


def init(params: list[Tensor]) -> State:
    """SGD keeps no state."""
    return {}


def update(
    grads: list[Tensor], state: State, params: list[Tensor], hp: Mapping[str, Hyper]
) -> None:
    """w ← w − α·(g + λ·w), in place on `params`."""
    add_scaled_(params, -hp["lr"], coupled_decay(grads, params, hp["weight_decay"]))
