"""The progress bar `steepest train` draws: what a person reads at the end of a run."""

import io
import re

from rich.console import Console

from steepest.config import validate
from steepest.training import train


def last_line(width: int, rates: tuple[float, ...] = (0.1,)) -> str:
    """The last line a run of one member per learning rate leaves on a `width`-column
    console that is not a terminal (a log file, CI)."""
    screen = io.StringIO()
    console = Console(file=screen, width=width, force_terminal=False)
    experiments = [
        validate(
            {
                "data": {"name": "digits"},
                "model": {"hidden": [16]},
                "train": {"epochs": 4, "lr": lr, "patience": 100},
            }
        )
        for lr in rates
    ]
    train(experiments, console=console, write=False)
    shown = screen.getvalue()
    assert shown.endswith("\n")
    return shown.splitlines()[-1]


def test_one_run_shows_its_whole_epoch_count_figures_and_time_on_80_columns():
    line = last_line(80)
    assert line.startswith("epochs ") and " 4/4 " in line
    assert re.search(r"loss \d\.\d{4}  val accuracy \d\.\d{4}  lr 0\.1  [\d.]+ epochs/s", line)
    assert re.search(r" 0:00:\d\d$", line)
    assert len(line) <= 80


def test_a_population_shows_member_epochs_and_its_best():
    line = last_line(120, rates=(0.1, 0.03))
    assert " 8/8 " in line and "best val accuracy" in line and "member-epochs/s" in line
