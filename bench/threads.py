"""Intra-op threads per population step: one thread against the process's (two here).

For digits MLPs (64→128→10 and 64→512→10, SGD momentum, batch 32) and a digits_images
CNN (channels 16, 32, Adam) at K = 1 … 16 members, the median time per step on 1 and on
2 threads, alternating in one process, with the forward FLOPs of a step (what
`Population.intra_op_threads` decides by: one thread below `ONE_THREAD_BELOW`) and the
ratio 2 threads / 1 thread. With `busy`, a spinning process runs beside, as when
another program keeps a core busy: then a thread torch wakes may wait for the core.
Usage: python bench/threads.py [busy]
"""

import statistics
import subprocess
import sys
import time

import torch

from steepest.config import validate
from steepest.data import load_dataset
from steepest.population import ONE_THREAD_BELOW
from steepest.training import build_population, make_member, task_for

STEPS, REPEATS = 10, 5
NETWORKS = {
    "MLP 128": ({"name": "digits"}, {"hidden": [128]}, "momentum"),
    "MLP 512": ({"name": "digits"}, {"hidden": [512]}, "momentum"),
    "CNN 16,32": ({"name": "digits_images"}, {"kind": "cnn", "channels": [16, 32]}, "adam"),
}


def step_seconds(population, threads: int) -> float:
    """Mean seconds a step of STEPS steps on `threads` threads (after a warm-up step)."""
    torch.set_num_threads(threads)
    population.begin_epoch()
    population.step()
    started = time.perf_counter()
    for _ in range(STEPS):
        population.step()
    population.drop_epoch()
    return (time.perf_counter() - started) / STEPS


def main() -> None:
    busy = None
    if sys.argv[1:] == ["busy"]:
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for name, (data, model, optimizer) in NETWORKS.items():
            experiment = validate({"data": data, "model": model, "train": {"optimizer": optimizer}})
            dataset = load_dataset(experiment.data)
            task = task_for(experiment, dataset)
            for k in (1, 2, 4, 8, 16):
                population = build_population(experiment, dataset, task, torch.device("cpu"))
                population.add([make_member(experiment, i) for i in range(k)])
                times: dict[int, list[float]] = {1: [], 2: []}
                for _ in range(REPEATS):
                    for threads in times:
                        times[threads].append(step_seconds(population, threads))
                one, two = (statistics.median(times[t]) for t in (1, 2))
                flops = k * population.forward_flops * population.batch_size
                chosen = 1 if flops < ONE_THREAD_BELOW else 2
                print(
                    f"{name:9s} K={k:2d}: forward {flops / 1e6:6.2f} MFLOP a step, 1 thread "
                    f"{one * 1e3:6.3f} ms, 2 threads {two * 1e3:6.3f} ms, 2 / 1 = {two / one:4.2f}"
                    f" (steepest runs {chosen})"
                )
    finally:
        if busy is not None:
            busy.kill()


if __name__ == "__main__":
    main()
