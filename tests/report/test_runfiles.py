"""Reading a training run's output folder."""

import math

import pytest

from steepest.report.runfiles import read_run

from .synthetic import blank_val_metric, write_run


def test_history_is_split_by_member_in_epoch_order(tmp_path):
    run = read_run(write_run(tmp_path, members=3, epochs=5))
    assert sorted(run.history) == [0, 1, 2]
    assert list(run.history[1]["epoch"]) == [0, 1, 2, 3, 4]
    assert run.hparams == ["lr", "momentum"]
    assert run.history[2]["dead_relu"][3] == pytest.approx(0.03)


def test_rows_out_of_order_and_empty_cells_are_read(tmp_path):
    write_run(tmp_path, members=1, epochs=3)
    lines = (tmp_path / "history.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    rows[1] = rows[1].replace(",0.9", ",")  # momentum not recorded at epoch 1
    (tmp_path / "history.csv").write_text("\n".join([header, rows[2], rows[0], rows[1]]) + "\n")
    history = read_run(tmp_path).history[0]
    assert list(history["epoch"]) == [0, 1, 2]
    assert math.isnan(history["momentum"][1]) and history["momentum"][2] == 0.9


def test_best_validation_is_read_from_the_history(tmp_path):
    run = read_run(write_run(tmp_path, members=4))
    epoch, value = run.best_validation(3)
    val_loss = 2.0 * math.exp(-1.6 * 3) + 0.01 + 0.06  # member 3's lowest, at epoch 3
    assert epoch == 3 and value == pytest.approx(1 - val_loss / 3)


def test_ranking_puts_members_without_a_metric_last(tmp_path):
    write_run(tmp_path, members=4)
    assert read_run(tmp_path).ranked_members() == [3, 2, 1, 0]
    blank_val_metric(tmp_path, 1)
    run = read_run(tmp_path)
    assert run.ranked_members() == [3, 2, 0, 1]
    assert run.best_validation(1)[0] is None


def test_ranking_follows_a_minimised_metric(tmp_path):
    run = read_run(write_run(tmp_path, members=3, task="regression"))
    assert run.ranked_members() == [2, 1, 0]


def test_missing_file_is_named(tmp_path):
    write_run(tmp_path)
    (tmp_path / "members.json").unlink()
    with pytest.raises(FileNotFoundError, match="members.json"):
        read_run(tmp_path)


def test_missing_column_is_named(tmp_path):
    write_run(tmp_path)
    text = (tmp_path / "history.csv").read_text().replace("val_loss", "validation_loss")
    (tmp_path / "history.csv").write_text(text)
    with pytest.raises(ValueError, match="val_loss"):
        read_run(tmp_path)
