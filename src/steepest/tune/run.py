"""`steepest tune`: Optuna trials trained in populations, kept full as trials leave.

Trials are asked from the study (ask/tell) and routed by structure key to the population
their tensors fit; each epoch every member reports its monitored value, and the pruner's
verdict sends it out at once, its slot taken by the next trial at the next epoch boundary.
"""

import copy
import itertools
import json
import math
import numbers
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.live import Live
from rich.table import Table

from steepest.config import (
    ONE_EXAMPLE_BATCHES,
    OPTIMIZERS,
    RUN_KEYS,
    Experiment,
    TuneConfig,
    deciders_of,
    read_toml,
    refuse_bad_seed,
    set_keys,
    sweep_axes,
    unread,
    validate,
)
from steepest.data import Dataset
from steepest.errors import UserError
from steepest.fit import MemberResult, PopulationTrainer
from steepest.nn.layers import build_model
from steepest.nn.user import network_factory
from steepest.optim.schedules import build as build_schedule
from steepest.population import Member, build_aside, normalizes_batches
from steepest.training import (
    NetworkFactory,
    build_population,
    check_network,
    load_for,
    make_member,
    monitor_for,
    own_network,
    population_size,
    refuse_model_keys,
    resolve_device,
    task_for,
    train,
    write_outputs,
)
from steepest.training import structure_key as experiment_structure
from steepest.tune.journal import deferred_appends, one_fsync
from steepest.tune.lease import WorkerLease
from steepest.tune.pruning import verdicts
from steepest.tune.space import (
    SECTION_OF,
    Range,
    SearchSpace,
    apply_params,
    decode_params,
    narrow,
)
from steepest.tune.study import (
    METRIC_ATTR,
    WORKER_ATTR,
    cut_short,
    open_study,
    recover_crashed,
    requeue,
)

STAGES_ATTR = "stages"
NOT_STARTED = "not started before the timeout: queued again"  # a trial's status attr
DATA_ATTR = "data"  # `Dataset.fingerprint` of the splits the trials trained on
SETTINGS_ATTR = "settings"  # the [data], [model] and [train] values every trial shares
# Keys left out of SETTINGS_ATTR: a run's own settings, the seed (each trial shifts it),
# where the data comes from (its rows and split are DATA_ATTR) and your network's module
# (its code is not pinned either: a moved folder must not stop a study).
_NOT_PINNED = {*RUN_KEYS, "seed", "name", "csv", "images", "module"}


@dataclass
class Tally:
    """What the live table and the summary show."""

    complete: int = 0
    pruned: int = 0
    failed: int = 0
    started: float = field(default_factory=time.perf_counter)
    occupancy: dict[str, tuple[int, int]] = field(default_factory=dict)
    sizes: list[int] = field(default_factory=list)  # K of each population, as made

    def table(self, study: optuna.Study) -> Table:
        done = self.complete + self.pruned + self.failed
        minutes = (time.perf_counter() - self.started) / 60
        table = Table(title=f"study {study.study_name}", show_header=False)
        table.add_row(
            "trials done",
            f"{done} ({self.complete} complete, {self.pruned} pruned, {self.failed} failed)",
        )
        best = _best_value(study)
        table.add_row("best so far", "—" if best is None else f"{best:.4f}")
        busy = sum(n for n, _ in self.occupancy.values())
        slots = sum(c for _, c in self.occupancy.values())
        sizes = ", ".join(map(str, self.sizes))
        table.add_row(
            "populations",
            f"{len(self.occupancy)} of {len(self.sizes)} training (K = {sizes or '—'}), "
            f"{busy}/{slots} slots busy",
        )
        table.add_row("trials/minute", f"{done / max(minutes, 1e-9):.1f}")
        return table


class StudyFeed:
    """Asks trials, builds their members, and routes them to per-structure queues.

    Coarse-to-fine runs in stages: a stage's trials are all asked, then all finished,
    before the space narrows and the next stage starts.
    """

    def __init__(
        self,
        study: optuna.Study,
        raw: dict[str, Any],
        tune_space: SearchSpace,
        budget: int,
        stages: int,
        top: float,
        margin: float,
        tally: Tally,
        first_wave: int = 0,
        network: NetworkFactory | None = None,
        check: Callable[[Experiment], object] = lambda experiment: None,
        *,
        lease: WorkerLease,
    ) -> None:
        """`check(experiment)` raises a UserError for a trial's experiment that cannot
        train (`_trial_check`); `lease` is this
        process's (`steepest.tune.lease`), whose id every trial records."""
        self.study = study
        self.lease = lease
        self.check = check
        self.first_wave = first_wave
        self.network = network  # the user's own, replacing [model]'s
        self.raw = raw
        self.space = tune_space
        self.budget = budget
        self.stage_size = math.ceil(budget / stages)
        self.staged = stages > 1
        self.top, self.margin = top, margin
        self.tally = tally
        self.queues: dict[str, deque[Member]] = {}
        self.structures: dict[str, Experiment] = {}  # one experiment of each structure key
        self.trials: dict[int, optuna.Trial] = {}  # in flight: asked, not yet told
        self.crashed = cut_short(study)
        recorded = study.user_attrs.get(STAGES_ATTR, [])
        self.stage = max(len(recorded) - 1, 0)
        if self.staged and not recorded:
            self._record_stage(self.space)
        elif self.staged:  # a resumed study goes on in its last stage's narrowed space
            ranges = self.space.ranges()
            last = recorded[-1]["space"]
            self.space = self.space.with_ranges(
                {
                    name: Range(last[name]["low"], last[name]["high"], r.log, r.integer, r.step)
                    for name, r in ranges.items()
                    if name in last
                }
            )

    def _counted(self) -> tuple[int, list[FrozenTrial]]:
        """(trials used against the budget, the study's trials but crashed ones)."""
        counted = [t for t in self.study.get_trials(deepcopy=False) if t.number not in self.crashed]
        return sum(1 for t in counted if t.state != TrialState.WAITING), counted

    def budget_spent(self) -> bool:
        """Whether the trials started (crashed ones apart) reach the budget."""
        return self._counted()[0] >= self.budget

    def others_training(self) -> bool:
        """Whether another worker known to be alive (`WorkerLease.holds`) trains trials
        of the study: a first wave or stage this worker must wait for. A trial whose
        worker cannot be asked (another host's on a database) is not waited for: it
        may never end."""
        return any(
            t.number not in self.trials and self.lease.holds(t.user_attrs.get(WORKER_ATTR, ""))
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        )

    def recover_crashed(self) -> bool:
        """Requeue the running trials of workers gone since (`recover_crashed`): a
        worker waiting for another's first wave must not wait for a dead one's. Returns
        whether it requeued any."""
        before = len(self.crashed)
        self.crashed = set(recover_crashed(self.study, self.lease.is_alive))
        return len(self.crashed) > before

    def can_ask(self) -> bool:
        used, counted = self._counted()
        if used >= self.budget or self._first_wave_running(used, counted):
            return False
        if not self.staged:
            return True
        if used < (self.stage + 1) * self.stage_size:
            return True
        if self.trials:  # the stage's trials must all finish before it narrows
            return False
        self._next_stage()
        return used < self.budget

    def _first_wave_running(self, used: int, counted: list[FrozenTrial]) -> bool:
        """Whether the first wave is full and not yet finished (`counted`: the study's
        trials, crashed ones left out). TPE samples at random and the median pruner prunes
        nothing until `first_wave` trials have finished, so trials started beside the
        first wave would be blind draws that train to the end: they wait, and the slots
        fill once the first wave is done."""
        if used < self.first_wave:
            return False
        return sum(1 for t in counted if t.state.is_finished()) < self.first_wave

    def optimizers(self, experiment: Experiment) -> set[str]:
        """The optimizers this study's trials of `experiment`'s structure may use: its
        own, and every value the space's ``optimizer`` may take."""
        spec = self.space.params.get("optimizer")
        offered = [] if spec is None else spec.values or [spec.value]
        return {experiment.train.optimizer, *offered}

    def ask(self) -> str | None:
        """Ask one trial; returns the structure key its member was queued under (None
        when the budget allows no more). A trial whose values make an experiment that
        cannot train (`_ask_one`) fails, and the next is asked."""
        while self.can_ask():
            key = self._ask_one()
            if key is not None:
                return key
        return None

    def _ask_one(self) -> str | None:
        """One trial, queued; None when its values, valid one by one (`check_against`),
        are not together (a schedule that takes a searched momentum past 1, batch norm
        at a searched batch size of 1): it fails with the
        reason in its status attr, and is not queued again (a resume would fail it again
        and again)."""
        trial = self.study.ask()
        # The worker goes to the journal at once: a process killed while the sampler
        # draws leaves a RUNNING trial that a resume can fail and requeue only if the
        # journal says whose it was. Its params and other attrs follow in one append.
        trial.set_user_attr(WORKER_ATTR, self.lease.id)
        with deferred_appends():
            if self.staged:
                trial.set_user_attr("stage", self.stage)
            params = self.space.suggest(trial)
        try:
            experiment = validate(_trial_raw(self.raw, params, trial.number))
            self.check(experiment)
        except UserError as error:
            trial.set_user_attr("status", f"invalid: {error}")
            self.study.tell(trial, state=TrialState.FAIL)
            self.tally.failed += 1
            return None
        member = make_member(experiment, trial.number, _label(params), self.network is not None)
        self.trials[trial.number] = trial
        key = experiment_structure(experiment)
        self.structures.setdefault(key, experiment)
        self.queues.setdefault(key, deque()).append(member)
        return key

    def _next_stage(self) -> None:
        stage_trials = [
            t
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("stage") == self.stage
        ]
        ranked = sorted(
            stage_trials,
            key=lambda t: t.value,
            reverse=self.study.direction == optuna.study.StudyDirection.MAXIMIZE,
        )
        best = [
            decode_params(t.params) for t in ranked[: max(1, math.ceil(self.top * len(ranked)))]
        ]
        if best:
            self.space = self.space.with_ranges(narrow(self.space.ranges(), best, self.margin))
        self.stage += 1
        self._record_stage(self.space)

    def _record_stage(self, stage_space: SearchSpace) -> None:
        stages = list(self.study.user_attrs.get(STAGES_ATTR, []))
        stages.append({"stage": len(stages), "space": _ranges_json(stage_space.ranges())})
        self.study.set_user_attr(STAGES_ATTR, stages)


class StructureSource:
    """The `MemberSource` of one population: its structure's queue, fed by the study."""

    def __init__(self, feed: StudyFeed, key: str, monitor_column: str, population: int) -> None:
        self.feed = feed
        self.key = key
        self.column = monitor_column
        self.population = population

    def take(self, n: int) -> list[Member]:
        queue = self.feed.queues.setdefault(self.key, deque())
        while len(queue) < n and self.feed.ask() is not None:
            pass
        return [queue.popleft() for _ in range(min(n, len(queue)))]

    def report(self, rows: list[tuple[Member, dict[str, float]]]) -> set[int]:
        """Each member's monitored value to its trial (one journal append for them all),
        then the pruner's verdicts (`pruning.verdicts`), once the values are in the
        storage."""
        reported = []
        with deferred_appends():
            for member, row in rows:
                value = row[self.column]
                if math.isfinite(value):
                    self.feed.trials[member.id].report(value, int(row["epoch"]))
                    reported.append(member.id)
        return verdicts(self.feed.study, reported)

    def finish(self, results: list[MemberResult]) -> None:
        """Each trial's attrs and end state in one journal append, and one fsync for them
        all."""
        with one_fsync():
            for result in results:
                self._finish(result)

    def _finish(self, result: MemberResult) -> None:
        feed = self.feed
        trial = feed.trials.pop(result.member.id)
        history = result.history
        with deferred_appends():
            trial.set_user_attr("seed", result.member.seed)
            trial.set_user_attr("population", self.population)
            trial.set_user_attr("population_size", self.feed.tally.sizes[self.population])
            trial.set_user_attr("seconds", sum(r["seconds"] for r in history))
            trial.set_user_attr("train_loss", [r["train_loss"] for r in history])
            trial.set_user_attr("val_loss", [r["val_loss"] for r in history])
            trial.set_user_attr("status", result.status)
            if result.status == "pruned":
                feed.study.tell(trial, state=TrialState.PRUNED)
                feed.tally.pruned += 1
            elif result.status == "diverged" or result.best_value is None:
                feed.study.tell(trial, state=TrialState.FAIL)
                feed.tally.failed += 1
            else:
                feed.study.tell(trial, result.best_value)
                feed.tally.complete += 1


@dataclass
class TuneResult:
    """The study and what the summary prints."""

    study: optuna.Study
    summary: dict[str, Any]


def tune(
    path: str | Path | dict,
    storage: str | None = None,
    seed: int | None = None,
    trials: int | None = None,
    console: Console | None = None,
    device: str | None = None,
    model: NetworkFactory | None = None,
) -> TuneResult:
    """Run (or continue) the study an experiment file's ``[tune]`` section describes;
    `device` (auto, cpu, cuda) overrides ``[train] device``; `model` trains your own
    network instead of ``[model]``'s (see `steepest.train`)."""
    model = network_factory(model)
    raw = _experiment_raw(path)
    if "tune" not in raw:
        raise UserError(f"{_named(path)}: missing [tune] section (with [tune.space])")
    axes = sweep_axes(raw)
    if axes:  # else: "expected a valid number"
        section, key, values = axes[0]
        # TOML's spelling of simple values (true, "a"); NumPy scalars as the numbers they hold
        listed = json.dumps(values, default=lambda v: v.item() if hasattr(v, "item") else str(v))
        raise UserError(
            f"[{section}] {key} = {listed}: a list of values is a grid for steepest train; "
            f'a study searches it in [tune.space]: {key} = {{ type = "choice", values = '
            f"{listed} }}"
        )
    base = validate(_with_a_searched_optimizer(raw))
    settings = base.tune
    if (
        settings.monitor not in (None, base.train.monitor)
        and "monitor" in base.train.model_fields_set
    ):
        raise UserError(
            f"[train] monitor = {base.train.monitor!r} and [tune] monitor = "
            f"{settings.monitor!r}: the study monitors one; set it in one place"
        )
    if "population" in base.train.model_fields_set:  # it was ignored
        raise UserError("[train] population: a study's populations are sized by [tune] population")
    for name, value in (("trials", trials), ("seed", seed)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, numbers.Integral)
        ):
            raise UserError(f"{name} = {value!r}: expected a whole number")
    if trials is not None and trials < 1:
        raise UserError(f"trials = {trials!r}: expected at least 1")
    if trials is not None:
        settings = settings.model_copy(update={"trials": trials})
    if seed is not None:
        refuse_bad_seed(seed)
        settings = settings.model_copy(update={"seed": seed})
    space = SearchSpace(settings.space)
    space.check_against(raw)
    if model is not None:  # a [model] module refuses them itself (`ModelConfig`)
        refuse_model_keys(base)
        _refuse_model_searches(space)
    _refuse_unread(space, base, raw)  # as the file has it: `_as_searched` sets a loss
    base = _as_searched(base, space)
    dataset = load_for(base)
    _refuse_losses_that_do_not_fit(space, base, dataset)
    task = task_for(base, dataset)
    network = model or own_network(base)
    if network is not None:
        check_network(
            network,
            base,
            dataset,
            task,
            alone=settings.population == 1,
            dropout_searched="dropout" in space.params,
        )
    monitor_name = settings.monitor or base.train.monitor
    train_with_monitor = base.train.model_copy(update={"monitor": monitor_name})
    monitor = monitor_for(base.model_copy(update={"train": train_with_monitor}), task)
    _refuse_searches_without_meaning(space, base, dataset, monitor.column)
    if isinstance(path, dict) and settings.study is None:  # a file's name names its study
        raise UserError("[tune] study: an experiment given as a dict needs a study name")
    name = settings.study or Path(path).stem
    if storage is None:
        storage = f"runs/{name}.log" if settings.storage is None else settings.storage
    study = open_study(
        name,
        storage,
        settings,
        space,
        monitor.maximize,
        int(space.largest("epochs", base.train.epochs)),
    )
    metric = f"val_{task.metric_name}" if monitor.column == "val_metric" else "val_loss"
    _pin(  # its values would mix two measures (rmse and mse, say)
        study,
        METRIC_ATTR,
        metric,
        lambda earlier: (
            f"[tune] monitor: study {name!r} in {storage} monitors {earlier}, "
            f"this file {metric}; keep its monitor or name a new study"
        ),
    )
    _pin(
        study,
        DATA_ATTR,
        dataset.fingerprint,
        lambda _: (
            f"study {name!r} in {storage} was run on other data (rows added, removed "
            "or changed since, another split of them, or another data set); name a new "
            "study ([tune] study = ...)"
        ),
    )
    _pin_settings(study, _shared_settings(base, space), f"{name!r} in {storage}")
    lease = WorkerLease(storage)  # held while this process may run trials
    live = None
    try:
        recover_crashed(study, lease.is_alive)  # before the feed reads which crashed
        tally = Tally()
        stages = settings.coarse_to_fine.stages if settings.sampler == "coarse_to_fine" else 1
        budget = settings.trials
        if settings.sampler == "grid":
            budget = min(budget, len(space.grid_points()))
        feed = StudyFeed(
            study,
            raw,
            space,
            budget,
            stages,
            settings.coarse_to_fine.top,
            settings.coarse_to_fine.margin,
            tally,
            _first_wave(settings),
            model,
            check=_trial_check(network, dataset),
            lease=lease,
        )
        deadline = None if settings.timeout is None else time.perf_counter() + settings.timeout
        live = Live(tally.table(study), console=console or Console(quiet=True), transient=False)
        with live:
            _run_populations(
                feed,
                dataset,
                resolve_device(device or base.train.device),
                settings.population,
                settings.seed is not None,
                monitor,
                lambda: deadline is not None and time.perf_counter() > deadline,
                lambda: live.update(tally.table(study)),
            )
            _requeue_unstarted(feed)
        return TuneResult(study, _summary(study, tally))
    finally:
        lease.release()
        if live is not None and not live.console.is_terminal:  # rich ends the table with a
            live.console.line()  # newline on terminals only: so "interrupted" goes below


def _pin(study: optuna.Study, attr: str, value: str, refusal: Callable[[str], str]) -> None:
    """Record `value` as the study's user attr `attr`, or refuse in one line
    (`refusal(the value the study holds)`) when it holds another: a resumed study's new
    trials must compare with its old ones."""
    earlier = study.user_attrs.get(attr, value)
    if earlier != value:
        raise UserError(refusal(earlier))
    study.set_user_attr(attr, value)


def _shared_settings(base: Experiment, space: SearchSpace) -> dict[str, Any]:
    """The [data], [model] and [train] values every trial takes alike, by `section.key`
    ([data.augment]'s as `data.augment.key`, each searchable apart): those not searched
    and not left out (`_NOT_PINNED`)."""
    shared = {}
    for section in ("data", "model", "train"):
        values = getattr(base, section).model_dump(mode="json")
        augment = values.pop("augment", {})
        values.update({f"augment.{key}": value for key, value in augment.items()})
        for key, value in values.items():
            name = key.rpartition(".")[2]
            if name not in space.params and name not in _NOT_PINNED:
                shared[f"{section}.{key}"] = value
    return shared


def _pin_settings(study: optuna.Study, shared: dict[str, Any], where: str) -> None:
    """Refuse in one line a resumed study whose file changed a value its trials share
    (`_shared_settings`): trials of 3 and of 5 epochs, say, would be ranked together and
    --final would retrain the best one with what it never had. A value searched before
    and fixed now joins the record; one fixed before and searched now is left to the
    search."""
    recorded = dict(study.user_attrs.get(SETTINGS_ATTR, {}))
    for key, value in recorded.items():
        if key in shared and shared[key] != value:
            section, _, name = key.rpartition(".")
            raise UserError(
                f"[{section}] {name} = {json.dumps(shared[key])}: study {where} trained its "
                f"trials with {json.dumps(value)}; restore it, search it in [tune.space], "
                "or name a new study ([tune] study = ...)"
            )
    if shared.keys() - recorded.keys():
        study.set_user_attr(SETTINGS_ATTR, {**recorded, **shared})


def _refuse_searches_without_meaning(
    space: SearchSpace, base: Experiment, dataset: Dataset, monitor: str
) -> None:
    """One line before any trial for a search whose trials could not be told apart: a
    searched loss under `val_loss` (an L1 loss and a squared loss do not compare: the
    best trial would be the one whose loss reads smallest), and a searched value a
    schedule ignores (a `linear` from start to end sets the value itself)."""
    losses = space.offered("loss")
    if monitor == "val_loss" and len(set(losses)) > 1:
        raise UserError(
            f"[tune] monitor = 'val_loss' with loss searched ({', '.join(losses)}): their "
            "values do not compare; monitor val_metric, or search one loss"
        )
    for name, spec in base.train.schedule.items():
        if name in space.params and build_schedule(spec, base.train.epochs).ignores_base:
            raise UserError(
                f"[tune.space] {name}: [train.schedule.{name}] ramps from its start to its "
                f"end whatever {name} is, so the search would change nothing; leave out "
                "start (to ramp from the searched value) or the search"
            )


def _refuse_unread(space: SearchSpace, base: Experiment, raw: dict[str, Any]) -> None:
    """A key searched, set or scheduled in the file that no trial reads is refused before
    the study, as `steepest train` refuses it (`config.set_keys`): leaky_slope where every
    trial's activation is relu, momentum where every trial's optimizer is adam."""
    searched = {
        (SECTION_OF[name][0], name): f"[tune.space] {name}"
        for name in space.params
        if len(SECTION_OF[name]) == 1
    }
    for (section, key), where in {**set_keys(raw), **searched}.items():
        reason = _unread_in_study(space, base, section, key)
        if reason is not None:
            raise UserError(f"{where}: no trial reads it ({reason})")


def _unread_in_study(space: SearchSpace, base: Experiment, section: str, key: str) -> str | None:
    """Why no trial reads `key` of `section` (`config.unread`). The settings that decide
    take every value the space offers them, or, for a key searched under a `when`, those
    its condition allows (momentum `when = { optimizer = "adam" }` is read by no trial);
    one searched over a range (none of them is numeric) is not judged."""
    deciders = deciders_of(section, key)
    if not deciders:
        return None
    table = getattr(base, section)
    spec = space.params.get(key)
    when = (spec.when if spec is not None else None) or {}
    values = []
    for decider in deciders:
        taken = space.may_take(decider, getattr(table, decider))
        if taken is None:
            return None
        if decider in when:
            allowed = when[decider] if isinstance(when[decider], list) else [when[decider]]
            taken = [value for value in taken if value in allowed]
        values.append(taken)
    tables = [
        table.model_copy(update=dict(zip(deciders, chosen, strict=True)))
        for chosen in itertools.product(*values)
    ]
    return unread(section, key, tables)


def _refuse_losses_that_do_not_fit(space: SearchSpace, base: Experiment, dataset: Dataset) -> None:
    """A searched loss the data does not fit (a regression loss on classes) is refused
    before any trial: each of its trials would fail."""
    for loss in space.offered("loss"):
        chosen = base.model_copy(update={"train": base.train.model_copy(update={"loss": loss})})
        try:
            task_for(chosen, dataset)
        except UserError as error:
            raise UserError(f"[tune.space] loss: {error}") from None


def _trial_check(network: NetworkFactory | None, dataset: Dataset) -> Callable[[Experiment], None]:
    """What a trial's experiment must pass before it is queued (`StudyFeed.check`): a
    batch size of 1 meets no batch norm of the user's network (`[model] batch_norm` at 1
    the config refuses itself), and [model]'s network builds for the data (an even
    kernel, more poolings than the images allow: found once a population of them was
    built, they stopped the study with trials left running). Each structure is built
    once. Every searched loss was checked against the data before the study began
    (`_refuse_losses_that_do_not_fit`)."""
    batch_norm = network is not None and normalizes_batches(build_aside(network))
    built: set[str] = set()

    def check(experiment: Experiment) -> None:
        if batch_norm and experiment.train.batch_size == 1:
            raise UserError(ONE_EXAMPLE_BATCHES)
        key = experiment_structure(experiment)
        if network is None and key not in built:
            outputs = task_for(experiment, dataset).out_features
            build_aside(
                lambda: build_model(
                    experiment.model, dataset.input_shape, outputs, experiment.model.dropout > 0
                )
            )
            built.add(key)

    return check


def _with_a_searched_optimizer(raw: dict[str, Any]) -> dict[str, Any]:
    """The file with [train] optimizer set to the first one the space offers every trial
    (a choice or a fixed entry without `when`): no trial trains the file's own, and
    [train]'s checks go by the optimizer (a momentum schedule's range from its start:
    the default "momentum" starts at 0.9, where adam reads none and RMSProp starts at 0)."""
    tune_table = raw.get("tune")
    space = tune_table.get("space") if isinstance(tune_table, dict) else None
    spec = space.get("optimizer") if isinstance(space, dict) else None
    if not isinstance(spec, dict) or "when" in spec or not isinstance(raw.get("train", {}), dict):
        return raw  # anything malformed is refused as it is, by validation
    offered = spec.get("values") if spec.get("type") == "choice" else [spec.get("value")]
    if spec.get("type") not in ("choice", "fixed") or not isinstance(offered, list):
        return raw
    if not offered or offered[0] not in OPTIMIZERS:
        return raw
    return {**raw, "train": {**raw.get("train", {}), "optimizer": offered[0]}}


def _as_searched(base: Experiment, space: SearchSpace) -> Experiment:
    """`base` as the study's data must be read: the searched [data.augment] keys counted
    as set, so that loading the data refuses them beside a table before the study starts,
    as it refuses them in a file (else every trial would train without them and --final
    would fail at the end); and a searched loss set to its first choice: a CSV's numeric
    labels are then read as that loss needs them, and [train]'s default loss
    (cross_entropy) is not checked against a regression set the space searches mse on
    (`_refuse_losses_that_do_not_fit` checks every choice)."""
    augment = base.data.augment
    searched = {
        n: getattr(augment, n) for n in space.params if SECTION_OF[n] == ("data", "augment")
    }
    data = base.data.model_copy(update={"augment": augment.model_copy(update=searched)})
    train = base.train
    loss = space.params.get("loss")
    if loss is not None:
        train = train.model_copy(update={"loss": loss.values[0] if loss.values else loss.value})
    return base.model_copy(update={"data": data, "train": train})


def _run_populations(
    feed: StudyFeed,
    dataset: Dataset,
    device: Any,
    population: int | str,
    seeded: bool,
    monitor: Any,
    timed_out: Callable[[], bool],
    refresh: Callable[[], None],
) -> None:
    """Round-robin one epoch of every population until the budget is spent.

    Which trials TPE asks depends on how many train at once, so a seeded study takes
    ``auto`` as the largest population memory allows instead of a measured one: the
    same trials run to run. Per member-step, larger populations were never slower in
    our measurements (bench/population.py (a), whose figures the README's table keeps)."""
    trainers: dict[str, PopulationTrainer] = {}
    while True:
        stop = timed_out()
        if (
            not stop
            and not any(feed.queues.values())
            and not any(t.active for t in trainers.values())
        ):
            feed.ask()  # seed the first population of a fresh or resumed study
        for key in list(feed.queues):
            if key not in trainers:
                experiment = feed.structures[key]
                task = task_for(experiment, dataset)
                trained = build_population(experiment, dataset, task, device, feed.network)
                capacity = population_size(
                    population,
                    trained,
                    experiment,
                    dataset,
                    task,
                    feed.budget,
                    feed.network,
                    measure=not seeded,
                    optimizers=feed.optimizers(experiment),
                )
                feed.tally.sizes.append(capacity)
                trainers[key] = PopulationTrainer(
                    trained,
                    StructureSource(feed, key, monitor.column, len(trainers)),
                    capacity,
                    dataset.x_val,
                    dataset.y_val,
                    monitor,
                    watched=False,
                    keep_best_weights=False,
                )
        if not stop:
            for trainer in trainers.values():
                trainer.fill()
        active = [t for t in trainers.values() if t.active]
        feed.tally.occupancy = {
            k: (len(t.population), t.capacity) for k, t in trainers.items() if t.active
        }
        refresh()
        if not active:
            if stop or feed.budget_spent():
                return
            if not feed.can_ask():  # another worker's first wave or stage still trains
                waiting = feed.others_training()
                if waiting:
                    time.sleep(_WAIT_FOR_OTHERS_S)
                # a worker that died since: its trials are queued again, for this one
                if not feed.recover_crashed() and not waiting:
                    return  # another host's trials, which may never end
            continue
        for trainer in active:
            trainer.advance()


_WAIT_FOR_OTHERS_S = 0.5  # between looks at the study while other workers' trials run


def _requeue_unstarted(feed: StudyFeed) -> None:
    """Trials still held when the populations stop were asked for a population that
    never started before the timeout: `requeue` them (FAIL, status `NOT_STARTED`, their
    params queued again) rather than leave them RUNNING. Their params were drawn from
    what the study knew, and the budget does not lose them: a resume trains them first."""
    unstarted = list(feed.trials.values())
    with deferred_appends():
        for trial in unstarted:
            trial.set_user_attr("status", NOT_STARTED)
    requeue(feed.study, unstarted)
    feed.trials.clear()
    feed.queues.clear()


def retrain_best(
    path: str | Path | dict, study: optuna.Study, model: NetworkFactory | None = None
) -> dict[str, Any]:
    """Train the best trial again alone (same params, same seed: by the population
    invariant, the same run) and evaluate its best checkpoint on the test split. Its
    files go to ``[train] out`` when the file sets it, else to runs/<study>-best.

    Returns the retrained run's best validation value as `val` (the trial's own value
    again, which shows the retrain reproduced the trial), `test_loss`, `test_<metric>`
    and `out`, the run's folder."""
    raw = _experiment_raw(path)
    best = study.best_trial
    concrete = _trial_raw(raw, decode_params(best.params), best.number)
    if "out" not in raw.get("train", {}):
        concrete["train"]["out"] = str(Path("runs") / f"{study.study_name}-best")
    concrete["train"]["monitor"] = _monitor_of(study)
    summary = write_outputs(train(validate(concrete), write=False, model=model))
    tested = {k: v for k, v in summary.items() if k.startswith("test_")}
    return {"val": summary["best_val"], **tested, "out": summary["out"]}


def _experiment_raw(source: str | Path | dict) -> dict[str, Any]:
    """The raw experiment: a TOML file's (its paths relative to it), or a dict given
    in its place (paths relative to the working folder, as `steepest.train` takes)."""
    if isinstance(source, dict):
        if "data" not in source:
            raise UserError("experiment: missing [data] section")
        return copy.deepcopy(source)
    return read_toml(source)


def _named(source: str | Path | dict) -> str:
    return "experiment" if isinstance(source, dict) else str(source)


def _monitor_of(study: optuna.Study) -> str:
    """The ``[train] monitor`` the study's trials trained with (its ``[tune] monitor``,
    which overrides the file's ``[train]`` one), read from its "metric" attr."""
    return "val_loss" if study.user_attrs.get(METRIC_ATTR) == "val_loss" else "val_metric"


def _trial_raw(raw: dict[str, Any], params: dict[str, Any], number: int) -> dict[str, Any]:
    """Trial `number`'s raw experiment: `params` written in, and the seed shifted by the
    trial number (so every trial draws its own initialisation and batches), unless the
    seed is itself searched: then it is the trial's param, as recorded."""
    concrete = apply_params(raw, params)
    table = concrete.setdefault("train", {})
    if "seed" not in params:
        table["seed"] = table.get("seed", 0) + number
    return concrete


def _refuse_model_searches(space: SearchSpace) -> None:
    """A study of the user's own network cannot search ``[model]``: nothing reads it."""
    for name in space.params:
        if SECTION_OF[name] == ("model",) and name != "dropout":
            raise UserError(
                f"[tune.space] {name}: a [model] key, but your own network replaces [model] "
                "(dropout alone still applies)"
            )


def _first_wave(settings: TuneConfig) -> int:
    """Trials to finish before any more start: the startup trials of a sampler or pruner
    that learns from finished trials (TPE, median), none for the others."""
    learns = settings.sampler == "tpe" or settings.pruner == "median"
    return settings.startup_trials if learns else 0


def _best_value(study: optuna.Study) -> float | None:
    try:
        return study.best_value
    except ValueError:
        return None


def _summary(study: optuna.Study, tally: Tally) -> dict[str, Any]:
    best = None
    try:
        best = study.best_trial
    except ValueError:
        pass
    crashed = cut_short(study)
    ran = [t for t in study.get_trials(deepcopy=False) if _ran(t)]
    states = [t.state for t in ran if t.number not in crashed]
    ended = [s for s in states if s.is_finished()]
    return {
        "study": study.study_name,
        "metric": study.user_attrs.get(METRIC_ATTR),
        "trials": len(ended),
        "complete": ended.count(TrialState.COMPLETE),
        "pruned": ended.count(TrialState.PRUNED),
        "failed": ended.count(TrialState.FAIL),
        "running": len(states) - len(ended),  # another worker's, not ended yet
        # cut short by a killed or stopped worker, and queued again: not counted above
        "interrupted": sum(1 for t in ran if t.number in crashed),
        "best_value": None if best is None else best.value,
        "best_params": None if best is None else decode_params(best.params),
        "best_trial": None if best is None else best.number,
        "seconds": time.perf_counter() - tally.started,
        "ran_now": tally.complete + tally.pruned + tally.failed,  # trials this run ended
        "population_sizes": tally.sizes,  # K of each population this run made
    }


def _ran(trial: FrozenTrial) -> bool:
    """Whether a trial trained (or trains now): not a queued one (a grid point, a
    requeued trial) nor one a timeout kept from starting."""
    return trial.state != TrialState.WAITING and trial.user_attrs.get("status") != NOT_STARTED


def _label(params: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def _ranges_json(ranges: dict[str, Range]) -> dict[str, dict[str, Any]]:
    return {n: {"low": r.low, "high": r.high, "log": r.log} for n, r in ranges.items()}
