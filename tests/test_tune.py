"""`steepest tune` end to end on digits: samplers, pruners, stages, structures, resume."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState
from rich.console import Console

from steepest.cli import main
from steepest.config import ParamSpec, validate
from steepest.errors import UserError
from steepest.tune.run import NOT_STARTED, tune
from steepest.tune.study import load_study, open_storage

BASE = """
[data]
name = "digits"
[model]
hidden = [16]
[train]
optimizer = "momentum"
epochs = {epochs}
batch_size = 64
[tune]
sampler = "{sampler}"
pruner = "{pruner}"
trials = {trials}
seed = 0
startup_trials = 2
warmup_epochs = 1
population = {population}
{tune_lines}
[tune.space]
{space}
"""
NUMERIC = """lr = { type = "loguniform", low = 1e-3, high = 0.5 }
momentum = { type = "uniform", low = 0.5, high = 0.95 }"""
GRID = """lr = { type = "choice", values = [0.3, 0.03] }
momentum = { type = "choice", values = [0.5, 0.9] }"""


def write(
    tmp_path: Path,
    name: str = "study",
    epochs: int = 3,
    sampler: str = "tpe",
    pruner: str = "median",
    trials: int = 6,
    space: str = NUMERIC,
    population: int = 4,
    tune_lines: str = "",
) -> Path:
    """An experiment file; `tune_lines`: more lines of its [tune] section."""
    path = tmp_path / f"{name}.toml"
    path.write_text(
        BASE.format(
            epochs=epochs,
            sampler=sampler,
            pruner=pruner,
            trials=trials,
            space=space,
            population=population,
            tune_lines=tune_lines,
        )
    )
    return path


def study_of(tmp_path: Path, text: str) -> optuna.Study:
    """The study an experiment file of `text` runs to its end."""
    path = tmp_path / "study.toml"
    path.write_text(text)
    return tune(path, storage=str(tmp_path / "s.log")).study


def states(study: optuna.Study) -> list[TrialState]:
    return [t.state for t in study.get_trials(deepcopy=False)]


@pytest.mark.parametrize(
    ("sampler", "space"), [("random", NUMERIC), ("tpe", NUMERIC), ("qmc", NUMERIC), ("grid", GRID)]
)
def test_each_sampler_runs_the_budget(tmp_path, sampler, space):
    path = write(tmp_path, sampler=sampler, space=space, trials=4, pruner="none")
    result = tune(path, storage=str(tmp_path / "s.log"))
    assert states(result.study) == [TrialState.COMPLETE] * 4
    assert result.summary["best_value"] > 0.5
    if sampler == "grid":
        assert {(t.params["lr"], t.params["momentum"]) for t in result.study.trials} == {
            (0.3, 0.5),
            (0.3, 0.9),
            (0.03, 0.5),
            (0.03, 0.9),
        }


@pytest.mark.parametrize("pruner", ["median", "asha", "hyperband"])
def test_each_pruner_prunes_and_refills(tmp_path, pruner):
    space = 'lr = { type = "loguniform", low = 1e-5, high = 0.5 }'
    path = write(tmp_path, pruner=pruner, sampler="random", trials=12, epochs=6, space=space)
    result = tune(path, storage=str(tmp_path / "s.log"))
    got = states(result.study)
    assert len(got) == 12 and TrialState.RUNNING not in got
    assert got.count(TrialState.PRUNED) >= 1
    if pruner == "median":  # warmup_epochs = 1: no verdict on a trial's first epoch
        pruned = [t for t in result.study.trials if t.state == TrialState.PRUNED]
        assert min(len(t.intermediate_values) for t in pruned) >= 2
    assert result.summary["population_sizes"] == [4]  # the file's population = 4
    for trial in result.study.trials:
        assert set(trial.user_attrs) >= {"seed", "population", "seconds", "train_loss", "val_loss"}
        assert len(trial.user_attrs["val_loss"]) == len(trial.intermediate_values)
        assert trial.user_attrs["population_size"] == 4


def test_pruning_verdicts_are_those_of_should_prune(tmp_path, monkeypatch):
    """`report` reads every reported trial in one fetch and asks the pruner itself; its
    verdicts must be the ones `Trial.should_prune` gives for the same stored trials."""
    from steepest.tune import run

    original = run.StructureSource.report
    verdicts: list[tuple[set[int], set[int]]] = []

    def checked(self, rows):
        pruned = original(self, rows)
        trials = self.feed.trials
        expected = {m.id for m, row in rows if trials[m.id].should_prune()}
        verdicts.append((pruned, expected))
        return pruned

    monkeypatch.setattr(run.StructureSource, "report", checked)
    space = 'lr = { type = "loguniform", low = 1e-5, high = 0.5 }'
    path = write(tmp_path, sampler="random", trials=12, epochs=6, space=space)
    tune(path, storage=str(tmp_path / "s.log"))
    assert all(pruned == expected for pruned, expected in verdicts)
    assert any(pruned for pruned, _ in verdicts)  # the comparison covered some pruning


def test_first_wave_finishes_before_the_slots_fill(tmp_path):
    """TPE and the median pruner learn only from finished trials: with startup_trials = 2
    and room for 8, the first two train alone and every later trial starts after both
    have finished. A sampler and pruner that learn nothing fill every slot at once."""
    learning = tune(write(tmp_path, trials=6, population=8), storage=str(tmp_path / "a.log"))
    trials = learning.study.trials
    first_wave_done = max(t.datetime_complete for t in trials[:2])
    assert all(t.datetime_start >= first_wave_done for t in trials[2:])
    blind = write(tmp_path, "blind", sampler="random", pruner="none", trials=6, population=8)
    trials = tune(blind, storage=str(tmp_path / "b.log")).study.trials
    assert max(t.datetime_start for t in trials) < min(t.datetime_complete for t in trials)


class Clock:
    """`time` for steepest.tune.run: perf_counter reads `now`, which a test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def deadline(monkeypatch) -> Callable[[], None]:
    """The study's clock passes its 60 s timeout at the first epoch's reports; calling
    the fixture's value puts the clock back at 0 and the reports as they were (for a
    resume)."""
    from steepest.tune import run

    clock = Clock()
    monkeypatch.setattr(run, "time", clock)
    report = run.StructureSource.report

    def report_after_the_deadline(self, rows):
        clock.now = 61.0
        return report(self, rows)

    monkeypatch.setattr(run.StructureSource, "report", report_after_the_deadline)

    def lift() -> None:
        monkeypatch.setattr(run.StructureSource, "report", report)
        clock.now = 0.0

    return lift


def test_a_spent_timeout_asks_no_more_trials_and_lets_running_ones_finish(tmp_path, deadline):
    """Time runs out at the first epoch's reports: the four trials training then finish
    all their epochs, and none of the 1,000 in the budget starts after them."""
    path = write(
        tmp_path,
        sampler="random",
        pruner="none",
        trials=1000,
        population=4,
        tune_lines="timeout = 60",
    )
    study = tune(path, storage=str(tmp_path / "s.log")).study
    assert states(study) == [TrialState.COMPLETE] * 4
    assert all(len(t.intermediate_values) == 3 for t in study.trials)


def test_coarse_to_fine_narrows_each_stage(tmp_path):
    path = write(tmp_path, sampler="coarse_to_fine", pruner="none", trials=9)
    result = tune(path, storage=str(tmp_path / "s.log"))
    stages = result.study.user_attrs["stages"]
    assert [s["stage"] for s in stages] == [0, 1, 2]
    for earlier, later in zip(stages, stages[1:]):
        for name in ("lr", "momentum"):
            assert earlier["space"][name]["low"] <= later["space"][name]["low"]
            assert later["space"][name]["high"] <= earlier["space"][name]["high"]
            width = later["space"][name]["high"] - later["space"][name]["low"]
            assert width < earlier["space"][name]["high"] - earlier["space"][name]["low"]
    for trial in result.study.trials:
        stage = stages[trial.user_attrs["stage"]]["space"]
        assert stage["lr"]["low"] <= trial.params["lr"] <= stage["lr"]["high"]


def test_structure_changing_space_runs_several_populations(tmp_path):
    space = (
        NUMERIC
        + """
hidden = { type = "choice", values = [[8], [16, 8]] }
activation = { type = "choice", values = ["relu", "tanh"] }"""
    )
    path = write(tmp_path, sampler="random", pruner="none", trials=8, space=space)
    result = tune(path, storage=str(tmp_path / "s.log"))
    trials = result.study.trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    structures = {(t.params["hidden"], t.params["activation"]) for t in trials}
    populations = {t.user_attrs["population"] for t in trials}
    assert len(populations) == len(structures) > 1


def test_same_seed_same_trials_and_values(tmp_path):
    path = write(tmp_path, trials=5)
    first = tune(path, storage=str(tmp_path / "a.log")).study.trials
    second = tune(path, storage=str(tmp_path / "b.log")).study.trials
    assert [t.params for t in first] == [t.params for t in second]
    assert [t.value for t in first] == [t.value for t in second]


def test_a_seeded_study_sizes_auto_populations_without_timing(tmp_path, monkeypatch):
    from steepest import capacity

    monkeypatch.setattr(capacity, "probe_throughput", lambda population: pytest.fail("timed"))
    path = write(tmp_path, trials=5, population='"auto"')
    first = tune(path, storage=str(tmp_path / "a.log")).study.trials
    second = tune(path, storage=str(tmp_path / "b.log")).study.trials
    assert [t.params for t in first] == [t.params for t in second]
    assert [t.value for t in first] == [t.value for t in second]


def test_a_searched_augmentation_beside_a_table_is_refused_before_the_study(tmp_path, capsys):
    path = write(tmp_path, space='flip = { type = "choice", values = [true, false] }')
    storage = tmp_path / "study.log"
    assert main(["tune", str(path), "--quiet", "--storage", str(storage)]) == 2
    err = capsys.readouterr().err
    assert "[data.augment] flip: applies to images or digits_images only" in err
    assert not storage.exists() and err.count("\n") == 1


def test_a_trial_whose_values_do_not_go_together_fails_alone(tmp_path):
    """Each value is valid alone, but batch norm at a batch size of 1 is not: that grid
    point fails with the reason and the study goes on (it stopped the study, and every
    resume failed at the same point again); a resume does not queue it again."""
    space = (
        'batch_norm = { type = "choice", values = [false, true] }\n'
        'batch_size = { type = "choice", values = [1, 64] }'
    )
    path = write(tmp_path, sampler="grid", pruner="none", trials=4, epochs=1, space=space)
    storage = str(tmp_path / "s.log")
    study = tune(path, storage=storage).study
    invalid = [t for t in study.trials if t.user_attrs["status"].startswith("invalid: ")]
    assert [t.params for t in invalid] == [{"batch_norm": True, "batch_size": 1}]
    assert (
        invalid[0].state == TrialState.FAIL
        and "batch norm needs" in invalid[0].user_attrs["status"]
    )
    assert len(study.trials) == 4 and TrialState.RUNNING not in states(study)
    assert len(tune(path, storage=storage).study.trials) == 4


def test_a_batch_size_of_one_beside_your_own_batch_norm_fails_alone(tmp_path):
    """Batch norm from the user's own network, not [model]: the config cannot see it,
    so the trial check builds the network once and fails the batch size 1 trials."""
    (tmp_path / "bnnet.py").write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "def make():\n"
        "    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))\n"
    )
    path = tmp_path / "study.toml"
    path.write_text(
        '[data]\nname = "iris"\n[model]\nmodule = "bnnet.py:make"\n'
        "[train]\nepochs = 1\nbatch_size = 16\n"
        '[tune]\nsampler = "grid"\npruner = "none"\npopulation = 4\n'
        '[tune.space]\nbatch_size = { type = "choice", values = [16, 1] }\n'
    )
    study = tune(path, storage=str(tmp_path / "s.log")).study
    by_size = {t.params["batch_size"]: t for t in study.trials}
    assert by_size[16].state == TrialState.COMPLETE
    assert by_size[1].user_attrs["status"].startswith("invalid: [train] batch_size = 1")


def test_a_study_resumed_with_another_monitor_is_refused(tmp_path, capsys):
    """Its values would mix two measures (val rmse, then val mse: both minimised, so the
    study's direction does not tell them apart)."""
    storage = str(tmp_path / "s.log")
    path = write(tmp_path, sampler="random", pruner="none", trials=1, epochs=1)
    text = path.read_text().replace('name = "digits"', 'name = "diabetes"')
    path.write_text(text.replace("[train]\n", '[train]\nloss = "mse"\n'))
    assert main(["tune", str(path), "--storage", storage, "--quiet"]) == 0
    path.write_text(path.read_text().replace("[tune]\n", '[tune]\nmonitor = "val_loss"\n'))
    assert main(["tune", str(path), "--storage", storage, "--quiet", "--trials", "2"]) == 2
    err = capsys.readouterr().err
    assert (
        "[tune] monitor: study 'study' in" in err and "monitors val_rmse, this file val_loss" in err
    )


def test_numeric_labels_are_classes_when_the_searched_losses_classify(tmp_path):
    rows = [f"{i % 7},{i % 5},{int(i % 7 > i % 5)}" for i in range(140)]
    (tmp_path / "t.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")
    path = write(
        tmp_path,
        sampler="random",
        pruner="none",
        trials=2,
        epochs=1,
        space='loss = { type = "choice", values = ["cross_entropy", "hinge"] }',
    )
    text = path.read_text().replace(
        'name = "digits"', f'csv = "{tmp_path / "t.csv"}"\ntarget = "y"'
    )
    path.write_text(text)
    study = tune(path, storage=str(tmp_path / "s.log")).study
    assert states(study) == [TrialState.COMPLETE] * 2


def test_bad_tune_section_is_one_line_exit_2(tmp_path, capsys):
    path = write(tmp_path, sampler="annealing")
    assert main(["tune", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "[tune] sampler = 'annealing': expected" in err and err.count("\n") == 1
    path = write(tmp_path, space='gamma = { type = "uniform", low = 0, high = 1 }')
    assert main(["tune", str(path), "--quiet"]) == 2
    assert "gamma: not a searchable key" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("space", "tune_lines", "message"),
    [
        (
            'lr = { type = "uniform", low = 0.01, high = 0.1, values = [0.3] }',
            "",
            "values does not apply to type = 'uniform'",
        ),
        (
            'lr = { type = "loguniform", low = 0.01, high = 0.1, log = false }',
            "",
            "loguniform is log-scaled: drop log = false, or use uniform",
        ),
        (NUMERIC, "[tune.coarse_to_fine]\nstages = 4", "coarse_to_fine: applies to sampler = "),
    ],
)
def test_tune_settings_that_would_be_ignored_are_refused(
    tmp_path, capsys, space, tune_lines, message
):
    path = write(tmp_path, space=space)
    path.write_text(path.read_text().replace("[tune.space]", tune_lines + "\n[tune.space]"))
    assert main(["tune", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("{tmp}/file/s.log", "storage {tmp}/file/s.log: {tmp}/file is a file, not a folder"),
        ("sqlite:///{tmp}/file/s.db", "cannot open (unable to open database file)"),
        ("postgresql://nobody@127.0.0.1:1/x", "cannot open (connection failed: "),
    ],
)
def test_a_storage_that_cannot_open_is_one_line_exit_2(tmp_path, capsys, storage, message):
    """A journal under a plain file, an SQLite file there, a server that is not up: the
    driver's first line only (SQLAlchemy's advice and link would make it several)."""
    (tmp_path / "file").write_text("not a folder")
    path = write(tmp_path)
    command = ["tune", str(path), "--storage", storage.format(tmp=tmp_path), "--quiet"]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err and err.count("\n") == 1


def test_a_qmc_study_takes_any_64_bit_seed_and_refuses_others(tmp_path):
    """SciPy's QMC sequences take 32-bit seeds: -1 ended the second trial in a traceback."""
    path = write(tmp_path, sampler="qmc", pruner="none", trials=3, epochs=1)
    path.write_text(path.read_text().replace("seed = 0", "seed = -1"))
    assert len(tune(path, storage=str(tmp_path / "s.log")).study.trials) == 3
    with pytest.raises(UserError, match=r"^seed = 99999999999999999999: expected a 64-bit"):
        tune(path, storage=str(tmp_path / "t.log"), seed=99999999999999999999)


def test_a_trial_budget_below_one_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the default journal, runs/study.log, would go
    assert main(["tune", str(write(tmp_path)), "--trials", "0", "--quiet"]) == 2
    assert capsys.readouterr().err == "steepest: error: trials = 0: expected at least 1\n"
    assert not (tmp_path / "runs").exists()


def test_a_study_of_the_other_direction_is_refused_untouched(tmp_path, capsys):
    storage = tmp_path / "s.log"
    old = optuna.create_study(study_name="study", storage=open_storage(str(storage)))  # minimize
    old.set_user_attr("metric", "val_loss")
    path = write(tmp_path, sampler="grid", space=GRID)  # monitors val accuracy: maximize
    assert main(["tune", str(path), "--storage", str(storage), "--quiet"]) == 2
    assert "exists with the other direction (it monitors val_loss)" in capsys.readouterr().err
    assert load_study(str(storage)).trials == []  # no grid point was queued


def test_json_summary_and_report_command(tmp_path, capfd):
    """--json prints one JSON object on stdout and nothing on stderr, not even Optuna's
    INFO line about the new study (capfd sees Optuna's handler, bound to the real fd 2)."""
    path = write(tmp_path, trials=3, pruner="none")
    storage = tmp_path / "s.log"
    assert main(["tune", str(path), "--storage", str(storage), "--json"]) == 0
    printed = capfd.readouterr()
    assert printed.err == ""
    summary = json.loads(printed.out)
    assert summary["complete"] == 3 and set(summary["best_params"]) == {"lr", "momentum"}
    assert main(["report", str(storage), "-o", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_final_retrains_the_best_trial_to_its_value_and_tests_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, trials=4, pruner="none")
    command = ["tune", str(path), "--storage", str(tmp_path / "s.log"), "--final"]
    assert main([*command, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    final = summary["final"]
    assert final["val"] == pytest.approx(summary["best_value"], abs=1e-6)
    assert set(final) == {"val", "test_loss", "test_accuracy", "out"}
    assert final["test_accuracy"] > 0.8 and final["out"] == str(Path("runs") / "study-best")
    assert (tmp_path / "runs" / "study-best" / "best.pt").is_file()
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert f"best val_accuracy {summary['best_value']} with" in printed
    assert f"best trial retrained in {final['out']}: val_accuracy {final['val']:.4f}" in printed
    assert "nothing left to run (its budget of trials is spent)" in printed  # a rerun
    assert "raise [tune] trials or pass --trials" in " ".join(printed.split())
    path.write_text(
        path.read_text().replace("[train]\n", f'[train]\nout = "{tmp_path / "mine"}"\n')
    )
    assert main([*command, "--json"]) == 0  # [train] out set: the retrain goes there
    assert json.loads(capsys.readouterr().out)["final"]["out"] == str(tmp_path / "mine")
    assert (tmp_path / "mine" / "best.pt").is_file()


def test_tune_takes_an_experiment_as_a_dict_as_train_does(tmp_path):
    experiment = {
        "data": {"name": "iris"},
        "train": {"epochs": 2},
        "tune": {
            "trials": 2,
            "sampler": "random",
            "seed": 0,
            "space": {"lr": {"type": "loguniform", "low": 0.01, "high": 0.1}},
        },
    }
    storage = str(tmp_path / "s.log")
    with pytest.raises(UserError, match=r"\[tune\] study: an experiment given as a dict needs"):
        tune(experiment, storage=storage)  # a file's name would name it
    experiment["tune"]["study"] = "iris"
    result = tune(experiment, storage=storage)
    assert result.study.study_name == "iris" and len(result.study.trials) == 2
    with pytest.raises(UserError, match=r"experiment: missing \[data\] section"):
        tune({"tune": experiment["tune"]}, storage=storage)


def test_a_study_resumed_on_other_data_is_refused(tmp_path):
    """Its trials' values would not compare with the new ones (and the best would be
    another data set's)."""
    path = write(tmp_path, sampler="random", trials=2, epochs=1, pruner="none")
    storage = str(tmp_path / "s.log")
    tune(path, storage=storage)
    path.write_text(path.read_text().replace('name = "digits"', 'name = "wine"'))
    with pytest.raises(UserError, match=r"study 'study' in .*s.log was run on other data"):
        tune(path, storage=storage)


def test_a_val_loss_study_minimizes_in_sqlite(tmp_path):
    """`[tune] monitor = "val_loss"` makes a minimizing study whose trials report and
    return validation losses; an sqlite:/// URL stores it in Optuna's RDB storage."""
    path = write(
        tmp_path,
        sampler="random",
        trials=4,
        epochs=2,
        pruner="none",
        tune_lines='monitor = "val_loss"',
    )
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = tune(path, storage=storage).study
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    for trial in study.trials:
        assert (
            trial.value
            == min(trial.user_attrs["val_loss"])
            == min(trial.intermediate_values.values())
        )
    assert study.best_value == min(t.value for t in study.trials)
    assert load_study(storage).trials == study.trials


def test_a_diverging_trial_fails_alone_and_the_live_table_counts_it(tmp_path):
    """lr = 10⁴ sends a member's loss to inf/NaN: its trial ends FAIL, the trials
    training beside it in the same population complete, and the table says so."""
    space = """lr = { type = "choice", values = [1e4, 0.3, 0.03] }
momentum = { type = "choice", values = [0.9] }"""
    path = write(tmp_path, sampler="grid", pruner="none", space=space, trials=3)
    screen = io.StringIO()
    console = Console(file=screen, width=100, force_terminal=False)
    study = tune(path, storage=str(tmp_path / "s.log"), console=console).study
    by_lr = {t.params["lr"]: t for t in study.trials}
    assert by_lr[1e4].state == TrialState.FAIL and by_lr[1e4].user_attrs["status"] == "diverged"
    assert by_lr[0.3].state == by_lr[0.03].state == TrialState.COMPLETE
    assert {t.user_attrs["population"] for t in study.trials} == {0}
    shown = screen.getvalue()
    assert "3 (2 complete, 0 pruned, 1 failed)" in shown
    assert f"{study.best_value:.4f}" in shown
    assert shown.endswith("┘\n")  # the table's last line ends: a log's next line starts anew


def study_so_far(storage: Path) -> optuna.Study | None:
    """The study a running worker is writing, or None before its journal names it: the
    worker creates the file a moment before it appends the study's creation record."""
    try:
        return load_study(str(storage))
    except UserError:
        return None


@pytest.mark.slow
def test_kill_minus_nine_then_resume_loses_no_finished_trial(tmp_path, capsys):
    # Long enough trials (a wave of two lasts about half a second) for a snapshot taken
    # every 0.1 s to catch trials both finished and running.
    path = write(tmp_path, trials=10, epochs=150, population=2, pruner="none")
    storage = tmp_path / "s.log"
    command = [
        sys.executable,
        "-m",
        "steepest.cli",
        "tune",
        str(path),
        "--storage",
        str(storage),
        "--quiet",
    ]
    process = subprocess.Popen(command, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    deadline = time.time() + 120
    finished_before: dict[int, float] = {}
    running = False
    try:
        # Kill in a snapshot with trials both finished and running; between two waves none runs.
        while time.time() < deadline and not (len(finished_before) >= 3 and running):
            assert process.poll() is None, "the study ended before a snapshot caught it"
            time.sleep(0.1)
            study = study_so_far(storage)
            if study is not None:
                finished_before = {
                    t.number: t.value for t in study.trials if t.state == TrialState.COMPLETE
                }
                running = any(t.state == TrialState.RUNNING for t in study.trials)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert len(finished_before) >= 3
    interrupted = load_study(str(storage))
    assert any(t.state == TrialState.RUNNING for t in interrupted.trials)
    assert main(["tune", str(path), "--storage", str(storage), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    study = load_study(str(storage))
    for number, value in finished_before.items():
        assert study.trials[number].value == value
    crashed = set(study.user_attrs["crashed_trials"])
    assert crashed and all(study.trials[n].state == TrialState.FAIL for n in crashed)
    counted = [t for t in study.trials if t.number not in crashed]
    assert len(counted) == 10 and all(t.state == TrialState.COMPLETE for t in counted)
    # the budget's 10 trials, and the killed ones apart (not "failed": queued again)
    assert (summary["trials"], summary["complete"], summary["failed"]) == (10, 10, 0)
    assert summary["interrupted"] == len(crashed)


def test_an_asked_trial_names_its_worker_before_its_params_are_drawn(tmp_path, monkeypatch):
    """A process killed while drawing a trial's params leaves the trial RUNNING; a resume
    can fail and requeue it only if the journal already names the dead worker."""
    from steepest.tune.space import SearchSpace

    storage = tmp_path / "s.log"
    seen: list[dict] = []
    suggest = SearchSpace.suggest

    def suggest_and_look(self, trial):
        other_reader = load_study(str(storage))
        seen.append(other_reader.trials[trial.number].user_attrs)
        return suggest(self, trial)

    monkeypatch.setattr(SearchSpace, "suggest", suggest_and_look)
    tune(write(tmp_path, sampler="random", trials=3, epochs=1), storage=str(storage))
    assert len(seen) == 3 and all("worker" in attrs for attrs in seen)


def test_a_resumed_seeded_study_draws_new_params(tmp_path):
    """Resumed with a larger budget, a seeded study goes on drawing instead of replaying
    the draws of its first trials."""
    path = write(tmp_path, sampler="random", pruner="none", trials=3, epochs=1, population=3)
    storage = str(tmp_path / "s.log")
    tune(path, storage=storage)
    trials = tune(path, storage=storage, trials=6).study.trials
    assert len(trials) == 6
    assert len({(t.params["lr"], t.params["momentum"]) for t in trials}) == 6


@pytest.mark.parametrize("sampler", ["random", "tpe", "qmc", "coarse_to_fine"])
def test_two_workers_of_one_seed_draw_different_params(tmp_path, sampler):
    """Two processes with the same seed on one storage, each asking while the other's
    trial runs (simulated by two samplers made alike): their trials differ."""
    from steepest.config import TuneConfig
    from steepest.tune.space import SearchSpace
    from steepest.tune.study import open_study

    settings = TuneConfig.model_validate(
        {"sampler": sampler, "seed": 0, "space": {"lr": {"type": "uniform", "low": 0, "high": 1}}}
    )
    space = SearchSpace(settings.space)
    storage = str(tmp_path / "s.log")
    workers = [open_study("shared", storage, settings, space, True, 3) for _ in range(2)]
    drawn = [space.suggest(worker.ask()) for worker in workers for _ in range(2)]
    assert len({params["lr"] for params in drawn}) == 4


def test_a_fixed_entry_is_a_param_of_every_trial_and_of_the_final_run(tmp_path, monkeypatch):
    from steepest.tune import run

    space = """lr = { type = "fixed", value = 0.3 }
hidden = { type = "fixed", value = [8] }
momentum = { type = "uniform", low = 0.5, high = 0.95 }"""
    path = write(tmp_path, sampler="random", pruner="none", trials=2, epochs=1, space=space)
    result = tune(path, storage=str(tmp_path / "s.log"))
    assert all(t.params["lr"] == 0.3 and t.params["hidden"] == "[8]" for t in result.study.trials)
    assert result.summary["best_params"]["lr"] == 0.3
    assert result.summary["best_params"]["hidden"] == [8]
    retrained = []
    monkeypatch.setattr(run, "train", lambda experiment, **_: retrained.append(experiment))
    monkeypatch.setattr(run, "write_outputs", lambda _: {"best_val": 0.0, "out": "runs/x"})
    run.retrain_best(path, result.study)
    assert retrained[0].train.lr == 0.3 and retrained[0].model.hidden == [8]


def test_final_monitors_what_the_study_monitored(tmp_path, monkeypatch):
    """[tune] monitor = "val_loss" overrides [train]'s val_metric: the retrained run
    picks its best epoch by validation loss too, and its val is the trial's loss."""
    from steepest.tune.run import retrain_best

    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, trials=2, pruner="none", tune_lines='monitor = "val_loss"')
    result = tune(path, storage=str(tmp_path / "s.log"))
    final = retrain_best(path, result.study)
    assert final["val"] == pytest.approx(result.study.best_value, abs=1e-6)


def test_a_timeout_leaves_no_trial_running_and_a_resume_trains_the_unstarted(tmp_path, deadline):
    """Trials asked for the populations of other shapes never start once time is out:
    they fail, queued again, and the summary does not count them; a resume trains them
    first, and they do not count against its budget."""
    space = NUMERIC + '\nhidden = { type = "choice", values = [[4], [8], [12]] }'
    path = write(
        tmp_path,
        sampler="random",
        pruner="none",
        trials=8,
        epochs=1,
        population=2,
        space=space,
        tune_lines="timeout = 60",
    )
    storage = str(tmp_path / "s.log")
    result = tune(path, storage=storage)
    trials = result.study.trials
    unstarted = [t for t in trials if t.user_attrs.get("status") == NOT_STARTED]
    assert unstarted and TrialState.RUNNING not in states(result.study)
    assert all(t.state == TrialState.FAIL for t in unstarted)
    assert result.summary["trials"] == len(trials) - 2 * len(unstarted)  # less the queued copies
    deadline()
    resumed = tune(path, storage=storage).study.trials
    requeued = {
        t.user_attrs["requeued_from"]: t for t in resumed if "requeued_from" in t.user_attrs
    }
    assert sorted(requeued) == [t.number for t in unstarted]
    assert all(requeued[t.number].params == t.params for t in unstarted)
    counted = [t for t in resumed if t.state == TrialState.COMPLETE]
    assert len(counted) == 8


@pytest.mark.parametrize("pruner", ["asha", "hyperband"])
def test_asha_and_hyperband_prune_a_study_that_fits_one_population(tmp_path, pruner):
    """All trials train together, so none has finished when the first verdicts fall:
    the pruners take their resources from the epochs instead of a finished trial."""
    space = 'lr = { type = "loguniform", low = 1e-5, high = 0.5 }'
    path = write(
        tmp_path, pruner=pruner, sampler="random", trials=8, epochs=4, space=space, population=8
    )
    study = tune(path, storage=str(tmp_path / "s.log")).study
    assert {t.user_attrs["population"] for t in study.trials} == {0}
    assert TrialState.PRUNED in states(study)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            'momentum = { type = "uniform", low = 0.5, high = 0.95, step = 0 }',
            "[tune.space] momentum: step = 0: expected a step > 0",
        ),
        (
            'weight_decay = { type = "uniform", low = 0, high = 0.01, log = true }',
            "[tune] space.weight_decay: uniform with log = true needs low > 0",
        ),
    ],
)
def test_a_bad_range_is_refused_before_the_study_opens(tmp_path, capsys, space, message):
    """Optuna refused a step of 0 at the first draw, and a log range from 0: a traceback,
    and a RUNNING trial without params left in the journal."""
    storage = tmp_path / "s.log"
    command = ["tune", str(write(tmp_path, space=space)), "--storage", str(storage), "--quiet"]
    assert main(command) == 2
    assert capsys.readouterr().err == f"steepest: error: {message}\n"
    assert not storage.exists()


def test_a_file_that_is_no_journal_is_refused_untouched(tmp_path, capsys):
    """An SQLite file given without sqlite:///, a text file: one line, exit 2, for tune
    and report, and the file stays as it was."""
    sqlite = tmp_path / "s.db"
    optuna.create_study(study_name="other", storage=f"sqlite:///{sqlite}")
    text = tmp_path / "notes.txt"
    text.write_text("garbage")
    hints = {sqlite: f" (for SQLite use sqlite:///{sqlite})", text: ""}
    for path, hint in hints.items():
        before = path.read_bytes()
        assert main(["tune", str(write(tmp_path)), "--storage", str(path), "--quiet"]) == 2
        expected = f"{path}: not an Optuna journal file{hint}"
        assert capsys.readouterr().err == f"steepest: error: {expected}\n"
        assert main(["report", str(path), "-o", str(tmp_path / "r.html")]) == 2
        assert capsys.readouterr().err.count("\n") == 1
        assert path.read_bytes() == before


@pytest.mark.parametrize("line", ['{"op_code": 99}', '{"op_code": 0}'])
def test_a_journal_line_optuna_does_not_know_is_one_line(tmp_path, capsys, line):
    journal = tmp_path / "s.log"
    journal.write_text(line + "\n")
    assert main(["report", str(journal), "-o", str(tmp_path / "r.html")]) == 2
    expected = f"{journal}: not a readable Optuna journal (a line is no record of it)"
    assert capsys.readouterr().err == f"steepest: error: {expected}\n"


def test_an_empty_storage_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["tune", str(write(tmp_path)), "--storage", "", "--quiet"]) == 2
    assert "storage '': expected a journal file or an Optuna storage URL" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_the_summary_counts_the_grid_points_that_ran(tmp_path):
    path = write(tmp_path, sampler="grid", space=GRID, pruner="none", trials=2, epochs=1)
    result = tune(path, storage=str(tmp_path / "s.log"))
    assert len(result.study.trials) == 4  # every point queued
    assert result.summary["trials"] == result.summary["complete"] == 2


def test_a_grid_given_more_values_runs_the_new_points_once_each(tmp_path):
    """The grid sampler draws at random when nothing is queued: a resumed grid whose
    integer range grew must queue the points its trials have not had. (New choices of
    a choice entry are refused: an Optuna study keeps a categorical's choices.)"""
    storage = str(tmp_path / "s.log")
    space = 'lr = { type = "choice", values = [0.3, 0.03] }\n'
    space += 'batch_size = { type = "int", low = 32, high = 64, step = 32 }'
    tune(write(tmp_path, sampler="grid", space=space, pruner="none", trials=4, epochs=1), storage)
    wider = space.replace("high = 64", "high = 96")
    path = write(tmp_path, sampler="grid", space=wider, pruner="none", trials=6, epochs=1)
    study = tune(path, storage=storage).study
    points = [(t.params["lr"], t.params["batch_size"]) for t in study.trials]
    assert len(points) == 6 and set(points) == {(lr, b) for lr in (0.3, 0.03) for b in (32, 64, 96)}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            '"choice", values = [0.3, 0.03]',
            '"choice", values = [0.3, 0.03, 0.1]',
            r"lr: study 'study' in .* drew it from the choices \[0.3, 0.03\], this file from "
            r"the choices \[0.3, 0.03, 0.1\]; a study keeps",
        ),
        (
            '"choice", values = [0.3, 0.03]',
            '"loguniform", low = 0.01, high = 0.3',
            r"lr: .* this file from log-scaled numbers in \[0.01, 0.3\]",
        ),
    ],
)
def test_a_space_whose_kinds_or_choices_changed_is_refused_before_a_trial(
    tmp_path, old, new, message
):
    storage = str(tmp_path / "s.log")
    tune(write(tmp_path, sampler="random", space=GRID, pruner="none", trials=2, epochs=1), storage)
    changed = write(tmp_path, sampler="random", space=GRID.replace(old, new), trials=4, epochs=1)
    with pytest.raises(UserError, match=message):
        tune(changed, storage=storage)
    assert len(load_study(storage).trials) == 2


def test_a_qmc_study_warns_of_nothing_the_user_did_not_write(tmp_path, recwarn):
    path = write(tmp_path, sampler="qmc", pruner="none", trials=2, epochs=1)
    tune(path, storage=str(tmp_path / "s.log"))
    assert not [w for w in recwarn if issubclass(w.category, optuna.exceptions.ExperimentalWarning)]


def test_a_second_worker_waits_for_anothers_first_wave_then_trains(tmp_path, monkeypatch):
    """TPE learns nothing until the first wave finishes, so a worker started beside
    another live worker's first wave waits for it (it used to leave at once, as if the
    budget were spent) and then trains the rest of the budget. A first wave whose worker
    cannot be asked about is not waited for (it might never end)."""
    from steepest.config import TuneConfig
    from steepest.tune import run
    from steepest.tune.lease import WorkerLease
    from steepest.tune.space import SearchSpace
    from steepest.tune.study import WORKER_ATTR, open_study

    path = write(tmp_path, trials=4, epochs=1, pruner="none")
    storage = str(tmp_path / "s.log")
    settings = TuneConfig.model_validate(
        {"sampler": "tpe", "space": {"lr": {"type": "loguniform", "low": 1e-3, "high": 0.5}}}
    )

    def first_wave(storage: str, worker: str) -> list:
        other = open_study("study", storage, settings, SearchSpace(settings.space), True, 1)
        trials = []
        for _ in range(2):  # startup_trials = 2
            trial = other.ask()
            trial.suggest_float("lr", 1e-3, 0.5, log=True)
            trial.suggest_float("momentum", 0.5, 0.95)
            trial.set_user_attr(WORKER_ATTR, worker)
            trials.append((other, trial))
        return trials

    waits = []

    def finish_on_first_wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            for other, trial in wave:
                other.tell(trial, 0.5)

    monkeypatch.setattr(run.time, "sleep", finish_on_first_wait)
    with WorkerLease(storage) as elsewhere:
        wave = first_wave(storage, elsewhere.id)
        study = tune(path, storage=storage).study
    assert waits and [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert all(t.user_attrs[WORKER_ATTR] != elsewhere.id for t in study.trials[2:])
    unknown = str(tmp_path / "unknown.log")
    wave = first_wave(unknown, "another-machine:7")  # as on a database: nobody to ask
    waits.clear()
    result = tune(path, storage=unknown)
    assert len(result.study.trials) == 2 and not waits
    # trials = complete + pruned + failed: those still running are counted apart
    assert (result.summary["trials"], result.summary["running"]) == (0, 2)


def test_a_worker_whose_partner_dies_in_the_first_wave_trains_the_rest(tmp_path, monkeypatch):
    """A partner killed while its first-wave trials ran: once this worker's own trials
    of the wave are done, the partner's are still RUNNING, but nobody holds them. They
    are failed and queued again here, and the budget is trained (the worker used to
    exit with status 0, most of the budget never run)."""
    from steepest.config import TuneConfig
    from steepest.tune import run
    from steepest.tune.lease import WorkerLease
    from steepest.tune.space import SearchSpace
    from steepest.tune.study import WORKER_ATTR, open_study

    path = write(tmp_path, trials=4, epochs=1, pruner="none")
    storage = str(tmp_path / "s.log")
    settings = TuneConfig.model_validate(
        {"sampler": "tpe", "space": {"lr": {"type": "loguniform", "low": 1e-3, "high": 0.5}}}
    )
    partner = WorkerLease(storage)
    other = open_study("study", storage, settings, SearchSpace(settings.space), True, 1)
    trial = other.ask()  # one of the two startup trials, the partner's
    trial.suggest_float("lr", 1e-3, 0.5, log=True)
    trial.suggest_float("momentum", 0.5, 0.95)
    trial.set_user_attr(WORKER_ATTR, partner.id)
    recover = run.recover_crashed

    def partner_dies_after_the_first_look(*args):  # alive when this worker starts
        recovered = recover(*args)
        partner.release()
        return recovered

    monkeypatch.setattr(run, "recover_crashed", partner_dies_after_the_first_look)
    study = tune(path, storage=storage).study
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 4 and states[0] == TrialState.FAIL
    assert study.trials[0].params == study.trials[2].params  # queued again, trained here


def test_a_resumed_study_keeps_the_settings_its_trials_share(tmp_path):
    """Trials of 1 and of 2 epochs would be ranked together, and --final would retrain
    the best one as it never trained: a changed [train] epochs is refused in one line.
    A key the space now searches, or a new worker's --trials, changes nothing shared."""
    storage = str(tmp_path / "s.log")
    tune(write(tmp_path, epochs=1, trials=2, pruner="none"), storage=storage)
    with pytest.raises(UserError) as refused:
        tune(write(tmp_path, epochs=2, trials=3, pruner="none"), storage=storage)
    assert str(refused.value) == (
        f"[train] epochs = 2: study 'study' in {storage} trained its trials with 1; "
        "restore it, search it in [tune.space], or name a new study ([tune] study = ...)"
    )
    searched = NUMERIC + '\nbatch_size = { type = "choice", values = [64, 32] }'
    more = tune(write(tmp_path, epochs=1, trials=3, pruner="none", space=searched), storage=storage)
    assert len(more.study.trials) == 3
    narrower = write(tmp_path, epochs=1, trials=4, pruner="none", space=searched)
    narrower.write_text(narrower.read_text().replace("hidden = [16]", "hidden = [8]"))
    with pytest.raises(UserError, match=r"^\[model\] hidden = \[8\]: study 'study' in "):
        tune(narrower, storage=storage)


def test_a_journal_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    """A read-only journal (or folder for its lock file) failed in Optuna's first write."""

    def read_only(**_):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(optuna, "create_study", read_only)
    with pytest.raises(
        UserError, match=r"storage .*s.log: cannot write to it \(Permission denied\)"
    ):
        tune(write(tmp_path, trials=2, epochs=1), storage=str(tmp_path / "s.log"))


def test_final_without_a_complete_trial_says_so(tmp_path, capsys):
    path = write(
        tmp_path, trials=2, epochs=1, pruner="none", space='lr = { type = "fixed", value = 1e9 }'
    )
    assert main(["tune", str(path), "--storage", str(tmp_path / "s.log"), "--final"]) == 0
    captured = capsys.readouterr()
    assert "--final: no trial has completed, so there is nothing to retrain" in captured.err
    assert "2 failed" in captured.out


@pytest.mark.parametrize(
    ("space", "tune_lines", "schedule", "message"),
    [
        (
            'loss = { type = "choice", values = ["cross_entropy", "mse"] }',
            "",
            "",
            r"\[train\] loss = 'mse': a regression loss, but data set 'digits' is classification",
        ),
        (
            'loss = { type = "choice", values = ["cross_entropy", "hinge"] }',
            'monitor = "val_loss"',
            "",
            r"monitor = 'val_loss' with loss searched \(cross_entropy, hinge\): their values do",
        ),
        (
            'lr = { type = "loguniform", low = 1e-4, high = 1.0 }',
            "",
            '[train.schedule.lr]\nkind = "linear"\nstart = 0.1\nend = 0.01\n',
            r"\[tune.space\] lr: \[train.schedule.lr\] ramps from its start to its end whatever",
        ),
    ],
)
def test_a_search_whose_trials_could_not_differ_or_train_is_refused(
    tmp_path, space, tune_lines, schedule, message
):
    path = write(tmp_path, space=space, tune_lines=tune_lines)
    path.write_text(path.read_text().replace("[tune]\n", schedule + "[tune]\n", 1))
    with pytest.raises(UserError, match=message):
        tune(path, storage=str(tmp_path / "s.log"))
    assert not (tmp_path / "s.log").exists()


ADAM = ('optimizer = "momentum"', 'optimizer = "adam"')


@pytest.mark.parametrize(
    ("edits", "space", "message"),
    [
        (
            [],
            'leaky_slope = { type = "uniform", low = 0.01, high = 0.3 }',
            "[tune.space] leaky_slope: no trial reads it (activation = 'relu'; kind = 'mlp'; "
            "hidden = [16]; it applies to activation = 'leaky_relu' in a network with hidden",
        ),
        (
            [("hidden = [16]", "hidden = []")],
            'dropout = { type = "uniform", low = 0.1, high = 0.5 }',
            "[tune.space] dropout: no trial reads it (kind = 'mlp'; hidden = []; it applies "
            "to a CNN, or an MLP with a hidden layer: dropout drops hidden units, never the",
        ),
        (
            [ADAM],
            'momentum = { type = "uniform", low = 0.5, high = 0.99 }',
            "[tune.space] momentum: no trial reads it (optimizer = 'adam'; it applies to",
        ),
        (
            [("epochs = 3", "epochs = 3\nlr = [0.1, 0.05]")],
            'momentum = { type = "uniform", low = 0.5, high = 0.99 }',
            "[train] lr = [0.1, 0.05]: a list of values is a grid for steepest train; a study "
            'searches it in [tune.space]: lr = { type = "choice", values = [0.1, 0.05] }',
        ),
        (
            [
                ("epochs = 3", 'epochs = 3\nmonitor = "val_loss"'),
                ("[tune]", '[tune]\nmonitor = "val_metric"'),
            ],
            'lr = { type = "loguniform", low = 1e-3, high = 0.5 }',
            "[train] monitor = 'val_loss' and [tune] monitor = 'val_metric': the study "
            "monitors one",
        ),
        (
            [("hidden = [16]", "hidden = [16]\nbatch_norm = [true, false]")],
            'lr = { type = "loguniform", low = 1e-3, high = 0.5 }',
            "[model] batch_norm = [true, false]: a list of values is a grid for steepest "
            'train; a study searches it in [tune.space]: batch_norm = { type = "choice", '
            "values = [true, false] }",
        ),
        (
            [("epochs = 3", "epochs = 3\npopulation = 1")],
            'lr = { type = "loguniform", low = 1e-3, high = 0.5 }',
            "[train] population: a study's populations are sized by [tune] population",
        ),
        (
            [],
            'optimizer = { type = "choice", values = ["adam", "sgd"] }\n'
            'momentum = { type = "uniform", low = 0.5, high = 0.9, when = { optimizer = "adam" } }',
            "[tune.space] momentum: no trial reads it (optimizer = 'adam'; it applies to",
        ),
        (
            [ADAM, ("epochs = 3", "epochs = 3\nmomentum = 0.5")],
            'lr = { type = "loguniform", low = 1e-3, high = 0.5 }',
            "[train] momentum: no trial reads it (optimizer = 'adam'; it applies to",
        ),
    ],
)
def test_a_key_no_trial_reads_is_refused_before_the_study(tmp_path, edits, space, message):
    path = write(tmp_path, space=space)
    text = path.read_text()
    for old, new in edits:
        text = text.replace(old, new)
    path.write_text(text)
    with pytest.raises(UserError) as error:
        tune(path, storage=str(tmp_path / "s.log"))
    assert message in str(error.value)
    assert not (tmp_path / "s.log").exists()


@pytest.mark.parametrize(
    "searched",
    [
        {
            "activation": {"type": "choice", "values": ["relu", "leaky_relu"]},
            "leaky_slope": {"type": "uniform", "low": 0.01, "high": 0.3},
        },
        {
            "hidden": {"type": "choice", "values": [[], [8]]},
            "dropout": {"type": "uniform", "low": 0.1, "high": 0.5},
        },
        {
            "kind": {"type": "choice", "values": ["mlp", "cnn"]},
            "kernel": {"type": "fixed", "value": 5},
        },
        {
            "optimizer": {"type": "choice", "values": ["adam", "rmsprop"]},
            "momentum": {
                "type": "uniform",
                "low": 0.5,
                "high": 0.9,
                "when": {"optimizer": "rmsprop"},
            },
        },
    ],
)
def test_a_searched_key_some_trials_read_is_kept(searched):
    from steepest.tune.run import _unread_in_study
    from steepest.tune.space import SECTION_OF, SearchSpace

    space = SearchSpace({n: ParamSpec.model_validate(s) for n, s in searched.items()})
    base = validate({"data": {"name": "digits"}, "model": {"hidden": [8]}})
    reasons = [_unread_in_study(space, base, SECTION_OF[n][0], n) for n in searched]
    assert reasons == [None, None]


def test_a_searched_seed_is_the_seed_that_trains():
    from steepest.tune.run import _trial_raw

    raw = {"data": {"name": "iris"}, "train": {"seed": 5}}
    assert _trial_raw(raw, {"seed": 1}, number=3)["train"]["seed"] == 1
    assert _trial_raw(raw, {"lr": 0.1}, number=3)["train"]["seed"] == 8


def test_the_largest_epochs_of_a_searched_range_is_the_ranges_own():
    """Hyperband sizes its brackets by it: the file's epochs is no trial's when searched."""
    from steepest.tune.space import SearchSpace

    searched = {"epochs": {"type": "int", "low": 3, "high": 4}}
    space = SearchSpace({n: ParamSpec.model_validate(s) for n, s in searched.items()})
    assert space.largest("epochs", 40) == 4
    conditional = {"type": "int", "low": 3, "high": 4, "when": {"optimizer": "sgd"}}
    optimizers = {"type": "choice", "values": ["sgd", "adam"]}
    space = SearchSpace(
        {
            "optimizer": ParamSpec.model_validate(optimizers),
            "epochs": ParamSpec.model_validate(conditional),
        }
    )
    assert space.largest("epochs", 40) == 40  # adam's trials keep the file's


def test_a_regression_set_searches_its_losses_without_a_train_loss(tmp_path):
    """[train]'s default loss (cross_entropy) is not the study's: the first searched
    choice stands in for it, so diabetes needs no [train] loss beside the search."""
    space = 'loss = { type = "choice", values = ["mse", "l1", "huber"] }'
    path = write(tmp_path, sampler="grid", pruner="none", trials=3, epochs=1, space=space)
    path.write_text(path.read_text().replace('name = "digits"', 'name = "diabetes"'))
    study = tune(path, storage=str(tmp_path / "s.log")).study
    assert sorted(t.params["loss"] for t in study.trials) == ["huber", "l1", "mse"]
    space = 'loss = { type = "choice", values = ["cross_entropy", "mse"] }'
    wrong = write(tmp_path, name="wrong", trials=2, epochs=1, space=space)
    wrong.write_text(wrong.read_text().replace('name = "digits"', 'name = "diabetes"'))
    with pytest.raises(UserError, match=r"^\[tune.space\] loss: \[train\] loss = 'cross_entropy'"):
        tune(wrong, storage=str(tmp_path / "w.log"))


def test_a_key_the_files_own_value_reads_is_kept_beside_a_conditional_search(tmp_path):
    """loss is searched for adam's trials only: sgd's keep the file's huber, which reads
    huber_delta (the check once saw the first searched loss in the file's place)."""
    study = study_of(
        tmp_path,
        '[data]\nname = "diabetes"\n[train]\nepochs = 1\nloss = "huber"\nhuber_delta = 2.0\n'
        '[tune]\ntrials = 2\nsampler = "random"\nseed = 0\n[tune.space]\n'
        'optimizer = { type = "choice", values = ["adam", "sgd"] }\n'
        'loss = { type = "choice", values = ["mse", "l1"], when = { optimizer = "adam" } }\n',
    )
    assert len(study.trials) == 2


def test_a_schedule_is_checked_by_the_optimizers_the_study_trains(tmp_path):
    """No trial trains the file's default optimizer (momentum, from 0.9: ×1.2 reaches
    1.08); adam reads no momentum and RMSProp's starts at 0, so the study runs."""
    study = study_of(
        tmp_path,
        '[data]\nname = "iris"\n[train]\nepochs = 2\n[train.schedule.momentum]\n'
        'kind = "step"\nevery = 1\nfactor = 1.2\n[tune]\nsampler = "random"\ntrials = 2\n'
        'seed = 0\n[tune.space]\noptimizer = { type = "choice", values = ["adam", "rmsprop"] }\n',
    )
    assert {t.state for t in study.trials} == {TrialState.COMPLETE}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tune]\nspace = 5\n", "[tune] space = 5: expected a table"),
        (
            '[tune]\n[tune.space]\noptimizer = { type = "choice", values = "adam" }\n',
            "[tune] space.optimizer.values = 'adam': expected a valid list",
        ),
    ],
)
def test_a_malformed_space_is_one_line_naming_it(tmp_path, text, message):
    path = tmp_path / "s.toml"
    path.write_text('[data]\nname = "iris"\n' + text)
    with pytest.raises(UserError) as caught:
        tune(path, storage=str(tmp_path / "s.log"))
    assert str(caught.value) == message


def test_a_searched_dropout_for_a_network_without_dropout_is_refused(tmp_path):
    def plain() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Linear(4, 3))

    raw = {
        "data": {"name": "iris"},
        "train": {"epochs": 1},
        "tune": {
            "study": "d",
            "trials": 2,
            "space": {"dropout": {"type": "uniform", "low": 0.1, "high": 0.5}},
        },
    }
    with pytest.raises(UserError, match=r"^\[model\] dropout: your network has no nn.Dropout"):
        tune(raw, storage=str(tmp_path / "s.log"), model=plain)


def test_a_list_of_numpy_values_in_a_study_is_echoed_as_numbers(tmp_path):
    np = pytest.importorskip("numpy")
    raw = {
        "data": {"name": "iris"},
        "train": {"seed": list(np.arange(2))},
        "tune": {"study": "n", "space": {"lr": {"type": "fixed", "value": 0.1}}},
    }
    with pytest.raises(UserError, match=r"^\[train\] seed = \[0, 1\]: a list of values is a grid"):
        tune(raw, storage=str(tmp_path / "s.log"))


def test_a_trial_whose_network_cannot_be_built_fails_alone(tmp_path):
    """An even kernel was found only once its population was built: the study stopped
    with trials left running. Now the trial fails and the others train."""
    study = study_of(
        tmp_path,
        '[data]\nname = "digits_images"\n[model]\nkind = "cnn"\nchannels = [4]\n'
        '[train]\nepochs = 1\n[tune]\nsampler = "grid"\npruner = "none"\ntrials = 2\n'
        '[tune.space]\nkernel = { type = "choice", values = [3, 2] }\n',
    )
    by_kernel = {t.params["kernel"]: t for t in study.trials}
    assert by_kernel[3].state == TrialState.COMPLETE
    assert by_kernel[2].state == TrialState.FAIL
    assert by_kernel[2].user_attrs["status"].startswith("invalid: [model] kernel = 2: expected")


def test_quiet_means_nothing_on_either_stream_for_a_conditional_qmc_study(tmp_path, capfd):
    """Optuna's QMC warned at every conditional draw, and its INFO lines went out too."""
    import optuna

    path = write(
        tmp_path,
        sampler="qmc",
        pruner="none",
        trials=3,
        epochs=1,
        space='optimizer = { type = "choice", values = ["momentum", "adam"] }\n'
        'momentum = { type = "uniform", low = 0.5, high = 0.9, when = { optimizer = "momentum" } }',
    )
    optuna.logging.set_verbosity(optuna.logging.INFO)  # as a fresh process has it
    assert main(["tune", str(path), "--storage", str(tmp_path / "s.log"), "--quiet"]) == 0
    assert capfd.readouterr() == ("", "")
