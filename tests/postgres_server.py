"""A throwaway PostgreSQL server on 127.0.0.1 for the multi-worker tuning test.

Uses Debian's `postgresql` package, installing it with apt-get when it is missing and we
are root (as on CI); the caller skips, visibly, only when that is impossible.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class Unavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "postgresql"],
        ):
            subprocess.run(command, check=False, env=env, capture_output=True, timeout=600)
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise Unavailable("PostgreSQL is not installed and cannot be installed here")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the package's `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start() -> tuple[str, callable]:
    """Start a server with its data in a fresh temporary folder (pytest's own are
    root-only, which the `postgres` user cannot enter); returns (storage URL, stop)."""
    try:
        import psycopg  # noqa: F401  (the driver SQLAlchemy uses for postgresql://)
    except ImportError as error:
        raise Unavailable(f"psycopg is not installed ({error})") from None
    bin_dir = _binaries()
    folder = Path(tempfile.mkdtemp(prefix="steepest-pg-"))
    data = folder / "pgdata"
    data.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(data, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(data / "log"),
                "-w",
                "start",
                "-o",
                f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
            ]
        ),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "steepest",
            ]
        ),
        check=True,
        capture_output=True,
    )

    def stop() -> None:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)

    return f"postgresql://postgres@127.0.0.1:{port}/steepest", stop
