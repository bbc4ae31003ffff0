"""Which workers are alive (`steepest.tune.lease`): a rerun must recover the running
trials of a worker killed anywhere — a container with a fresh hostname, a PID reused —
and leave a live worker's alone."""

import os
import signal
import socket
import subprocess
import sys

from optuna.trial import TrialState

from steepest.config import TuneConfig
from steepest.tune.lease import WorkerLease
from steepest.tune.space import SearchSpace
from steepest.tune.study import WORKER_ATTR, open_study, recover_crashed


def test_a_lease_is_alive_until_released(tmp_path):
    storage = str(tmp_path / "s.log")
    with WorkerLease(storage) as mine, WorkerLease(storage) as other:
        assert other.is_alive(mine.id) and mine.is_alive(other.id)
        mine.release()
        assert not other.is_alive(mine.id)
        (left,) = (tmp_path / "s.log.workers").iterdir()
        assert other.id.endswith(left.name)
    assert not any((tmp_path / "s.log.workers").iterdir())


def test_a_worker_killed_with_minus_nine_is_gone_whatever_its_host_and_pid(tmp_path):
    storage = str(tmp_path / "s.log")
    code = (
        "import sys, time; from steepest.tune.lease import WorkerLease; "
        f"lease = WorkerLease({storage!r}); print(lease.id, flush=True); time.sleep(60)"
    )
    command = [sys.executable, "-c", code]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as worker:
        held = worker.stdout.readline().strip()
        _, _, token = held.split(":")
        in_a_container = f"container-7f3a:1:{token}"  # another hostname, PID 1 alive here
        with WorkerLease(storage) as probe:
            assert probe.is_alive(held) and probe.is_alive(in_a_container)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            assert not probe.is_alive(in_a_container) and not probe.is_alive(held)
    assert not (tmp_path / "s.log.workers" / token).exists()  # the stale file is removed


def test_without_a_lease_file_the_host_and_pid_decide(tmp_path):
    """Trials from before leases, and database storages (no file to lock)."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    host = socket.gethostname()
    for storage in (str(tmp_path / "s.log"), "sqlite:///x.db"):
        with WorkerLease(storage) as lease:
            assert not lease.is_alive(f"{host}:{gone}")
            assert lease.is_alive(f"{host}:{os.getpid()}")
            assert lease.is_alive(f"elsewhere:{gone}")  # another machine's: left alone
            # a worker waits for a live process of this host (a second worker on SQLite
            # left after its share of the first wave), not for another machine's
            assert lease.holds(f"{host}:{os.getpid()}") and not lease.holds(f"{host}:{gone}")
            assert not lease.holds(f"elsewhere:{os.getpid()}")
    assert WorkerLease("sqlite:///x.db").is_alive(f"elsewhere:{gone}:abc")


def test_recovery_requeues_the_dead_workers_trials_only(tmp_path):
    storage = str(tmp_path / "s.log")
    settings = TuneConfig.model_validate(
        {"sampler": "random", "space": {"lr": {"type": "uniform", "low": 0, "high": 1}}}
    )
    study = open_study("s", storage, settings, SearchSpace(settings.space), True, 3)
    with WorkerLease(storage) as live, WorkerLease(storage) as dead:
        for lease in (live, dead):
            trial = study.ask()
            trial.suggest_float("lr", 0, 1)
            trial.set_user_attr(WORKER_ATTR, lease.id)
        dead.release()
        assert recover_crashed(study, live.is_alive) == [1]
    states = [t.state for t in study.trials]
    assert states == [TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING]


def test_recovering_twice_writes_nothing_more_and_raises_nothing(tmp_path):
    """Two waiting workers may recover the same dead trial, each every half second."""
    storage = str(tmp_path / "s.log")
    settings = TuneConfig.model_validate(
        {"sampler": "random", "space": {"lr": {"type": "uniform", "low": 0, "high": 1}}}
    )
    study = open_study("s", storage, settings, SearchSpace(settings.space), True, 3)
    other = open_study("s", storage, settings, SearchSpace(settings.space), True, 3)
    trial = study.ask()
    trial.suggest_float("lr", 0, 1)
    trial.set_user_attr(WORKER_ATTR, "gone:1:0123456789abcdef")
    with WorkerLease(storage) as lease:
        assert recover_crashed(study, lease.is_alive) == [0]
        lines = (tmp_path / "s.log").read_text().count("\n")
        assert recover_crashed(other, lease.is_alive) == [0]  # already failed: left alone
        assert recover_crashed(study, lease.is_alive) == [0]
    assert (tmp_path / "s.log").read_text().count("\n") == lines
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]
