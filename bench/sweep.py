"""The same study two ways: Optuna + a plain PyTorch loop (one trial at a time, in-memory
study, as most users write it) vs `steepest tune` (populations, durable journal file).

Digits MLP (hidden 128), 20 epochs, batch 32, SGD momentum; space lr (log), momentum,
weight decay (log); TPE + median pruning; 64 trials. Prints the wall-time ratio and both
best validation accuracies, for each of 3 seeds and their median.

Each seed's study runs `repeats` times a side, alternating, and the seed's ratio is that of
the two median times: a burst of load on this shared VM costs a 1.5 s run a larger share
of its time than a 15 s run, and single runs put one seed anywhere from 6× to 13×. Every
run of a side must reach the same best value and epochs (a seeded study is
reproducible); the script says so when they do not.
Usage: python bench/sweep.py [trials] [seeds] [repeats]
"""

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna

from common import digits, plain_trial
from steepest.tune.run import tune

EXPERIMENT = """
[data]
name = "digits"
[model]
hidden = [128]
[train]
optimizer = "momentum"
epochs = 20
batch_size = 32
[tune]
sampler = "tpe"
pruner = "median"
trials = {trials}
seed = {seed}
startup_trials = 8
warmup_epochs = 1  # the plain side's n_warmup_steps = 2 on epochs counted from 1
population = {population}
[tune.space]
lr = {{ type = "loguniform", low = 1e-3, high = 1.0 }}
momentum = {{ type = "uniform", low = 0.5, high = 0.99 }}
weight_decay = {{ type = "loguniform", low = 1e-6, high = 1e-2 }}
"""


Run = tuple[float, float, int]  # seconds, best val accuracy, epochs trained


def trained_epochs(study: optuna.Study) -> int:
    """Epochs trained, summed over the study's trials (one report per epoch)."""
    return sum(len(t.intermediate_values) for t in study.trials)


def optuna_plain(trials: int, seed: int) -> Run:
    """Wall seconds, best val accuracy and epochs trained of Optuna around a hand-written
    loop."""
    data = digits()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        momentum = trial.suggest_float("momentum", 0.5, 0.99)
        weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)

        def report(value: float, epoch: int) -> bool:
            trial.report(value, epoch)
            return trial.should_prune()

        best = plain_trial(
            data, lr, momentum, weight_decay, 20, seed * 1000 + trial.number, report=report
        )
        if trial.should_prune():
            raise optuna.TrialPruned()
        return best

    started = time.perf_counter()
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=8),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=8, n_warmup_steps=2),
    )
    study.optimize(objective, n_trials=trials)
    return time.perf_counter() - started, study.best_value, trained_epochs(study)


def steepest_tune(trials: int, seed: int, population: int | str = "auto") -> Run:
    """Wall seconds, best val accuracy and epochs trained of `steepest tune` with a
    journal file (`population`: [tune] population, members trained at once)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sweep.toml"
        path.write_text(
            EXPERIMENT.format(trials=trials, seed=seed, population=json.dumps(population))
        )
        started = time.perf_counter()
        result = tune(path, storage=str(Path(folder) / "sweep.log"))
        seconds = time.perf_counter() - started
        return seconds, result.summary["best_value"], trained_epochs(result.study)


def median_run(runs: list[Run], name: str) -> Run:
    """Median seconds of a side's runs, and their best value and epochs (which every run of a
    seeded study must share: said when they do not, and the first run's are kept)."""
    outcomes = {(best, epochs) for _, best, epochs in runs}
    if len(outcomes) > 1:
        print(f"    {name} is not reproducible: {sorted(outcomes)} in {len(runs)} runs")
    _, best, epochs = runs[0]
    return statistics.median(seconds for seconds, _, _ in runs), best, epochs


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    ratios, gaps = [], []
    for seed in range(seeds):
        plain_runs: list[Run] = []
        ours_runs: list[Run] = []
        for _ in range(repeats):  # alternating, so load changes hit both sides alike
            plain_runs.append(optuna_plain(trials, seed))
            ours_runs.append(steepest_tune(trials, seed))
        plain_seconds, plain_best, plain_epochs = median_run(plain_runs, "optuna+plain")
        ours_seconds, ours_best, ours_epochs = median_run(ours_runs, "steepest")
        ratios.append(plain_seconds / ours_seconds)
        gaps.append(ours_best - plain_best)
        single = [p[0] / o[0] for p, o in zip(plain_runs, ours_runs)]
        print(
            f"seed {seed}: optuna+plain {plain_seconds:5.1f} s best {plain_best:.4f} "
            f"({plain_epochs} epochs) | steepest {ours_seconds:5.2f} s best {ours_best:.4f} "
            f"({ours_epochs} epochs) | speedup {plain_seconds / ours_seconds:4.1f}x "
            f"(pairs of single runs {min(single):.1f}–{max(single):.1f}x)"
        )
    print(
        f"median speedup {statistics.median(ratios):.1f}x (target >= 10x); median best-accuracy "
        f"difference {100 * statistics.median(gaps):+.2f} points (target >= -0.5)"
    )


if __name__ == "__main__":
    main()
