"""Choosing K by measured throughput: which sizes are timed, the memory budget, the pick."""

import pytest
import torch

from steepest import capacity
from steepest.config import validate
from steepest.data import load_dataset
from steepest.errors import UserError
from steepest.training import build_population, make_member, task_for

EXPERIMENT = validate(
    {"data": {"name": "digits"}, "model": {"hidden": [16]}, "train": {"batch_size": 64}}
)


@pytest.fixture
def new_population():
    data = load_dataset(EXPERIMENT.data)
    task = task_for(EXPERIMENT, data)
    return lambda: build_population(EXPERIMENT, data, task, torch.device("cpu"))


def choose(new_population, limit: int, tolerance: float = 0.1) -> int:
    return capacity.choose_capacity(
        new_population(), lambda i: make_member(EXPERIMENT, -1 - i), limit, tolerance
    )


@pytest.fixture
def timed(monkeypatch) -> list[int]:
    """The population sizes probed, in order (the real probe still runs)."""
    sizes: list[int] = []
    probe = capacity.probe_throughput

    def recording(population):
        sizes.append(len(population))
        return probe(population)

    monkeypatch.setattr(capacity, "probe_throughput", recording)
    return sizes


def test_every_doubling_up_to_the_limit_is_timed_and_k_is_one_of_them(new_population, timed):
    k = choose(new_population, 12)
    assert timed == [1, 2, 4, 8, 12] and k in timed


def test_a_limit_of_one_needs_no_probe(new_population, timed):
    assert choose(new_population, 1) == 1 and timed == []


def test_sizes_past_the_memory_budget_are_not_tried(new_population, timed, monkeypatch):
    per_member = capacity.member_bytes(new_population())
    monkeypatch.setattr(capacity, "memory_budget", lambda device: 5 * per_member)
    assert choose(new_population, 16) <= 4 and timed == [1, 2, 4]
    monkeypatch.setattr(capacity, "memory_budget", lambda device: 1)
    assert choose(new_population, 16) == 1 and timed == [1, 2, 4]


def test_largest_fitting_is_the_memory_bound_capped_by_the_limit(new_population, monkeypatch):
    population = new_population()
    per_member = capacity.member_bytes(population)
    monkeypatch.setattr(capacity, "memory_budget", lambda device: 5 * per_member)
    assert capacity.largest_fitting(population, 64) == 5
    assert capacity.largest_fitting(population, 3) == 3
    monkeypatch.setattr(capacity, "memory_budget", lambda device: 1)
    assert capacity.largest_fitting(population, 64) == 1


def test_the_smallest_size_within_tolerance_of_the_best_wins(new_population, monkeypatch):
    rates = {1: 10.0, 2: 30.0, 4: 29.0, 8: 31.0}
    monkeypatch.setattr(capacity, "probe_throughput", lambda population: rates[len(population)])
    assert choose(new_population, 8, tolerance=0.0) == 8
    assert choose(new_population, 8, tolerance=0.1) == 2


def test_memory_counts_the_largest_state_of_the_optimizers(new_population):
    """Adam keeps two moments; L-BFGS a history of 10 pairs (20 copies) and 2 more: an
    L-BFGS member costs more, and a population mixing both is sized for L-BFGS."""
    population = new_population()
    params = sum(s.numel() for s in population.shapes) * 4
    assert capacity.state_bytes(population, "sgd") == 0
    assert capacity.state_bytes(population, "adam") == 2 * params + 4
    assert capacity.state_bytes(population, "lbfgs") > 20 * params
    lbfgs = capacity.member_bytes(population, ["lbfgs"])
    assert lbfgs - capacity.member_bytes(population, ["adam"]) > 40 * params  # + temporaries
    assert capacity.member_bytes(population, ["adam", "lbfgs"]) == lbfgs


def test_forward_bytes_count_what_the_forward_makes_not_views(new_population):
    """A view (Flatten's) holds no memory of its own: counted, it added the inputs again."""
    population = new_population()
    # digits (64 features, 10 classes), hidden [16]: Linear, ReLU, Linear
    made = 16 + 16 + 10  # addmm, relu, addmm outputs of an example, float32
    assert population.forward_bytes == 4 * made


def test_a_member_that_cannot_fit_in_all_the_free_memory_is_refused(new_population, monkeypatch):
    population = new_population()
    needs = capacity.member_bytes(population, ["lbfgs"])
    monkeypatch.setattr(capacity, "memory_budget", lambda device, fraction: needs - 1)
    with pytest.raises(UserError, match=r"^model: .* parameters; a member needs .* lbfgs"):
        capacity.refuse_beyond_memory(population, ["lbfgs"])
    capacity.refuse_beyond_memory(population, ["sgd"])  # sgd needs less: it fits
