"""Random local search, the notes' baseline before gradients (CS231n, "strategy #2").

    repeat N times:  w' = w + σ·z,  z ~ N(0, I);  if L(w') < L(w): w ← w'

Each member keeps its own improvements (the loss function returns one loss per member).
Hyperparameters: lr σ (float or [K] tensor), tries N. Draws come from `steepest.rng`, so
member k's search depends only on its key, as when it runs alone.
"""

import math
from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from steepest import rng
from steepest.optim.foreach import Hyper, per_member


def normal(keys: Tensor, n: int) -> Tensor:
    """[K, n] float32 N(0, 1) draws, row k from keys[k] only, by Box–Muller on hashed
    uniforms: z = √(−2·ln(1 − u₁))·cos(2π·u₂)  (1 − u₁ ∈ (0, 1], so the log is finite)."""
    u1, u2 = rng.uniform(keys.view(1, -1, 1), (2, 1, n)).unbind(0)
    return torch.sqrt(-2 * torch.log1p(-u1)) * torch.cos(2 * math.pi * u2)


def step(
    params: list[Tensor],
    loss_fn: Callable[[list[Tensor]], Tensor],
    hp: Mapping[str, Hyper],
    key: Tensor,
) -> Tensor:
    """Try hp["tries"] perturbations of scale hp["lr"], keeping each member's improvements
    in `params` in place; returns the members' losses [K] at the kept weights.

    `key` holds one 32-bit key per member, shape [K] (e.g. ``rng.derive_key(seeds, step)``).
    """
    with torch.no_grad():
        losses = loss_fn(params)
        for attempt in range(int(hp["tries"])):
            trial = [
                normal(rng.derive_key(key, attempt, i), p[0].numel()).to(p.dtype).view(p.shape)
                for i, p in enumerate(params)
            ]
            torch._foreach_mul_(trial, per_member(hp["lr"], trial))
            torch._foreach_add_(trial, params)
            trial_losses = loss_fn(trial)
            better = trial_losses < losses
            for p, t, keep in zip(params, trial, per_member(better, params), strict=True):
                p.copy_(torch.where(keep, t, p))
            losses = torch.where(better, trial_losses, losses)
    return losses
