"""The study `steepest report` reads, refused in one line when what is named holds none:
a `steepest train` run folder (pointing at what it holds instead), another folder, or an
SQLite URL whose file does not exist (Optuna would create an empty database). Files that
are no journal are refused by `load_study`, as `steepest tune` refuses them."""

from pathlib import Path

import optuna

from steepest.errors import UserError
from steepest.tune.journal import is_url
from steepest.tune.study import load_study

# What `steepest train` writes into its run folder (`summary.json` always).
RUN_FILES = ("summary.json", "history.csv", "members.json", "best.pt")


def study_to_report(storage: str, name: str | None = None) -> optuna.Study:
    """The study in `storage` (a journal file or an Optuna storage URL): the only one, or
    `name`. `load_study` refuses a file that is no journal and one that holds no study."""
    if is_url(storage):
        _check_sqlite_file(storage)
    elif Path(storage).is_dir():
        _refuse_folder(Path(storage))
    return load_study(storage, name)


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
