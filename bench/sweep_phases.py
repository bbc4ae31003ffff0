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
(c) How close (a)'s runs come to their floor: the time they would take if every epoch
cost what an epoch of the first wave (a population of `startup_trials`) costs, and
nothing else ran but TPE's draws. Trials wait for the first wave, so a run trains at
least two trials' length of epochs one after another, each at least at that cost. Each
seed's run, and its floor, as ratios to one run of the sequential study (bench/sweep.py).
Usage: python bench/sweep_phases.py [seeds] [repeats]
"""

import functools
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from unittest import mock

import optuna

from steepest.population import Population
from steepest.tune.run import StructureSource, StudyFeed
from steepest.tune.space import SearchSpace
from sweep import optuna_plain, steepest_tune

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
    spent: dict[str, float],
    calls: Counter[str],
    owner: type,
    name: str,
    label: Callable[[], str],
) -> AbstractContextManager:
    """A patch of `owner.name` that adds the seconds of each call to `spent[label()]`, and
    the call to `calls[label()]`."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            phase = label()
            spent[phase] += time.perf_counter() - started
            calls[phase] += 1

    return mock.patch.object(owner, name, wrapper)


@dataclass
class PhasedRun:
    """One run of the study: wall seconds, and seconds and calls per phase (`PHASES`)."""

    seconds: float
    spent: dict[str, float]
    calls: Counter[str]

    def floor(self) -> float:
        """Seconds of every epoch at the first wave's cost per epoch, plus TPE's draws."""
        first = "train, first wave"
        epochs = self.calls[first] + self.calls["train, later trials"]
        return epochs * self.spent[first] / self.calls[first] + self.spent["TPE draws"]


def phases(seed: int) -> PhasedRun:
    """One run of the study, timed per phase."""
    spent: dict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()
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
            stack.enter_context(timed(spent, calls, owner, name, label))
        seconds, _, _ = steepest_tune(64, seed)
    spent["asking, besides TPE"] = spent.pop("asking") - spent["TPE draws"]
    spent["the rest"] = seconds - sum(spent.values())
    assert set(spent) == set(PHASES), sorted(spent)
    return PhasedRun(seconds, spent, calls)


def main() -> None:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    steepest_tune(64, 0)  # warm: the first run in a process pays for lazy imports
    print("(a) share of a run's wall time, per seed")
    runs = [phases(seed) for seed in range(seeds)]
    for name in PHASES:
        shares = " ".join(f"{run.spent[name] / run.seconds:6.1%}" for run in runs)
        print(f"    {name:24s} {shares}")
    print(f"    {'(run seconds)':24s} " + " ".join(f"{run.seconds:6.2f}" for run in runs))

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

    print("(c) (a)'s runs and their floors, vs one run of the sequential study")
    for seed, run in enumerate(runs):
        plain, _, _ = optuna_plain(64, seed)
        print(
            f"    seed {seed}: sequential {plain:5.1f} s; run {run.seconds:.2f} s, "
            f"{plain / run.seconds:4.1f}x; floor {run.floor():.2f} s, "
            f"{plain / run.floor():4.1f}x"
        )


if __name__ == "__main__":
    main()
