"""The one training loop: epochs of a population, fed by a source of members.

`fit` keeps a population full: it asks its `MemberSource` for members, trains every member
one epoch at a time, evaluates them on the validation split, records one history row per
member, and lets members leave when they finish, stop early, diverge or are pruned (the
source decides pruning: that is the tuner's only hook). Freed slots are refilled at the
next epoch boundary — continuous batching. `steepest train` feeds it a fixed list of
members; `steepest tune` feeds it trials asked from an Optuna study.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch
from torch import Tensor

from steepest import rng
from steepest.population import Evaluation, Member, Population

Status = Literal["finished", "early_stopped", "diverged", "pruned"]


@dataclass
class Monitor:
    """Which history column decides the best epoch, and whether larger is better."""

    column: str  # "val_metric" or "val_loss"
    maximize: bool

    def better(self, value: float, best: float | None) -> bool:
        if math.isnan(value):
            return False
        if best is None:
            return True
        return value > best if self.maximize else value < best


@dataclass
class MemberResult:
    """What one member leaves behind: its history, best epoch and best weights."""

    member: Member
    status: Status = "finished"
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    best_state: dict[str, Tensor] | None = None
    stale_epochs: int = 0


class MemberSource(Protocol):
    """Where members come from and where their results go."""

    def take(self, n: int) -> list[Member]:
        """Up to n new members (none when the budget is spent)."""

    def report(self, rows: list[tuple[Member, dict[str, float]]]) -> set[int]:
        """One epoch's history rows of the members still training; returns the ids of
        those to prune now. All at once, so a storage can take them in one write."""

    def finish(self, results: list[MemberResult]) -> None:
        """The members that left the population in this epoch. All at once, so a storage
        can make their end states durable in one sync."""


class MemberList:
    """A fixed list of members, handed out in order: what `steepest train` runs."""

    def __init__(self, members: list[Member]) -> None:
        self.pending = list(members)
        self.results: list[MemberResult] = []

    def take(self, n: int) -> list[Member]:
        taken, self.pending = self.pending[:n], self.pending[n:]
        return taken

    def report(self, rows: list[tuple[Member, dict[str, float]]]) -> set[int]:
        return set()

    def finish(self, results: list[MemberResult]) -> None:
        self.results.extend(results)


EpochCallback = Callable[[Population, list[dict[str, float]]], None]


class PopulationTrainer:
    """Advances one population an epoch at a time; `fit` and the tuner drive it."""

    def __init__(
        self,
        population: Population,
        source: MemberSource,
        capacity: int,
        x_val: Tensor,
        y_val: Tensor,
        monitor: Monitor,
        on_epoch: EpochCallback | None = None,
        watched: bool = True,
        keep_best_weights: bool = True,
    ) -> None:
        """`watched`: also measure what only a person watching reads (the train metric on
        a sample of the training split, dead units); the tuner, which records neither,
        turns it off and saves a forward pass per epoch. `keep_best_weights`: copy each
        member's weights at its best epoch (for best.pt); the tuner saves no weights."""
        self.population = population
        self.watched = watched
        self.keep_best_weights = keep_best_weights
        self.source = source
        self.capacity = capacity
        self.x_val, self.y_val = x_val, y_val
        self.monitor = monitor
        self.on_epoch = on_epoch
        self.results: dict[int, MemberResult] = {}
        sample = _train_sample(len(population.x_train), len(x_val))
        self.x_train_sample = population.x_train[sample]
        self.y_train_sample = population.y_train[sample]

    @property
    def active(self) -> bool:
        return len(self.population) > 0

    def fill(self) -> None:
        """Take members from the source into the free slots (continuous batching)."""
        joining = self.source.take(self.capacity - len(self.population))
        self.population.add(joining)
        self.results.update({m.id: MemberResult(m) for m in joining})

    def advance(self) -> None:
        """One epoch of every member; members that are done leave."""
        population = self.population
        started = time.perf_counter()
        train_loss = population.run_epoch()
        train_metric = None
        if self.watched:
            train = population.evaluate(self.x_train_sample, self.y_train_sample, dead_units=False)
            train_metric = train.metric
        evaluation = population.evaluate(self.x_val, self.y_val, dead_units=self.watched)
        seconds = (time.perf_counter() - started) / len(population)
        rows = _history_rows(population, train_loss, train_metric, evaluation, seconds)
        statuses: list[Status | None] = []
        for row_index, (member, row) in enumerate(zip(population.members, rows)):
            result = self.results[member.id]
            result.history.append(row)
            statuses.append(_judge(result, row, self.monitor))
            if self.keep_best_weights and result.best_epoch == member.epoch:
                result.best_state = population.member_state(row_index)
        members = population.members
        pruned = self.source.report(
            [(m, row) for m, row, s in zip(members, rows, statuses) if s != "diverged"]
        )
        leaving: list[int] = []
        for row_index, (member, status) in enumerate(zip(members, statuses)):
            # The pruner's verdict stands at the last epoch too, as in Optuna's loop
            # (report, should_prune, raise TrialPruned): a trial below the median at
            # its final step is pruned, not complete.
            if status != "diverged" and member.id in pruned:
                status = "pruned"
            if status is not None:
                self.results[member.id].status = status
                leaving.append(row_index)
        left = population.remove(leaving)
        if left:
            self.source.finish([self.results.pop(member.id) for member in left])
        if self.on_epoch is not None:  # after leavers left: a consistent point to save
            self.on_epoch(population, rows)

    def state_dict(self) -> dict:
        """The members in flight (tensors, optimizer state, results so far); with the
        source's own state this is everything needed to continue after a crash."""
        return {"population": self.population.state_dict(), "results": self.results}

    def load_state_dict(self, state: dict) -> None:
        self.population.load_state_dict(state["population"])
        self.results = state["results"]


def fit(trainer: PopulationTrainer, should_stop: Callable[[], bool] = lambda: False) -> None:
    """Train until the source has no more members and every member has left.

    `should_stop()` is asked at each epoch boundary (a time budget); once it says yes no
    new member joins and the members in flight finish their training.
    """
    while True:
        if not should_stop():
            trainer.fill()
        if not trainer.active:
            return
        trainer.advance()


def _train_sample(n_train: int, n_val: int) -> Tensor:
    """Which training examples the epoch's train metric is measured on: a fixed seeded
    sample (the same for every member and epoch) as large as the validation split,
    clamped to [256, 2048] — train and validation figures then carry the same sampling
    noise at the same cost, where scoring every training example would cost a third of
    the epoch's compute. Measured in eval mode like validation, so the gap between them
    shows over- or under-fitting rather than dropout noise."""
    size = min(n_train, max(256, min(n_val, 2048)))
    return rng.permutation(rng.derive_key(0), n_train)[:size]


def _judge(result: MemberResult, row: dict[str, float], monitor: Monitor) -> Status | None:
    """Track the best epoch; say whether the member must leave now, and why (its own
    patience: members of one population may compare patience values)."""
    if not all(math.isfinite(row[c]) for c in ("train_loss", "val_loss")):
        return "diverged"
    value = row[monitor.column]
    if monitor.better(value, result.best_value):
        result.best_value, result.best_epoch = value, int(row["epoch"])
        result.stale_epochs = 0
    else:
        result.stale_epochs += 1
    patience = result.member.patience
    if patience is not None and result.stale_epochs >= patience:
        return "early_stopped"
    if result.member.epoch >= result.member.epochs:
        return "finished"
    return None


def _history_rows(
    population: Population,
    train_loss: Tensor,
    train_metric: Tensor | None,
    evaluation: Evaluation,
    seconds: float,
) -> list[dict[str, float]]:
    """One row per member: losses, metrics (the train metric when measured), hyperparameters
    in force, dead units, and the epoch's wall time shared out over the members that
    trained in it."""
    columns = {"train_loss": train_loss, "val_loss": evaluation.loss}
    if train_metric is not None:
        columns["train_metric"] = train_metric
    columns["val_metric"] = evaluation.metric
    if evaluation.dead_fraction is not None:
        columns["dead_relu"] = evaluation.dead_fraction
    # the usual four, and any other a member schedules (a scheduled rho or beta2 took
    # effect but was nowhere to be seen)
    scheduled = sorted({name for m in population.members for name in m.schedules})
    for name in dict.fromkeys(("lr", "momentum", "beta1", "weight_decay", *scheduled)):
        values = population.hparam_values(name)
        if not torch.isnan(values).all():
            columns[name] = values
    as_lists = {name: values.detach().cpu().tolist() for name, values in columns.items()}
    return [
        {
            "member": member.id,
            "epoch": member.epoch,
            **{name: values[i] for name, values in as_lists.items()},
            "seconds": seconds,
        }
        for i, member in enumerate(population.members)
    ]
