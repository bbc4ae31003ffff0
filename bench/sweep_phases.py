"""Where the time of bench/sweep.py's `steepest tune` study goes, and what the population
size does to it.

(a) One run of the study per seed, its wall time split into phases by timing the methods
that do them: the training epochs of the first wave (the population before any trial
has finished) and of the later trials, evaluation, TPE's draws, the rest of asking
(journal, building the trial's experiment), members joining a population, the trials'
reports and the pruner's verdicts, the trials' ends (tell), and whatever is left. Each
phase is printed as its share of the run.
(b) The same study with the population capped at smaller sizes: the median time of
`repeats` runs and the epochs trained, as ratios to the automatic (largest) population,
run alternately in this process.
Usage: python bench/sweep_phases.py [seeds] [repeats]
"""

import functools
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from unittest import mock

import optuna

from steepest.population import Population
from steepest.tune.run import StructureSource, StudyFeed
from steepest.tune.space import SearchSpace
from sweep import steepest_tune

CAPS = (16, 32, 48)
PHASES = (  # in the order printed
    "train, first wave",
    "TPE draws",
    "asking, besides TPE",
    "members joining",
    "train, later trials",
    "evaluation",
    "reports and verdicts",
    "trials' ends (tell)",
    "the rest",
)


def timed(
    spent: dict[str, float], owner: type, name: str, label: Callable[[], str]
) -> AbstractContextManager:
    """A patch of `owner.name` that adds the seconds of each call to `spent[label()]`."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label()] += time.perf_counter() - started

    return mock.patch.object(owner, name, wrapper)


def phases(seed: int) -> tuple[float, dict[str, float]]:
    """One run's wall seconds and its seconds per phase (`PHASES`)."""
    spent: dict[str, float] = defaultdict(float)
    ends = "trials' ends (tell)"

    def training() -> str:
        return "train, later trials" if spent[ends] else "train, first wave"

    patches = [
        (Population, "run_epoch", training),
        (Population, "evaluate", lambda: "evaluation"),
        (Population, "add", lambda: "members joining"),
        (SearchSpace, "suggest", lambda: "TPE draws"),
        (StudyFeed, "ask", lambda: "asking"),
        (StructureSource, "report", lambda: "reports and verdicts"),
        (StructureSource, "finish", lambda: ends),
    ]
    with ExitStack() as stack:
        for owner, name, label in patches:
            stack.enter_context(timed(spent, owner, name, label))
        seconds, _, _ = steepest_tune(64, seed)
    spent["asking, besides TPE"] = spent.pop("asking") - spent["TPE draws"]
    spent["the rest"] = seconds - sum(spent.values())
    assert set(spent) == set(PHASES), sorted(spent)
    return seconds, spent


def main() -> None:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    steepest_tune(64, 0)  # warm: the first run in a process pays for lazy imports
    print("(a) share of a run's wall time, per seed")
    runs = [phases(seed) for seed in range(seeds)]
    for name in PHASES:
        shares = " ".join(f"{spent[name] / seconds:6.1%}" for seconds, spent in runs)
        print(f"    {name:24s} {shares}")
    print(f"    {'(run seconds)':24s} " + " ".join(f"{s:6.2f}" for s, _ in runs))

    print("(b) population capped, vs the automatic (largest) population")
    for seed in range(seeds):
        times: dict[int | str, list[float]] = defaultdict(list)
        epochs: dict[int | str, int] = {}
        for _ in range(repeats):
            for cap in ("auto", *CAPS):
                seconds, _, epochs[cap] = steepest_tune(64, seed, cap)
                times[cap].append(seconds)
        auto = statistics.median(times["auto"])
        row = ", ".join(
            f"{cap}: time {statistics.median(times[cap]) / auto:.2f}, "
            f"epochs {epochs[cap] / epochs['auto']:.2f}"
            for cap in CAPS
        )
        print(f"    seed {seed} (auto {auto:.2f} s, {epochs['auto']} epochs): {row}")


if __name__ == "__main__":
    main()
