"""AdamW (Loshchilov & Hutter 2019), torch.optim.AdamW: Adam with decoupled weight decay.

    w ← w − α·λ·w;  then Adam without weight decay (`steepest.optim.adam`)

The decay shrinks the weights directly instead of entering g, so it is not rescaled by
Adam's per-entry step sizes. Defaults are PyTorch's (λ = 1e-2).

Hyperparameters (float or [K] tensor): lr α, beta1 β1, beta2 β2, eps ε, weight_decay λ.
"""

from collections.abc import Mapping

from torch import Tensor

from steepest.optim import adam
from steepest.optim.foreach import Hyper, decay_
from steepest.optim.state import State

DEFAULTS: dict[str, float] = {**adam.DEFAULTS, "weight_decay": 1e-2}
init = adam.init


def update(
    grads: list[Tensor], state: State, params: list[Tensor], hp: Mapping[str, Hyper]
) -> None:
    """w ← (1 − α·λ)·w, then the Adam step with λ = 0, in place."""
    decay_(params, hp["lr"] * hp["weight_decay"])
    adam.update(grads, state, params, {**hp, "weight_decay": 0.0})
