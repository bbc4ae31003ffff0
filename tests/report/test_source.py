"""`steepest report` on what is no study, and on outputs it cannot write: one line, exit 2,
nothing created on the way."""

from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from steepest.cli import main

from .synthetic import write_run


def journal(path: Path) -> Path:
    """A journal file holding one study of two finished trials."""
    storage = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(storage=storage, study_name="tiny")
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1) ** 2, n_trials=2)
    return path


def error_of(argv: list[str], capsys) -> str:
    """The one line `steepest report …` printed, having exited with status 2."""
    assert main(["report", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("steepest: error: ")
    return err


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("best.pt", b"\x80\x02}q\x00(X\x05\x00\x00\x00model", "not an Optuna journal file\n"),
        ("history.csv", b"member,epoch,train_loss\n0,1,0.5\n", "not an Optuna journal file\n"),
        ("g.log", b"garbage\n", "not an Optuna journal file\n"),
        ("g.log", b"", "holds no Optuna study\n"),
    ],
)
def test_a_file_that_is_no_journal_holds_no_study(name, content, says, tmp_path, capsys):
    (tmp_path / name).write_bytes(content)
    err = error_of([str(tmp_path / name), "-o", str(tmp_path / "r.html")], capsys)
    assert err.endswith(f"{tmp_path / name}: {says}")
    assert not (tmp_path / "r.html").exists()


def test_a_journal_broken_further_on_is_one_line(tmp_path, capsys):
    path = journal(tmp_path / "study.log")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "not json\n" + "".join(lines[1:]))
    err = error_of([str(path)], capsys)
    assert f"{path}: not a readable Optuna journal" in err


def test_a_train_run_folder_points_at_its_own_results(tmp_path, capsys):
    run = write_run(tmp_path / "digits")
    err = error_of([str(run)], capsys)
    assert f"{run}: a `steepest train` run folder; report needs a study" in err
    assert f"results are in {run}/ (summary.json, history.csv" in err
    assert "no such study file" not in err


def test_another_folder_is_no_study(tmp_path, capsys):
    assert "a folder, not a study" in error_of([str(tmp_path)], capsys)


def test_a_missing_sqlite_file_is_refused_not_created(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    err = error_of(["sqlite:///nosuch.db"], capsys)
    assert "sqlite:///nosuch.db: no such SQLite file nosuch.db" in err
    assert list(tmp_path.iterdir()) == []


def test_the_report_goes_into_folders_made_for_it(tmp_path, capsys):
    target = tmp_path / "sub" / "dir" / "r.html"
    assert main(["report", str(journal(tmp_path / "study.log")), "-o", str(target)]) == 0
    assert capsys.readouterr().out == f"report: {target}\n"
    assert target.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("output", "reason"),
    [(lambda tmp: tmp, "(Is a directory)"), (lambda tmp: Path("/proc/x.html"), "(")],
    ids=["folder", "proc"],
)
def test_an_output_that_cannot_be_written_is_one_line(output, reason, tmp_path, capsys):
    target = output(tmp_path)
    err = error_of([str(journal(tmp_path / "study.log")), "-o", str(target)], capsys)
    assert f"{target}: cannot write the report {reason}" in err
