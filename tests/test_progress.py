"""The progress bar `steepest train` draws: what a person reads at the end of a run."""

import io
import re

from rich.console import Console

from steepest.config import validate
from steepest.training import Run, train


def last_line(width: int, *members: dict) -> tuple[str, Run]:
    """The last line a run leaves on a `width`-column console that is not a terminal (a log
    file, CI), and the run; `members`: each member's [train] values."""
    screen = io.StringIO()
    console = Console(file=screen, width=width, force_terminal=False)
    experiments = [
        validate({"data": {"name": "digits"}, "model": {"hidden": [16]}, "train": train_values})
        for train_values in members or [{"epochs": 4, "lr": 0.1, "patience": 100}]
    ]
    run = train(experiments, console=console, write=False)
    shown = screen.getvalue()
    assert shown.endswith("\n")
    return shown.splitlines()[-1], run


def test_one_run_shows_its_whole_epoch_count_figures_and_time_on_80_columns():
    line, _ = last_line(80)
    assert line.startswith("epochs ") and " 4/4 " in line
    assert re.search(r"loss \d\.\d{4}  val accuracy \d\.\d{4}  lr 0\.1  [\d.]+ epochs/s", line)
    assert re.search(r" 0:00:\d\d$", line)
    assert len(line) <= 80


def test_a_population_shows_member_epochs_and_its_best():
    """The fast learner stops early; the slow one trains on alone to its last epoch. The
    last line gives the best value of any member at any epoch, not the last epoch's."""
    fast = {"epochs": 30, "lr": 0.1, "patience": 2}
    slow = {"epochs": 30, "lr": 0.0003, "patience": 100}
    line, run = last_line(120, fast, slow)
    best = run.best.best_value
    fast_result, slow_result = run.results
    assert run.best is fast_result and len(fast_result.history) < len(slow_result.history)
    assert f" all done  best val accuracy {best:.4f}  " in line and re.search(r" [\d.]+/s ", line)
    narrow, _ = last_line(80, fast, slow)
    assert "…" not in narrow and " all done " in narrow and len(narrow) <= 80


def test_all_done_only_at_the_end_and_one_member_is_singular():
    from steepest.progress import EpochProgress

    row = {"val_metric": 0.5, "val_loss": 1.0, "seconds": 0.1}
    with EpochProgress(total=3, members=3, metric_name="accuracy", maximize=True) as progress:
        figures = progress.progress.tasks[0].fields
        progress([1], [row])
        assert figures["figures"].startswith("1 member in flight")
        progress([], [row])  # none trains while the third waits to join
        assert figures["figures"].startswith("0 members in flight")
        progress([], [row])
    assert figures["figures"].startswith("all done  best val accuracy 0.5000")
