"""The study `steepest report` reads, refused in one line when the storage named holds
none, before Optuna opens it: Optuna would decode a checkpoint as text, read a CSV as a
journal with a broken line, read a one-line text file as an empty journal, and create a
new, empty SQLite database for a URL whose file does not exist."""

import json
from pathlib import Path

import optuna

from steepest.errors import UserError, first_line
from steepest.tune.study import load_study

# What `steepest train` writes into its run folder (`summary.json` always).
RUN_FILES = ("summary.json", "history.csv", "members.json", "best.pt")


def study_to_report(storage: str, name: str | None = None) -> optuna.Study:
    """The study in `storage` (a journal file or an Optuna storage URL): the only one, or
    `name`."""
    if "://" in storage:
        _check_sqlite_file(storage)
    else:
        _check_journal(Path(storage))
    try:
        return load_study(storage, name)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:  # a broken line further on
        raise UserError(f"{storage}: not a readable Optuna journal ({first_line(error)})") from None


def _check_journal(path: Path) -> None:
    """A folder is no journal (a train run's gets a pointer to what it holds); a file must
    start with a journal entry, a JSON object with an op_code."""
    if path.is_dir():
        _refuse_folder(path)
    if not path.is_file():
        return  # load_study names the missing file
    with path.open("rb") as file:
        first = file.readline()
    if not first.strip():
        raise UserError(f"{path}: holds no Optuna study (the file is empty)")
    try:
        entry = json.loads(first)
    except ValueError:  # bytes that are no UTF-8 text, or text that is no JSON
        entry = None
    if not (isinstance(entry, dict) and "op_code" in entry):
        raise UserError(f"{path}: holds no Optuna study (not an Optuna journal file)")


def _refuse_folder(path: Path) -> None:
    if not (path / "summary.json").is_file():
        raise UserError(f"{path}: a folder, not a study (a journal file or a storage URL)")
    kept = [name for name in RUN_FILES if (path / name).is_file()]
    kept += sorted(p.name for p in path.glob("*.png"))
    raise UserError(
        f"{path}: a `steepest train` run folder; report needs a study (a journal file or a "
        f"storage URL) — this run's results are in {path}/ ({', '.join(kept)})"
    )


def _check_sqlite_file(url: str) -> None:
    """An SQLite URL must name an existing file: opening another creates an empty one."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # not a URL SQLAlchemy reads: load_study says why in one line
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database
    if database in (None, "", ":memory:"):
        raise UserError(f"{url}: an in-memory SQLite database holds no study; name its file")
    if not Path(database).is_file():
        raise UserError(f"{url}: no such SQLite file {database}")
