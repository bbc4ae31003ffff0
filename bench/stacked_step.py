"""The population step of a plain MLP: hand-written backward vs autograd's.

Both routes run the stacked baddbmm forward (`steepest.stacked`) on the same population
in one process, alternating, so machine load hits both alike: the hand-written backward
(`stacked.Plan.loss_and_gradients`, what `Population.step` uses) and autograd through
`stacked.Plan.forward`. Digits MLP 64→128→10, batch 32, SGD momentum with a different
lr/momentum per member. Prints the median time per step and the ratio at each K (at
K=1 the autograd route runs the population's live module).
"""

import statistics
import sys
import time

from common import digits
from population import experiments, filled_population

STEPS, REPEATS = 30, 25


def step_times(population, by_hand: bool, times: list[float]) -> None:
    """Appends the time per step of one run of STEPS steps from the start of the epoch."""
    population._backward_by_hand = by_hand
    population.step_in_epoch = 0
    started = time.perf_counter()
    for _ in range(STEPS):
        population.step()
    times.append((time.perf_counter() - started) / STEPS)


def main() -> None:
    data = digits()
    sizes = [int(a) for a in sys.argv[1:]] or [1, 2, 8, 32, 64]
    print("digits MLP 64→128→10, batch 32, SGD momentum: time per population step")
    for k in sizes:
        population = filled_population(data, experiments(k))
        population.begin_epoch()
        hand: list[float] = []
        autograd: list[float] = []
        for _ in range(REPEATS):
            step_times(population, True, hand)
            step_times(population, False, autograd)
        h, a = statistics.median(hand), statistics.median(autograd)
        print(
            f"    K={k:3d}: hand-written backward {h * 1e3:6.3f} ms, autograd {a * 1e3:6.3f} ms,"
            f" hand / autograd {h / a:5.2f}"
        )


if __name__ == "__main__":
    main()
