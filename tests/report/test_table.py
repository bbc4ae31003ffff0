"""The members table printed after a run."""

from rich.console import Console

from steepest.report.table import results_table

from .synthetic import blank_val_metric, write_run


def render(table) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def test_members_sorted_best_first_with_unscored_last(tmp_path):
    write_run(tmp_path, members=4, diverged=1)
    blank_val_metric(tmp_path, 2)
    text = render(results_table(tmp_path))
    order = [text.index(f"seed={k} ") for k in (3, 0, 1, 2)]  # 1 peaked at 69% on epoch 1
    assert order == sorted(order)
    assert "diverged" in text and "—" in text
    assert "best val accuracy" in text and "%" in text


def test_regression_sorted_by_lowest_rmse(tmp_path):
    table = results_table(write_run(tmp_path, members=3, task="regression"))
    assert "lower is better" in str(table.title)
    text = render(table)
    assert text.index("seed=2 ") < text.index("seed=1 ") < text.index("seed=0 ")
