"""Two `steepest tune` workers share one study: through a real PostgreSQL server, and
through one journal file on this machine."""

import os
import subprocess
import sys

import optuna
import pytest
from optuna.trial import TrialState

from steepest.tune.study import load_study

from .postgres_server import Unavailable, start

EXPERIMENT = """
[data]
name = "digits"
[model]
hidden = [16]
[train]
epochs = 6
batch_size = 64
[tune]
sampler = "random"
pruner = "none"
trials = 12
population = 1
[tune.space]
lr = { type = "loguniform", low = 1e-3, high = 0.5 }
"""


@pytest.fixture
def postgres():
    try:
        url, stop = start()
    except Unavailable as reason:
        pytest.skip(str(reason))
    yield url
    stop()


def run_two_workers(tmp_path, storage: str) -> None:
    """Start two `steepest tune` processes on one study; both must exit 0. One trial at a
    time, 6 epochs each: the study lasts seconds, so the second worker starts before
    the first has asked the whole budget (with 3-epoch trials three at a time, one
    worker sometimes finished all 12 before the other began)."""
    path = tmp_path / "shared.toml"
    path.write_text(EXPERIMENT)
    command = [sys.executable, "-m", "steepest.cli", "tune", str(path), "--storage", storage]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    workers = [
        subprocess.Popen([*command, "--quiet"], env=env, stderr=subprocess.PIPE) for _ in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err.decode()[-2000:]


def assert_budget_split(trials: list[optuna.trial.FrozenTrial]) -> None:
    # Each worker checks the shared count before it asks, so the budget holds up to the
    # one trial a worker may ask in the instant between another's check and its ask.
    assert 12 <= len(trials) <= 13
    assert all(t.state == TrialState.COMPLETE for t in trials)
    workers_seen = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in trials}
    assert len(workers_seen) == 2
    assert len({t.params["lr"] for t in trials}) == len(trials)


@pytest.mark.slow
def test_two_workers_split_the_budget(tmp_path, postgres):
    run_two_workers(tmp_path, postgres)
    storage = optuna.storages.RDBStorage(postgres)
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    storage.engine.dispose()  # close the pooled connections before the server stops
    assert_budget_split(trials)


@pytest.mark.slow
def test_two_workers_share_a_journal_file(tmp_path):
    journal = tmp_path / "shared.log"
    run_two_workers(tmp_path, str(journal))
    assert_budget_split(load_study(str(journal)).trials)
