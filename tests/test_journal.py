"""The journal lock excludes other writers and does not outlive a killed process."""

import json
import signal
import subprocess
import sys
import threading

from steepest.tune.journal import FlockLock

HOLD = """
import sys, time
from steepest.tune.journal import FlockLock
FlockLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(60)
"""


def acquire_in_background(lock: FlockLock) -> threading.Event:
    """An event set once `lock.acquire()` returns in a daemon thread."""
    done = threading.Event()
    threading.Thread(target=lambda: (lock.acquire(), done.set()), daemon=True).start()
    return done


def test_a_lock_held_by_a_process_killed_with_minus_nine_is_free_at_once(tmp_path):
    journal = str(tmp_path / "study.log")
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, journal], stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdout.readline().strip() == "held"
        acquired = acquire_in_background(FlockLock(journal))
        assert not acquired.wait(0.5)  # excluded while the other process lives
        holder.send_signal(signal.SIGKILL)
    assert acquired.wait(5.0)  # Optuna's own file locks make the next writer wait 30 s


def test_release_lets_the_waiting_writer_in(tmp_path):
    journal = str(tmp_path / "study.log")
    first = FlockLock(journal)
    first.acquire()
    waiting = acquire_in_background(FlockLock(journal))
    assert not waiting.wait(0.3)
    first.release()
    assert waiting.wait(5.0)


def test_a_running_trials_writes_skip_fsync_and_tell_syncs_everything(tmp_path, monkeypatch):
    import optuna

    from steepest.tune import journal
    from steepest.tune.study import open_storage

    synced = []
    monkeypatch.setattr(journal.os, "fsync", lambda fd: synced.append(fd))
    storage = open_storage(str(tmp_path / "study.log"))
    study = optuna.create_study(storage=storage, direction="maximize")
    created = len(synced)
    assert created > 0  # creating the study is synced
    study.enqueue_trial({"lr": 0.1})
    assert len(synced) == created + 1  # so is a queued trial: a grid point must not be lost
    trial = study.ask()  # takes the queued trial: its state change to running is synced
    after_ask = len(synced)
    trial = study.ask()  # a new running trial: lost to a power cut, it leaves no trace
    assert len(synced) == after_ask
    lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
    for epoch in range(5):
        trial.report(0.1 * epoch, epoch)
    trial.set_user_attr("seed", 3)
    assert len(synced) == after_ask
    study.tell(trial, 0.4)
    assert len(synced) == after_ask + 1
    reread = optuna.load_study(
        study_name=study.study_name, storage=open_storage(str(tmp_path / "study.log"))
    )
    assert reread.trials[1].intermediate_values == {e: 0.1 * e for e in range(5)}
    assert reread.trials[1].user_attrs == {"seed": 3} and reread.trials[1].value == 0.4
    assert reread.trials[1].params == {"lr": lr}


def test_tells_in_one_fsync_block_are_written_at_once_and_synced_once(tmp_path, monkeypatch):
    import optuna

    from steepest.tune import journal
    from steepest.tune.study import open_storage

    path = str(tmp_path / "study.log")
    study = optuna.create_study(storage=open_storage(path), direction="maximize")
    trials = [study.ask() for _ in range(4)]
    synced = []
    monkeypatch.setattr(journal.os, "fsync", lambda fd: synced.append(fd))
    other_process = optuna.load_study(study_name=study.study_name, storage=open_storage(path))
    with journal.one_fsync():
        for i, trial in enumerate(trials):
            study.tell(trial, i / 4)
        assert synced == []
        # Written already: another reader of the file sees every end state.
        assert [t.value for t in other_process.trials] == [0.0, 0.25, 0.5, 0.75]
    assert len(synced) == 1


def test_deferred_appends_write_once_in_order_and_flush_before_other_ops(tmp_path, monkeypatch):
    import optuna

    from steepest.tune import journal
    from steepest.tune.study import open_storage

    path = tmp_path / "study.log"
    study = optuna.create_study(storage=open_storage(str(path)), direction="maximize")
    first, second = study.ask(), study.ask()
    writes = []
    original = journal.JournalFile.append_logs

    def counting(self, logs):  # the op codes of each write that reaches the file
        before = path.stat().st_size
        original(self, logs)
        written = path.read_bytes()[before:].splitlines()
        if written:
            writes.append([json.loads(line)["op_code"] for line in written])

    monkeypatch.setattr(journal.JournalFile, "append_logs", counting)
    with journal.deferred_appends():
        for epoch in range(3):
            first.report(0.1 * epoch, epoch)
            second.report(0.2 * epoch, epoch)
        assert writes == []
    assert writes == [[7] * 6]
    with journal.deferred_appends():
        first.set_user_attr("seed", 7)
        study.tell(first, 0.5)  # the attr goes first, in the tell's own append
    assert writes[1] == [8, 6]  # SET_TRIAL_USER_ATTR, then SET_TRIAL_STATE_VALUES
    reread = optuna.load_study(study_name=study.study_name, storage=open_storage(str(path)))
    assert reread.trials[0].user_attrs == {"seed": 7} and reread.trials[0].value == 0.5
    assert reread.trials[0].intermediate_values == {0: 0.0, 1: 0.1, 2: 0.2}
    assert reread.trials[1].intermediate_values == {0: 0.0, 1: 0.2, 2: 0.4}


def test_a_torn_last_line_is_cut_before_the_next_append(tmp_path):
    """A power cut mid-write leaves a last line without its newline; the next writer cuts
    it (under the lock) instead of appending after it, and every complete line stays."""
    import optuna
    from optuna.storages import JournalStorage

    from steepest.tune.journal import JournalFile
    from steepest.tune.study import load_study

    journal = tmp_path / "s.log"
    study = optuna.create_study(study_name="s", storage=JournalStorage(JournalFile(str(journal))))
    study.tell(study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}), 0.5)
    complete = journal.read_bytes()
    with journal.open("ab") as file:
        file.write(b'{"op_code": 5, "worker')
    resumed = load_study(str(journal))
    resumed.tell(resumed.ask(), 0.25)
    assert journal.read_bytes().startswith(complete)
    assert [t.value for t in load_study(str(journal)).trials] == [0.5, 0.25]


def test_a_torn_line_longer_than_a_read_is_cut_whole(tmp_path):
    from steepest.tune.journal import _cut_torn_tail

    journal = tmp_path / "s.log"
    journal.write_bytes(b'{"op_code":0}\n' + b"x" * 10_000)
    with journal.open("a+b") as file:
        _cut_torn_tail(file)
    assert journal.read_bytes() == b'{"op_code":0}\n'
