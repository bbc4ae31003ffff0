"""Which workers of a study are alive, so a rerun knows whose running trials died.

Each trial records its worker as ``host:pid:token``. A worker on a journal file holds an
flock on ``<journal>.workers/<token>`` for as long as it runs; the kernel drops the lock
when the process dies, however it dies (kill -9 included), and every process sharing
the file system sees it. host:pid alone cannot tell: a container's hostname changes
with each run, and its PID 1 is alive in every container, so trials killed in one were
never recovered. On a database storage (several machines) there is no file to lock,
and the host:pid rule stays: a dead process of this host is gone, another host's worker
is left alone.
"""

import contextlib
import fcntl
import os
import secrets
import socket
from pathlib import Path

from steepest.errors import UserError
from steepest.tune.journal import is_url


class WorkerLease:
    """This process's lease while it works on the study stored at `storage`."""

    def __init__(self, storage: str) -> None:
        token = secrets.token_hex(8)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{token}"
        self.storage = storage
        self.folder = _folder(storage)
        self._held = None
        if self.folder is not None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._held = (self.folder / token).open("w")
            except OSError as error:
                raise UserError(
                    f"storage {storage}: cannot write its workers' folder {self.folder} "
                    f"({error.strerror})"
                ) from None
            fcntl.flock(self._held, fcntl.LOCK_EX)

    def __enter__(self) -> "WorkerLease":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        """Give the lease up (its file removed): this process runs no more trials."""
        if self._held is not None:
            Path(self._held.name).unlink(missing_ok=True)
            self._held.close()
            self._held = None

    def is_alive(self, worker: str) -> bool:
        """`worker_alive` on this lease's storage."""
        return worker_alive(worker, self.storage)

    def holds(self, worker: str) -> bool:
        """Whether `worker` is known to run now: its lease on this journal is held, or,
        with no lease to ask (a database storage, a trial from before leases), it is a
        live process of this host. Another host's worker cannot be asked: False."""
        return _alive(worker, self.folder) is True


def worker_alive(worker: str, storage: str) -> bool:
    """Whether the worker a trial records (on `storage`) may still finish it: its lock is
    held, or, without a lock to ask (a database storage, or a trial from before
    leases), it is another host's or a live process of this one."""
    return _alive(worker, _folder(storage)) is not False


def _alive(worker: str, folder: Path | None) -> bool | None:
    """Whether `worker` runs: its lease in `folder` is held, or, with no lease to ask,
    it is a live process of this host (`_live_here`); None where nobody can tell (another
    host's worker on a database)."""
    lock = _lock_file(worker, folder)
    return _locked(lock) if lock is not None else _live_here(worker)


def _live_here(worker: str) -> bool | None:
    """Whether a worker id host:pid… names a live process of this host; None for another
    host's (or an id without a pid), which cannot be asked."""
    host, _, rest = worker.partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit():
        return _process_exists(int(pid))
    return None


def _lock_file(worker: str, folder: Path | None) -> Path | None:
    """The lock file of a worker id host:pid:token in `folder`; None where there is no
    lease to ask (host:pid from before leases, or no folder: a database storage)."""
    parts = worker.split(":")
    return folder / parts[2] if folder is not None and len(parts) == 3 and parts[2] else None


def _folder(storage: str) -> Path | None:
    """Where a journal's workers keep their lock files (None: a database storage)."""
    return None if is_url(storage) else Path(f"{storage}.workers")


def _locked(path: Path) -> bool:
    """Whether a live process holds the flock on `path`; a stale file is removed where
    this process may. Opened for reading, which flock needs no more than: a report on a
    read-only mount, or another user's runs folder, may ask too (and, unable to open
    the file, takes its worker for alive)."""
    try:
        probe = path.open("rb")
    except FileNotFoundError:  # released, or never taken: nobody holds it
        return False
    except OSError:
        return True
    with probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        with contextlib.suppress(OSError):
            path.unlink()
        return False


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
