"""Opening an Optuna study: storage, sampler, pruner, and recovery after a crash.

We keep no storage of our own: Optuna's journal file is the default (append-only, safe
for several processes on one machine, and 30× cheaper per report than SQLite, which
commits on every report); any Optuna storage URL works for several machines.
"""

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.storages import JournalStorage
from optuna.trial import FrozenTrial, TrialState

from steepest.config import TuneConfig
from steepest.errors import UserError, first_line
from steepest.rng import derive_int_key
from steepest.tune.journal import JournalFile, is_journal, is_sqlite, is_url
from steepest.tune.space import SearchSpace

WORKER_ATTR = "worker"
METRIC_ATTR = "metric"  # the monitored column: "val_loss" or "val_<metric>"
CRASHED_ATTR = "crashed_trials"  # crashed or never started: failed and queued again


def open_storage(storage: str) -> optuna.storages.BaseStorage:
    """A journal file for a plain path; an RDB storage for a URL (sqlite://, postgresql://)."""
    if is_url(storage):
        return _open_database(storage)
    path = Path(storage)
    if not storage:
        raise UserError("storage '': expected a journal file or an Optuna storage URL")
    file = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if file is not None:  # mkdir says only "File exists"
        raise UserError(f"storage {storage}: {file} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not is_journal(path):
            hint = f" (for SQLite use sqlite:///{storage})" if is_sqlite(path) else ""
            raise UserError(f"{storage}: not an Optuna journal file{hint}")
        return JournalStorage(JournalFile(str(path)))  # reads the whole journal
    except OSError as error:  # a folder that cannot be made, a file that cannot be opened
        reason = error.strerror
        raise UserError(f"storage {storage}: cannot open a journal there ({reason})") from None
    except ValueError as error:  # a broken line further on: not UTF-8, not JSON, cut short
        raise UserError(f"{storage}: not a readable Optuna journal ({first_line(error)})") from None
    except (KeyError, AssertionError):  # JSON Optuna's replay does not know: {"op_code": 99}
        raise UserError(
            f"{storage}: not a readable Optuna journal (a line is no record of it)"
        ) from None


def _open_database(url: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """An RDB storage. Workers started together on a fresh database race to create
    Optuna's tables; the loser's error goes away on a retry, once the tables exist."""
    for attempt in range(1, attempts):
        try:
            return optuna.storages.RDBStorage(url)
        except Exception:  # retried below; the last attempt's error is the one reported
            time.sleep(0.2 * attempt)
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as error:  # driver missing, server down, bad URL: all user-facing
        # SQLAlchemy wraps the driver's message (`orig`) and adds advice and a link
        reason = first_line(getattr(error, "orig", None) or error)
        raise UserError(f"storage {url}: cannot open ({reason})") from None


def make_sampler(tune: TuneConfig) -> BaseSampler:
    """Optuna's sampler for `tune.sampler`; coarse-to-fine draws at random inside the
    stage's narrowed space, and grid draws nothing (its points are enqueued trials).

    With a seed, each trial draws from a sampler seeded by (seed, its number)
    (`TrialSeeded`): a resumed study or a second worker goes on where the study is
    instead of replaying the draws of its first trials, and one worker's study is the
    same run to run. QMC's sequence keeps the one seed (its position in the sequence is
    kept in the study); only its independent draws (the first trial) are per trial."""
    seed = tune.seed
    if tune.sampler == "tpe":
        return _per_trial(
            lambda key: optuna.samplers.TPESampler(
                seed=key, n_startup_trials=tune.startup_trials, constant_liar=True
            ),
            seed,
        )
    random = _per_trial(lambda key: optuna.samplers.RandomSampler(seed=key), seed)
    if tune.sampler == "qmc":
        with warnings.catch_warnings():  # steepest chose it; the user wrote no Optuna code
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(
                seed=None if seed is None else seed % 2**32,  # SciPy's QMC takes 32 bits
                scramble=True,
                independent_sampler=random,
                warn_independent_sampling=False,
            )
    return random


def _per_trial(make: Callable[[int | None], BaseSampler], seed: int | None) -> BaseSampler:
    """`make(None)` for an unseeded study, else a `TrialSeeded` sampler of `make`."""
    return make(None) if seed is None else TrialSeeded(make, seed)


class TrialSeeded(BaseSampler):
    """The sampler `make(key)` for each trial, the key derived from (seed, trial number).

    Optuna's samplers hold one generator seeded once per process, so every process
    started with the same seed (a resume, a second worker) draws the same values again.
    Here a trial's draws depend on its own number alone. The samplers we wrap keep no
    state between trials but that generator (TPE reads the history from the study), so
    a fresh one per trial loses nothing; the current trial's is kept, as a trial draws
    all its parameters in a row."""

    def __init__(self, make: Callable[[int], BaseSampler], seed: int) -> None:
        self._make = make
        self._seed = seed
        self._current: tuple[int, BaseSampler] | None = None

    def _for(self, trial: FrozenTrial) -> BaseSampler:
        if self._current is None or self._current[0] != trial.number:
            self._current = (trial.number, self._build(trial.number))
        return self._current[1]

    def _build(self, number: int) -> BaseSampler:
        return self._make(derive_int_key(self._seed, number))

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        # A trial ends long after its draws. after_trial draws nothing (TPE's and the
        # random sampler's pass the trial on, to no effect), so the sampler at hand hears
        # of it: building one per ended trial took 0.24 ms, 2 % of bench/sweep.py's run.
        sampler = self._build(trial.number) if self._current is None else self._current[1]
        sampler.after_trial(study, trial, state, values)


def make_pruner(tune: TuneConfig, epochs: int) -> optuna.pruners.BasePruner:
    """Optuna's pruner for `tune.pruner`, fed one value per member per epoch; `epochs`:
    the most epochs a trial may train.

    ASHA and Hyperband get their resources from `epochs`, as Optuna's "auto" would from
    the first finished trial (min: a hundredth of its steps; max: its last step + 1):
    here trials start together and none has finished when the first verdicts fall, so
    with "auto" they pruned nothing whenever the whole budget fit in one population.

    The median pruner judges no trial in its first `warmup_epochs` epochs. Steps are
    epochs counted from 1, and Optuna prunes from step n_warmup_steps on (its examples
    count epochs from 0), so n_warmup_steps is warmup_epochs + 1."""
    if tune.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=tune.startup_trials, n_warmup_steps=tune.warmup_epochs + 1
        )
    if tune.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(epochs // 100, 1))
    if tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(max_resource=epochs + 1)
    return optuna.pruners.NopPruner()


def open_study(
    name: str, storage: str, tune: TuneConfig, space: SearchSpace, maximize: bool, epochs: int
) -> optuna.Study:
    """Create the study or continue it (same name, same storage); `epochs`: the most
    epochs a trial may train (`make_pruner`)."""
    try:
        study = optuna.create_study(
            study_name=name,
            storage=open_storage(storage),
            sampler=make_sampler(tune),
            pruner=make_pruner(tune, epochs),
            direction="maximize" if maximize else "minimize",
            load_if_exists=True,
        )
    except OSError as error:  # a read-only journal, or folder for its lock file
        raise UserError(f"storage {storage}: cannot write to it ({error.strerror})") from None
    if study.direction != (
        optuna.study.StudyDirection.MAXIMIZE if maximize else optuna.study.StudyDirection.MINIMIZE
    ):
        metric = study.user_attrs.get(METRIC_ATTR)
        monitors = f" (it monitors {metric})" if metric else ""
        raise UserError(
            f"study {name!r} exists with the other direction{monitors}: keep its monitor "
            "or use a new study name"
        )
    space.refuse_changes_to(study, f"{name!r} in {storage}")
    if tune.sampler == "grid":
        _enqueue_untried(study, space.grid_points())
    return study


def _enqueue_untried(study: optuna.Study, points: list[dict[str, Any]]) -> None:
    """Queue the grid points no trial of the study has had (nor has waiting): all of
    them in a new study; in a study resumed with more values, or switched to a grid,
    only the new ones (the grid sampler falls back to random draws when none is
    queued, which would repeat points and miss others)."""
    had = [t.params or t.system_attrs.get("fixed_params", {}) for t in study.trials]
    for point in points:
        if point not in had:
            study.enqueue_trial(point)


def load_study(storage: str, name: str | None = None) -> optuna.Study:
    """An existing study for reading (report): the only one in the storage, or `name`."""
    if not is_url(storage) and not Path(storage).is_file():
        raise UserError(f"{storage}: no such study file")
    opened = open_storage(storage)
    names = [s.study_name for s in optuna.study.get_all_study_summaries(opened)]
    if not names:
        raise UserError(f"{storage}: holds no Optuna study")
    if name is None:
        if len(names) != 1:
            raise UserError(
                f"{storage} holds {len(names)} studies ({', '.join(names)}): name one with --study"
            )
        name = names[0]
    if name not in names:
        raise UserError(f"--study {name}: not in {storage} (it has {', '.join(names)})")
    return optuna.load_study(study_name=name, storage=opened)


def recover_crashed(study: optuna.Study, is_alive: Callable[[str], bool]) -> list[int]:
    """Trials RUNNING for a worker that is gone (`is_alive(worker)` is False, see
    `steepest.tune.lease`) died with it: `requeue` them. Live workers' are left alone."""
    dead = [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not is_alive(trial.user_attrs.get(WORKER_ATTR, ""))
    ]
    return requeue(study, dead)


def cut_short(study: optuna.Study) -> set[int]:
    """The trials a killed worker or a timeout cut short, failed and queued again
    (`requeue`): not failures, and not counted against the budget."""
    return set(study.user_attrs.get(CRASHED_ATTR, []))


def requeue(study: optuna.Study, trials: Sequence[FrozenTrial | optuna.Trial]) -> list[int]:
    """Mark `trials` (running, never to finish here) FAIL, remember them in the study's
    `CRASHED_ATTR` (they do not count against the budget) and queue their parameters
    again, so the next run trains them. Returns every trial so remembered.

    Another worker may be recovering the same dead trials: a trial no longer running
    is left to it, and the list is read just before it is written, so neither loses
    the other's entries. With nothing to requeue nothing is written (a worker waiting
    for others calls this every half second)."""
    running = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    ours = [trial for trial in trials if trial.number in running]
    for trial in ours:
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(trial.params, user_attrs={"requeued_from": trial.number})
    requeued = cut_short(study)
    if ours:
        requeued |= {trial.number for trial in ours}
        study.set_user_attr(CRASHED_ATTR, sorted(requeued))
    return sorted(requeued)
