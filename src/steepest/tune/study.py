"""Opening an Optuna study: storage, sampler, pruner, and recovery after a crash.

We keep no storage of our own: Optuna's journal file is the default (append-only, safe
for several processes on one machine, and 30× cheaper per report than SQLite, which
commits on every report); any Optuna storage URL works for several machines.
"""

import os
import socket
import time
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.trial import TrialState

from steepest.config import TuneConfig
from steepest.errors import UserError, first_line
from steepest.tune.journal import JournalFile
from steepest.tune.space import SearchSpace

WORKER_ATTR = "worker"
CRASHED_ATTR = "crashed_trials"


def open_storage(storage: str) -> optuna.storages.BaseStorage:
    """A journal file for a plain path; an RDB storage for a URL (sqlite://, postgresql://)."""
    if "://" in storage:
        return _open_database(storage)
    path = Path(storage)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFile(str(path)))
    except OSError as error:
        reason = error.strerror
        raise UserError(f"storage {storage}: cannot write a journal there ({reason})") from None


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


def make_sampler(tune: TuneConfig) -> optuna.samplers.BaseSampler:
    """Optuna's sampler for `tune.sampler`; coarse-to-fine draws at random inside the
    stage's narrowed space, and grid draws nothing (its points are enqueued trials)."""
    seed = tune.seed
    if tune.sampler == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=tune.startup_trials, constant_liar=True
        )
    if tune.sampler == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(tune: TuneConfig) -> optuna.pruners.BasePruner:
    """Optuna's pruner for `tune.pruner`, fed one value per member per epoch."""
    if tune.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=tune.startup_trials, n_warmup_steps=tune.warmup_epochs
        )
    if tune.pruner == "asha":
        return optuna.pruners.SuccessiveHalvingPruner()
    if tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def open_study(
    name: str, storage: str, tune: TuneConfig, space: SearchSpace, maximize: bool
) -> optuna.Study:
    """Create the study or continue it (same name, same storage)."""
    study = optuna.create_study(
        study_name=name,
        storage=open_storage(storage),
        sampler=make_sampler(tune),
        pruner=make_pruner(tune),
        direction="maximize" if maximize else "minimize",
        load_if_exists=True,
    )
    if study.direction != (
        optuna.study.StudyDirection.MAXIMIZE if maximize else optuna.study.StudyDirection.MINIMIZE
    ):
        raise UserError(f"study {name!r} exists with the other direction: use a new study name")
    if tune.sampler == "grid" and not study.trials:
        for point in space.grid_points():
            study.enqueue_trial(point)
    return study


def load_study(storage: str, name: str | None = None) -> optuna.Study:
    """An existing study for reading (report): the only one in the storage, or `name`."""
    if "://" not in storage and not Path(storage).is_file():
        raise UserError(f"{storage}: no such study file")
    opened = open_storage(storage)
    names = [s.study_name for s in optuna.study.get_all_study_summaries(opened)]
    if name is None:
        if len(names) != 1:
            raise UserError(
                f"{storage} holds {len(names)} studies ({', '.join(names) or 'none'}): "
                "name one with --study"
            )
        name = names[0]
    if name not in names:
        raise UserError(f"--study {name}: not in {storage} (it has {', '.join(names)})")
    return optuna.load_study(study_name=name, storage=opened)


def worker_id() -> str:
    """host:pid, recorded on every trial so a restart knows which trials died with it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def recover_crashed(study: optuna.Study) -> list[int]:
    """Trials RUNNING for a process of this host that no longer exists died with it: mark
    them FAIL, remember them as crashed (they do not count against the budget) and queue
    their parameters again. Trials of live processes or other hosts are left alone."""
    host = socket.gethostname()
    crashed = list(study.user_attrs.get(CRASHED_ATTR, []))
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get(WORKER_ATTR, "")
        worker_host, _, pid = worker.rpartition(":")
        if worker_host != host or not pid.isdigit() or _alive(int(pid)):
            continue
        study.tell(trial.number, state=TrialState.FAIL)
        crashed.append(trial.number)
        study.enqueue_trial(trial.params, user_attrs={"requeued_from": trial.number})
    study.set_user_attr(CRASHED_ATTR, crashed)
    return crashed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
