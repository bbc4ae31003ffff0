"""A journal-file lock that dies with its process.

Optuna's own journal locks (a symlink, or a file created with O_EXCL) outlive a process
killed with -9: the next writer sees the lock, waits out a 30 s grace period, then breaks
it, so a study resumed after a crash stalls for half a minute. A flock(2) lock belongs to
the open file, and the kernel drops it when the process dies, however it dies. POSIX only,
like the rest of the journal's one-machine story; every steepest worker uses this lock, so
they exclude one another.
"""

import fcntl
import os
import threading


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
