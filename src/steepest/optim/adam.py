"""Adam (Kingma & Ba 2015), torch.optim.Adam.

    g ← g + λ·w;  t ← t + 1;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
    w ← w − α/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε)

ε sits outside the square root, as in PyTorch. The step count t is per member (state
``step``, shape [K]) because members join a population at different times. The weight
decay here is PyTorch's coupled L2 (folded into g); `steepest.optim.adamw` decouples it.
AMSGrad is not supported.

Hyperparameters (float or [K] tensor): lr α, beta1 β1, beta2 β2, eps ε, weight_decay λ.
"""

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from steepest.optim.foreach import (
    Hyper,
    add_quotient_,
    coupled_decay,
    ema_square_,
    per_member,
)
from steepest.optim.state import State

DEFAULTS: dict[str, float] = {
    "lr": 1e-3,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.0,
}


def init(params: list[Tensor]) -> State:
    """m = 0, v = 0, t = 0 (t has shape [K], float like torch.optim's step)."""
    first = params[0]
    step_dtype = torch.promote_types(first.dtype, torch.float32)
    return {
        "step": torch.zeros(first.shape[0], dtype=step_dtype, device=first.device),
        "exp_avg": [torch.zeros_like(p) for p in params],
        "exp_avg_sq": [torch.zeros_like(p) for p in params],
    }


def update(
    grads: list[Tensor], state: State, params: list[Tensor], hp: Mapping[str, Hyper]
) -> None:
    """m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  w ← w − α·m̂/(√v̂ + ε), in place."""
    beta1, beta2 = hp["beta1"], hp["beta2"]
    step = state["step"]
    step += 1
    grads = coupled_decay(grads, params, hp["weight_decay"])
    exp_avg = state["exp_avg"]
    # m ← m + (1−β1)·(g − m): one pass over m, as torch.optim.Adam's lerp_, where a scale
    # and an add took two (K=64 update 2.45 → 2.08 ms, bench/optim_step.py (a), and the
    # rounding of torch's own formula)
    torch._foreach_lerp_(exp_avg, grads, per_member(1 - beta1, exp_avg))
    denom = ema_square_(state["exp_avg_sq"], beta2, grads)
    first_correction, second_correction = _bias_corrections(step, beta1, beta2)
    torch._foreach_div_(denom, per_member(second_correction, denom))
    torch._foreach_add_(denom, per_member(hp["eps"], denom))
    add_quotient_(params, hp["lr"] / first_correction, exp_avg, denom, sign=-1.0)


def _bias_corrections(step: Tensor, beta1: Hyper, beta2: Hyper) -> tuple[Hyper, Hyper]:
    """(1 − β1ᵗ, √(1 − β2ᵗ)). Python floats for one member on the CPU with float betas,
    as torch.optim computes them, so every foreach op takes its scalar fast path; [K]
    tensors otherwise (reading t back from a GPU would stall it), computed in float64 as
    the floats are and rounded once: 1 − β2 from a float32 β2 = 0.999 is off by 1.3e-5,
    which made a float32 member of a population step unlike itself alone."""
    if (
        step.numel() == 1
        and step.device.type == "cpu"
        and not isinstance(beta1, Tensor)
        and not isinstance(beta2, Tensor)
    ):
        t = step.item()
        return 1 - beta1**t, math.sqrt(1 - beta2**t)
    t = step.double()
    first = 1 - _float64(beta1) ** t
    second = (1 - _float64(beta2) ** t).sqrt()
    return first.to(step.dtype), second.to(step.dtype)


def _float64(value: Hyper) -> Hyper:
    return value.double() if isinstance(value, Tensor) else value
