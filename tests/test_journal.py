"""The journal lock excludes other writers and does not outlive a killed process."""

import signal
import subprocess
import sys
import threading

from steepest.tune.journal_lock import FlockLock

HOLD = """
import sys, time
from steepest.tune.journal_lock import FlockLock
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
