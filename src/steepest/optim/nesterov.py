"""Nesterov momentum in PyTorch's form, torch.optim.SGD(momentum=μ, nesterov=True).

    g ← g + λ·w;  v ← μ·v + g;  w ← w − α·(g + μ·v)

This is the notes' look-ahead update (Sutskever et al. 2013: gradient taken at w + μ·u)
rewritten in the variable w̃ = w + μ·u that is actually stored (Bengio et al. 2012), with
the step size outside the velocity as in `steepest.optim.momentum` (same agreement at
constant α, same drift when α is annealed). Hyperparameters as for `momentum`.
"""

from collections.abc import Mapping

from torch import Tensor

from steepest.optim import momentum
from steepest.optim.foreach import Hyper, add_scaled_, decay_
from steepest.optim.state import State

DEFAULTS: dict[str, float] = momentum.DEFAULTS
init = momentum.init


def update(
    grads: list[Tensor], state: State, params: list[Tensor], hp: Mapping[str, Hyper]
) -> None:
    """v ← μ·v + ∇ + λ·w;  w ← (1 − α·λ)·w − α·∇ − α·μ·v (= w − α·(g + μ·v)), in place."""
    velocity = momentum.accumulate(grads, state, params, hp)
    decay_(params, hp["lr"] * hp["weight_decay"])
    add_scaled_(params, hp["lr"], grads, sign=-1.0)
    add_scaled_(params, hp["lr"] * hp["momentum"], velocity, sign=-1.0)
