"""Optimizer step cost: steepest's population update and torch.optim wrappers vs torch.optim.

(a) one update of K=64 stacked MLPs (64→128→10, the members' parameters as one [K, P]
    tensor, every hyperparameter a [K] tensor) vs 64 torch.optim foreach steps on 64
    separate models.
    Target: ≥ 10× faster.
(b) steepest.optim.Adam vs torch.optim.Adam(foreach=True) on one 100-tensor model.
    Target: ratio ≤ 1.2.

Run: .venv/bin/python bench/optim_step.py   (under a minute on 2 CPU cores)
"""

import torch
from torch.utils.benchmark import Timer

import steepest.optim as so
from steepest.optim import RULES

K = 64


def mlp() -> torch.nn.Module:
    """One member of (a): 64 → 128 → 10, ReLU."""
    return torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def seconds(fn, min_run_time: float = 2.0) -> float:
    """Median seconds per call of `fn`."""
    return Timer("fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).median


def with_grads(model: torch.nn.Module) -> torch.nn.Module:
    """`model`, each parameter given a random gradient for the optimizers to step on."""
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    return model


def population_vs_loop(rule: str, torch_class: type, kwargs: dict) -> None:
    """Every hyperparameter of the population is a [K] tensor, as the population holds them."""
    models = [with_grads(mlp()) for _ in range(K)]
    optimizers = [torch_class(m.parameters(), foreach=True, **kwargs) for m in models]
    with torch.no_grad():
        flat = torch.stack([torch.nn.utils.parameters_to_vector(m.parameters()) for m in models])
    grad = torch.randn_like(flat)
    module = RULES[rule]
    state = module.init([flat])
    hp = {**module.DEFAULTS, **kwargs}
    per_member = {name: torch.full((K,), value) for name, value in hp.items()}

    def population() -> None:
        module.update([grad], state, [flat], per_member)

    def loop() -> None:
        for opt in optimizers:
            opt.step()

    ours, theirs = seconds(population), seconds(loop)
    print(
        f"(a) {rule:8s} K={K} P={flat.shape[1]}: population {ours * 1e6:8.1f} us, "
        f"{K} torch.optim steps {theirs * 1e6:8.1f} us   ratio {theirs / ours:6.1f}x faster "
        f"(target >= 10x)"
    )


def wrapper_vs_torch() -> None:
    torch.manual_seed(0)
    model = with_grads(torch.nn.Sequential(*(torch.nn.Linear(64, 64) for _ in range(50))))
    twin = with_grads(torch.nn.Sequential(*(torch.nn.Linear(64, 64) for _ in range(50))))
    ours = so.Adam(model.parameters(), lr=1e-3)
    theirs = torch.optim.Adam(twin.parameters(), lr=1e-3, foreach=True)
    n = len(list(model.parameters()))
    ours_s, theirs_s = seconds(ours.step), seconds(theirs.step)
    print(
        f"(b) Adam, {n}-tensor model: steepest.optim.Adam {ours_s * 1e6:8.1f} us, "
        f"torch.optim.Adam(foreach) {theirs_s * 1e6:8.1f} us   ratio {ours_s / theirs_s:5.2f} "
        f"(target <= 1.2)"
    )


if __name__ == "__main__":
    torch.manual_seed(0)
    population_vs_loop("momentum", torch.optim.SGD, {"lr": 0.01, "momentum": 0.9})
    population_vs_loop("adam", torch.optim.Adam, {"lr": 1e-3})
    wrapper_vs_torch()
