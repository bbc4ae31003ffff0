"""The one table every optimizer check runs through: (rule, torch.optim class, kwargs)."""

from dataclasses import dataclass, field
from typing import Any

import torch

import steepest.optim as so
from steepest.optim import RULES

# Random hyperparameters per member: lr and eps as multiples of the rule's default,
# the others drawn in a range where 50 steps stay finite.
MULTIPLES = {"lr": (1.0, 10.0), "eps": (1.0, 100.0)}
RANGES = {
    "momentum": (0.5, 0.95),
    "beta1": (0.8, 0.95),
    "beta2": (0.9, 0.999),
    "rho": (0.8, 0.99),
    "weight_decay": (0.0, 0.1),
}
TORCH_NAMES = {"rho": "alpha"}


@dataclass(frozen=True)
class Case:
    rule: str
    torch_class: type[torch.optim.Optimizer]
    wrapper: type[torch.optim.Optimizer]
    rosenbrock_lr: float
    torch_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self):
        return RULES[self.rule]

    def torch_kwargs(self, hp: dict[str, float]) -> dict[str, Any]:
        """steepest's hyperparameter names → torch.optim's (betas, alpha), for-loop path."""
        kwargs = {TORCH_NAMES.get(k, k): v for k, v in hp.items() if k not in ("beta1", "beta2")}
        if "beta1" in hp:
            kwargs["betas"] = (hp["beta1"], hp["beta2"])
        return {**kwargs, **self.torch_extra, "foreach": False}

    def sample_hp(self, k: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """k random settings of every hyperparameter of the rule, as [k] float64 tensors."""
        hp = {}
        for name, default in self.module.DEFAULTS.items():
            u = torch.rand(k, generator=generator, dtype=torch.float64)
            if name in MULTIPLES:
                low, high = MULTIPLES[name]
                hp[name] = default * low * (high / low) ** u
            else:
                low, high = RANGES[name]
                hp[name] = low + (high - low) * u
        return hp


CASES = [
    Case("sgd", torch.optim.SGD, so.SGD, rosenbrock_lr=3e-3),
    Case("momentum", torch.optim.SGD, so.Momentum, rosenbrock_lr=1e-3),
    Case("nesterov", torch.optim.SGD, so.Nesterov, 1e-3, {"nesterov": True}),
    Case("adagrad", torch.optim.Adagrad, so.Adagrad, rosenbrock_lr=1.0),
    Case("rmsprop", torch.optim.RMSprop, so.RMSprop, rosenbrock_lr=1e-2),
    Case("adam", torch.optim.Adam, so.Adam, rosenbrock_lr=0.1),
    Case("adamw", torch.optim.AdamW, so.AdamW, rosenbrock_lr=0.1),
]
IDS = [case.rule for case in CASES]
