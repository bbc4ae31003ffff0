"""The journal file a study lives in: Optuna's file backend with a lock that dies with its
process and an fsync only where durability needs one.

Optuna's own journal locks (a symlink, or a file created with O_EXCL) outlive a process
killed with -9: the next writer sees the lock, waits out a 30 s grace period, then breaks
it, so a study resumed after a crash stalls for half a minute. A flock(2) lock belongs to
the open file, and the kernel drops it when the process dies, however it dies. POSIX only,
like the rest of the journal's one-machine story; every steepest worker uses this lock, so
they exclude one another.
"""

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

# Optuna's JournalOperation codes for what a running trial writes: its parameters, the
# values it reports, its user and system attrs. Lost to a power cut, they belong to a
# trial that was running, which a resumed study fails and queues again anyway; so is the
# creation of a running trial (CREATE_TRIAL without a template state: `study.ask`), which
# leaves no trace at all if lost. Only these may wait in memory (`deferred_appends`): a
# creation must be written at once, for the storage reads the new trial's id back.
_DEFERRABLE_OPS = frozenset({5, 7, 8, 9})  # SET_TRIAL_PARAM, _INTERMEDIATE_VALUE, _*_ATTR
_CREATE_TRIAL = 4
_JOURNAL_START = b'{"op_code"'  # how every journal line starts, Optuna's and ours
_SQLITE_START = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database
_TAIL_CHUNK = 4096  # bytes read at a time, backwards, to find a torn line's start

# This thread's open `deferred_appends` blocks and the journals holding deferred ops; its
# open `one_fsync` block and the journals written without their fsync.
_deferral = threading.local()


def _needs_fsync(log: dict[str, Any]) -> bool:
    """Whether a power cut right after writing `log` could lose something that matters."""
    if log["op_code"] in _DEFERRABLE_OPS:
        return False
    creates_running = log["op_code"] == _CREATE_TRIAL and (
        log.get("state", TrialState.RUNNING) == TrialState.RUNNING
    )
    return not creates_running


@contextmanager
def deferred_appends() -> Iterator[None]:
    """Inside the block, `_DEFERRABLE_OPS` appended to any `JournalFile` wait in memory and
    are written in one append when the block ends, or earlier, in order, ahead of the
    first other op. A population's epoch reports 32 values: one lock, open and write
    instead of 32; a trial's parameters and attrs likewise. Deferred ops are not in the
    storage until written: ask the pruner after the block, not inside it."""
    depth = getattr(_deferral, "depth", 0)
    if depth == 0:
        _deferral.journals = []
    _deferral.depth = depth + 1
    try:
        yield
    finally:
        _deferral.depth = depth
        if depth == 0:
            for journal in _deferral.journals:
                journal.append_logs([])
            _deferral.journals = []


@contextmanager
def one_fsync() -> Iterator[None]:
    """Inside the block, appends to any `JournalFile` are written at once but their fsync
    waits for the block's end, one per journal: the trials of a population that finish in
    the same epoch (35 of them when the median pruner first speaks in the sweep) cost one
    fsync instead of one each. Their end states are durable when the block ends; against
    `kill -9` nothing changes (written data is in the kernel's page cache)."""
    if getattr(_deferral, "unsynced", None) is not None:  # nested: the outer block syncs
        yield
        return
    _deferral.unsynced = []
    try:
        yield
    finally:
        journals, _deferral.unsynced = _deferral.unsynced, None
        for journal in journals:
            journal.fsync()


def is_url(storage: str) -> bool:
    """Whether a --storage value is a database URL (sqlite://, postgresql://, ...), not
    a journal file's path."""
    return "://" in storage


def is_journal(path: Path) -> bool:
    """Whether `path` may be a journal: missing or empty (a new one), or starting as
    every Optuna journal line does. An SQLite file or a text file given as a journal
    would otherwise fail deep inside Optuna's reader, or be appended to."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(_JOURNAL_START))
    except FileNotFoundError:
        return True
    return head == _JOURNAL_START[: len(head)]  # a first line cut short too


def is_sqlite(path: Path) -> bool:
    """Whether `path` is an SQLite database file (it starts with SQLite's header string)."""
    with open(path, "rb") as file:
        return file.read(len(_SQLITE_START)) == _SQLITE_START


def _cut_torn_tail(file: BinaryIO) -> None:
    """Cut a last line that has no newline: a write cut short by a power cut. Optuna's
    reader skips such a line while it is last, but a line appended after it would join
    it, and the journal would no longer read at all. Call with the journal's lock held
    (no writer is mid-line then); every complete line stays."""
    end = file.seek(0, os.SEEK_END)
    if end == 0:
        return
    file.seek(end - 1)
    if file.read(1) == b"\n":
        return
    cut = end
    while cut > 0:
        start = max(0, cut - _TAIL_CHUNK)
        file.seek(start)
        newline = file.read(cut - start).rfind(b"\n")
        if newline >= 0:
            cut = start + newline + 1
            break
        cut = start
    file.truncate(cut)


class FlockLock:
    """Exclusive flock on `<journal>.flock`, held for each append to the journal.

    Duck-typed to Optuna's lock interface (acquire/release), whose base class is private.
    """

    def __init__(self, journal_path: str) -> None:
        self._path = f"{journal_path}.flock"
        self._threads = threading.Lock()  # flock excludes processes; this, our own threads
        self._fd: int | None = None

    def acquire(self) -> bool:
        self._threads.acquire()
        fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor of the open file drops the flock
        self._threads.release()


class JournalFile(JournalFileBackend):
    """Optuna's journal file with `FlockLock`, fsync skipped where `_needs_fsync` says a
    power cut would lose nothing, `_DEFERRABLE_OPS` held back inside `deferred_appends`,
    and fsyncs gathered inside `one_fsync`.

    Optuna fsyncs every append: for 64 trials × 20 epochs, 2000 fsyncs for the reports
    alone, 10 % of a sweep here. A finished trial's tell is still synced (at the end of
    its `one_fsync` block at the latest), and an fsync flushes everything appended before
    it, so a finished trial is durable once its block ends; against `kill -9` nothing
    changes at all (written data is in the kernel's page cache).
    """

    def __init__(self, path: str) -> None:
        self._flock = FlockLock(path)
        super().__init__(path, lock_obj=self._flock)
        self._path = path
        self._deferred: list[dict[str, Any]] = []

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        deferring = getattr(_deferral, "depth", 0) > 0
        if deferring and logs and all(log["op_code"] in _DEFERRABLE_OPS for log in logs):
            if not self._deferred:
                _deferral.journals.append(self)
            self._deferred.extend(logs)
            return
        logs, self._deferred = self._deferred + logs, []
        if not logs:
            return
        lines = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        sync = any(_needs_fsync(log) for log in logs)
        unsynced = getattr(_deferral, "unsynced", None)
        if sync and unsynced is not None:
            if self not in unsynced:
                unsynced.append(self)
            sync = False
        self._flock.acquire()
        try:
            with open(self._path, "a+b") as file:
                _cut_torn_tail(file)
                file.write(lines.encode("utf-8"))
                file.flush()
                if sync:
                    os.fsync(file.fileno())
        finally:
            self._flock.release()

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        """Optuna's read, skipped when the file holds nothing past what was read: the
        storage reads before every query (each report, suggest and tell makes one); one
        stat then stands for an open, a stat and a read.
        (`_log_number_offset` is the parent's map from log number to byte offset.)"""
        offset = self._log_number_offset.get(log_number_from)
        if offset is not None and os.stat(self._path).st_size == offset:
            return iter(())
        return super().read_logs(log_number_from)

    def fsync(self) -> None:
        """Flush everything written to the journal to the disk."""
        with open(self._path, "ab") as file:
            os.fsync(file.fileno())
