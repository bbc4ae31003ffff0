"""Choosing the population size K by measurement, not by guess.

Throughput (member-steps per second) grows with K while the device has idle width, then
flattens. We time a few training steps of throwaway populations at K = 1, 2, 4, … and stop
doubling when a doubling gains less than `min_gain`, when the estimated memory would pass
the budget, or at `limit` (there are no more members to train than that).
"""

import os
import time
from collections.abc import Callable

import torch

from steepest.population import Member, Population

_PROBE_STEPS = 3


def memory_budget(device: torch.device, fraction: float = 0.5) -> int:
    """Bytes a population may use: `fraction` of free GPU memory or of available RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * fraction)
    pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(pages * fraction)


def member_bytes(population: Population) -> int:
    """Memory one member costs: parameters, gradient and up to two optimizer moments,
    plus its batch and the widest activations (estimated as 4 copies of the batch output
    per parameter tensor, a deliberate over-estimate)."""
    params = sum(shape.numel() for shape in population.shapes) * population.dtype.itemsize
    batch = population.batch_size * population.x_train[0].numel() * 4
    return 4 * params + batch * (1 + 4 * len(population.names))


def probe_throughput(population: Population, members: list[Member]) -> float:
    """Member-steps per second of `members` training together (after one warm-up step)."""
    population.add(members)
    population.begin_epoch()
    steps = min(_PROBE_STEPS + 1, population.steps_per_epoch)
    population.step()
    started = time.perf_counter()
    for _ in range(steps - 1):
        population.step()
    elapsed = time.perf_counter() - started
    return len(members) * (steps - 1) / max(elapsed, 1e-9)


def choose_capacity(
    new_population: Callable[[], Population],
    probe_member: Callable[[int], Member],
    limit: int,
    min_gain: float = 0.15,
) -> int:
    """The K to train `limit` members with; see the module docstring."""
    if limit <= 1:
        return 1
    first = new_population()
    budget = memory_budget(first.device)
    if first.steps_per_epoch < 2:
        return min(limit, max(1, budget // max(member_bytes(first), 1)))
    best_k, best_rate = 1, probe_throughput(first, [probe_member(0)])
    k = 2
    while True:
        k = min(k, limit)
        population = new_population()
        if member_bytes(population) * k > budget:
            break
        rate = probe_throughput(population, [probe_member(i) for i in range(k)])
        if rate < best_rate * (1 + min_gain):
            break
        best_k, best_rate = k, rate
        if k == limit:
            break
        k *= 2
    return best_k
