"""Facts about an Optuna study as plain data: trial counts, best trial, wall time, the
parameters' axes, their importances and the coarse-to-fine stages. Works on a study that
is still running (trials without values, no end time)."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from steepest.tune.study import WORKER_ATTR, cut_short

STATES = {
    "complete": TrialState.COMPLETE,
    "pruned": TrialState.PRUNED,
    "failed": TrialState.FAIL,
    "running": TrialState.RUNNING,
}


@dataclass(frozen=True)
class Summary:
    """The headline numbers of a study."""

    name: str
    metric: str
    maximize: bool
    counts: dict[str, int]  # keys of STATES, and "interrupted" → number of such trials
    best: FrozenTrial | None  # None until a trial completes
    wall_seconds: float | None  # None when no trial has started
    running: bool

    @property
    def trials_per_minute(self) -> float | None:
        """Finished (complete, pruned or failed) trials per minute of wall time."""
        if not self.wall_seconds:
            return None
        done = self.counts["complete"] + self.counts["pruned"] + self.counts["failed"]
        return done / (self.wall_seconds / 60)


@dataclass(frozen=True)
class ParamAxis:
    """How one parameter is laid out on a plot axis: its range over all trials' search
    spaces (``low``..``high``, log-scaled or not) or, for a categorical, its choices."""

    name: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple = ()

    def position(self, value) -> float:
        """``value`` on this axis: a choice's index, else the value itself."""
        return float(self.choices.index(value)) if self.choices else float(value)

    def unit(self, value) -> float:
        """``value`` mapped to [0, 1] along the axis (log-aware; choices evenly spaced)."""
        if self.choices:
            return self.position(value) / max(len(self.choices) - 1, 1)
        scale = np.log if self.log else float
        span = scale(self.high) - scale(self.low)
        return float((scale(value) - scale(self.low)) / span) if span else 0.5


def _parse_time(text: str | None) -> datetime | None:
    """An ISO timestamp as a naive local time, comparable with Optuna's trial times."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment.astimezone().replace(tzinfo=None) if moment.tzinfo else moment


def summarize(
    study: optuna.Study,
    trials: list[FrozenTrial] | None = None,
    alive: Callable[[str], bool] = lambda worker: True,
) -> Summary:
    """Counts per state, best trial, wall time (the study's ``started``/``finished`` user
    attributes when set, else its trials' start and end times; now, while trials run).
    ``trials``: the study's trials already fetched (one snapshot of a running study).
    ``alive(worker)``: whether the worker a RUNNING trial records still runs
    (`steepest.tune.lease.worker_alive`); a killed study's trials stay RUNNING in its
    storage, but it does not run on."""
    if len(study.directions) != 1:
        raise ValueError(
            f"study {study.study_name!r} has {len(study.directions)} objectives; "
            "the report covers single-objective studies"
        )
    if trials is None:
        trials = study.get_trials(deepcopy=False)
    # Trials a killed worker or a timeout cut short were failed and queued again: counted
    # apart, as `steepest tune`'s summary counts them, not as failures.
    requeued = cut_short(study)
    counts = {
        key: sum(t.state == state and t.number not in requeued for t in trials)
        for key, state in STATES.items()
    }
    counts["interrupted"] = sum(t.number in requeued for t in trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    best = (max if maximize else min)(complete, key=lambda t: t.value) if complete else None
    attrs = study.user_attrs
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    start = _parse_time(attrs.get("started")) or min(starts, default=None)
    end = _parse_time(attrs.get("finished"))
    running = any(
        alive(t.user_attrs.get(WORKER_ATTR, "")) for t in trials if t.state == TrialState.RUNNING
    )
    if end is None:
        end = datetime.now() if running else max(ends, default=start)
    wall = (end - start).total_seconds() if start and end else None
    return Summary(
        name=study.study_name,
        metric=attrs.get("metric", "objective"),
        maximize=maximize,
        counts=counts,
        best=best,
        wall_seconds=wall,
        running=running,
    )


def param_axes(trials: list[FrozenTrial]) -> dict[str, ParamAxis]:
    """One axis per parameter any trial used, in name order, spanning the union of the
    trials' search spaces (coarse-to-fine stages narrow them from trial to trial)."""
    spaces: dict[str, list] = {}
    for trial in trials:
        for name, dist in trial.distributions.items():
            spaces.setdefault(name, []).append(dist)
    axes = {}
    for name in sorted(spaces):
        dists = spaces[name]
        if isinstance(dists[0], CategoricalDistribution):
            axes[name] = ParamAxis(name, choices=tuple(dists[0].choices))
        else:
            axes[name] = ParamAxis(
                name,
                low=min(d.low for d in dists),
                high=max(d.high for d in dists),
                log=any(d.log for d in dists),
            )
    return axes


def param_importances(study: optuna.Study) -> dict[str, float] | str:
    """fANOVA importance of each parameter (seeded, so a report is reproducible), largest
    first; or, when it cannot be computed yet, a sentence saying why."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return "Parameter importance needs at least 2 complete trials."
    # What Optuna ranks by default (the parameters every complete trial has), less the
    # fixed entries: a one-value choice would take all the importance of a study of one.
    shared = set.intersection(*(set(t.distributions) for t in complete))
    varying = sorted(n for n in shared if not complete[0].distributions[n].single())
    if not varying:
        return "Parameter importance needs a searched parameter that varies."
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        return optuna.importance.get_param_importances(study, evaluator=evaluator, params=varying)
    except (ValueError, RuntimeError) as error:
        return f"Parameter importance is not available: {error}"


@dataclass(frozen=True)
class Stage:
    """One coarse-to-fine stage: its ranges, its trials and how much it narrowed."""

    index: int
    space: dict[str, dict]  # param → {"low", "high", "log"}
    trials: list[FrozenTrial]
    best_value: float | None

    def width_fraction(self, name: str, first: "Stage") -> float:
        """This stage's range of ``name`` as a fraction of the first stage's (log-aware)."""

        def width(bounds: dict) -> float:
            scale = math.log if bounds.get("log") else float
            return scale(bounds["high"]) - scale(bounds["low"])

        return width(self.space[name]) / width(first.space[name])


def stages(
    study: optuna.Study, maximize: bool, trials: list[FrozenTrial] | None = None
) -> list[Stage]:
    """The stages recorded in the study's ``stages`` user attribute (empty when the study
    did not search coarse to fine), each with the trials whose ``stage`` attribute names it
    (of ``trials`` when given, else of the study's trials)."""
    if trials is None:
        trials = study.get_trials(deepcopy=False)
    found = []
    for entry in study.user_attrs.get("stages", []):
        index = int(entry["stage"])
        members = [t for t in trials if t.user_attrs.get("stage") == index]
        values = [t.value for t in members if t.state == TrialState.COMPLETE]
        best = (max if maximize else min)(values) if values else None
        found.append(Stage(index, entry["space"], members, best))
    return found
