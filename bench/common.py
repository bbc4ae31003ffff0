"""Shared pieces of the benchmarks: the digits data and a plain PyTorch reference loop."""

import time
from collections.abc import Callable

import torch
from torch import nn

from steepest.config import DataConfig, Experiment
from steepest.data import Dataset, load_dataset
from steepest.fit import MemberList, Monitor, PopulationTrainer, fit
from steepest.training import build_population, make_member, task_for


def digits() -> Dataset:
    """scikit-learn's digits, standardised, split 70/15/15 as `steepest train` does."""
    return load_dataset(DataConfig(name="digits"))


def plain_mlp(inputs: int, hidden: int, outputs: int, seed: int) -> nn.Module:
    """The reference network: Linear → ReLU → Linear, He-initialised, zero biases."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs))
    for layer in (model[0], model[2]):
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
    return model


def plain_epoch(model: nn.Module, opt: torch.optim.Optimizer, x, y, batch: int, seed: int) -> float:
    """One epoch of the loop most people write: randperm, slice, forward, backward, step."""
    model.train()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    total = 0.0
    for start in range(0, len(x), batch):
        index = order[start : start + batch]
        loss = nn.functional.cross_entropy(model(x[index]), y[index])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.item() * len(index)
    return total / len(x)


@torch.no_grad()
def plain_accuracy(model: nn.Module, x, y) -> float:
    model.eval()
    return (model(x).argmax(1) == y).float().mean().item()


def plain_trial(
    data: Dataset,
    lr: float,
    momentum: float,
    weight_decay: float,
    epochs: int,
    seed: int,
    hidden: int = 128,
    report: Callable[[float, int], bool] | None = None,
) -> float:
    """A whole trial the plain way; returns the best validation accuracy. `report(value,
    epoch)` returning True stops it (an Optuna pruning hook)."""
    model = plain_mlp(data.x_train.shape[1], hidden, len(data.class_names), seed)
    opt = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=True
    )
    return plain_fit(model, opt, data, epochs, seed, report)


def plain_fit(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    data: Dataset,
    epochs: int,
    seed: int,
    report: Callable[[float, int], bool] | None = None,
) -> float:
    """Train `model` for `epochs` (batch 32), validating after each; returns the best
    validation accuracy. `report(value, epoch)` returning True stops it."""
    best = 0.0
    for epoch in range(epochs):
        plain_epoch(model, opt, data.x_train, data.y_train, 32, seed * 1000 + epoch)
        accuracy = plain_accuracy(model, data.x_val, data.y_val)
        best = max(best, accuracy)
        if report is not None and report(accuracy, epoch + 1):
            break
    return best


def population_run(data: Dataset, exps: list[Experiment]) -> list[float]:
    """The experiments (one structure) trained as one population of all of them, the way
    `steepest train` does; returns each member's best validation value."""
    task = task_for(exps[0], data)
    population = build_population(exps[0], data, task, torch.device("cpu"))
    source = MemberList([make_member(e, i) for i, e in enumerate(exps)])
    fit(
        PopulationTrainer(
            population, source, len(exps), data.x_val, data.y_val, Monitor("val_metric", True)
        )
    )
    return [r.best_value for r in sorted(source.results, key=lambda r: r.member.id)]


def seconds(fn: Callable[[], object], repeat: int = 1) -> float:
    """Median wall time of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]
