"""Choosing the population size K by measurement, not by guess.

Throughput (member-steps per second) grows with K while the device has idle width, then
flattens. We time a few training steps of throwaway populations at K = 1, 2, 4, …, up to
the number of members there are to train or the memory budget, and take the smallest K
that comes within a tolerance of the best throughput.
"""

import math
import time
from collections.abc import Callable, Collection

import torch

from steepest.errors import UserError
from steepest.memory import memory_budget
from steepest.optim import RULES
from steepest.population import EVALUATION_CHUNK, Member, Population

_PROBE_STEPS = 3


# Copies of a member's parameters an update holds beside its state, at its peak: the
# backward's and the rule's temporaries. Measured as the growth of peak RSS per member
# from K = 4 to 16 (momentum, Adam) or 2 to 6 (L-BFGS), digits MLP 64→1024→1024→10,
# batch 32: about 1.5 for momentum and Adam, 23 for L-BFGS (its two-loop recursion,
# line search and re-evaluations), 2026-12-02.
_WORKING_COPIES = 2
_WORKING_COPIES_OF = {"lbfgs": 24}


def member_bytes(population: Population, optimizers: Collection[str] = ("adam",)) -> int:
    """Memory one member costs: parameters and gradient, the largest optimizer state and
    working memory among `optimizers` (`update_bytes`), plus its batch and the larger of
    twice its forward's outputs on it (kept for the backward, and their gradients) and
    its forward's outputs on an evaluation chunk (up to `EVALUATION_CHUNK` examples of
    a split at once: a wide network's evaluation held 2.4 times the estimate without
    it). The outputs are counted on a forward of the network as built
    (`Population.forward_bytes`, per example)."""
    params = _elements(population) * population.dtype.itemsize
    update = max(update_bytes(population, name) for name in optimizers)
    batch = population.batch_size * population.x_train[0].numel() * 4
    trained = 2 * population.batch_size
    evaluated = min(EVALUATION_CHUNK, len(population.x_train))
    activations = int(population.forward_bytes * max(trained, evaluated))
    return 2 * params + update + batch + activations


def update_bytes(population: Population, optimizer: str) -> int:
    """One member's `optimizer` state (two moments for Adam; 22 copies of the parameters
    for L-BFGS: a history of 10 pairs, the direction and the last gradient) and the
    temporaries its update holds at once (`_WORKING_COPIES_OF`)."""
    params = _elements(population) * population.dtype.itemsize
    copies = _WORKING_COPIES_OF.get(optimizer, _WORKING_COPIES)
    return state_bytes(population, optimizer) + copies * params


def state_bytes(population: Population, optimizer: str) -> int:
    """Bytes of one member's `optimizer` state. A rule's state is so many copies of the
    parameters (or of their flat vector) and a few fixed-size entries, a + b·P bytes for P
    parameter elements: its own init on stand-ins of one and of two elements a tensor
    gives a and b. Not on meta tensors: their first use costs a process 0.3 s of imports,
    a third of a small run."""
    params = _elements(population)
    stand_ins = len(population.shapes)
    one, two = (_state_elements(optimizer, stand_ins, size) for size in (1, 2))
    per_element = (two - one) / stand_ins
    fixed = one - per_element * stand_ins
    return int((fixed + per_element * params) * population.dtype.itemsize)


def _state_elements(optimizer: str, tensors: int, size: int) -> int:
    """Elements of the state `optimizer` makes for `tensors` parameters of `size` each."""
    state = RULES[optimizer].init([torch.zeros(1, size) for _ in range(tensors)])
    values = [
        v for value in state.values() for v in (value if isinstance(value, list) else [value])
    ]
    return sum(v.numel() for v in values)


def refuse_beyond_memory(population: Population, optimizers: Collection[str]) -> None:
    """A network one member of which needs more than all the free memory (`member_bytes`)
    is refused before training: hidden = [100000000] was killed by the kernel without a
    word. Members that fit train, one at a time at least (`largest_fitting`)."""
    needs = member_bytes(population, optimizers)
    free = memory_budget(population.device, fraction=1.0)
    if needs > free:
        params = _elements(population)
        raise UserError(
            f"model: {params:,} parameters; a member needs {_size(needs)} to train with "
            f"{' or '.join(optimizers)} and {_size(free)} is free: a smaller network or "
            "batch_size"
        )


def _elements(population: Population) -> int:
    """Elements of one member's parameters."""
    return sum(shape.numel() for shape in population.shapes)


def _size(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


def largest_fitting(
    population: Population, limit: int, optimizers: Collection[str] = ("adam",)
) -> int:
    """The largest K ≤ `limit` whose members fit the memory budget, at least 1 (when not
    even one fits, members train one at a time): a size that does not depend on timing."""
    fitting = memory_budget(population.device) // max(member_bytes(population, optimizers), 1)
    return min(limit, max(1, fitting))


def probe_throughput(population: Population) -> float:
    """Member-steps per second of the population's members training together, from the
    fastest of a few timed steps (after one warm-up step). Another process taking the
    CPU only ever adds time: on a busy 2-core machine one such pause in the three steps
    of a tiny network's probe (0.2 ms each) made K = 4 read slower than K = 1, and a
    study trained its trials one at a time."""
    with population.intra_op_threads():  # as the population will train
        population.begin_epoch()
        steps = min(_PROBE_STEPS + 1, population.steps_per_epoch)
        population.step()
        fastest = math.inf
        for _ in range(steps - 1):
            started = time.perf_counter()
            population.step()
            fastest = min(fastest, time.perf_counter() - started)
        population.drop_epoch()  # more members may join
    return len(population) / max(fastest, 1e-9)


def choose_capacity(
    population: Population,
    probe_member: Callable[[int], Member],
    limit: int,
    tolerance: float = 0.1,
    optimizers: Collection[str] = ("adam",),
) -> int:
    """The K to train up to `limit` members with: the smallest K = 1, 2, 4, …, limit whose
    measured throughput is within `tolerance` of the best one seen, among the sizes that
    fit the memory budget. Every doubling is probed — throughput can dip at K = 2 (vmap
    has a fixed cost a population of one does not pay) and rise well past it. The
    `population`, empty and thrown away after, grows from size to size, so each probe
    member is built once."""
    if limit <= 1:
        return 1
    most = largest_fitting(population, limit, optimizers)
    if most == 1 or population.steps_per_epoch < 2:  # no choice, or nothing to time
        return most
    doublings = sorted({min(2**i, limit) for i in range(limit.bit_length() + 1)})
    rates: dict[int, float] = {}
    for k in (k for k in doublings if k <= most):
        population.add([probe_member(i) for i in range(len(population), k)])
        rates[k] = probe_throughput(population)
    best = max(rates.values())
    return min(k for k, rate in rates.items() if rate >= (1 - tolerance) * best)
