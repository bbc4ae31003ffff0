"""Random local search: the notes' gradient-free baseline."""

import torch

from steepest import rng
from steepest.optim import random_search


def quadratic(params):
    """Per-member ‖w − 1‖², [K]."""
    (w,) = params
    return ((w - 1) ** 2).sum(dim=1)


def test_lowers_a_quadratic_and_never_raises_it():
    w = torch.zeros(4, 10)
    start = quadratic([w])
    keys = rng.derive_key(torch.arange(4), 0)
    hp = {"lr": torch.tensor([0.01, 0.1, 0.3, 1.0]), "tries": 50}
    losses = random_search.step([w], quadratic, hp, keys)
    torch.testing.assert_close(losses, quadratic([w]))
    assert (losses < start).all()
    assert losses[2] < 0.5 * start[2]


def test_member_draws_depend_on_its_key_only():
    keys = rng.derive_key(torch.arange(3), 7)
    together = torch.zeros(3, 5)
    random_search.step([together], quadratic, {"lr": 0.5, "tries": 5}, keys)
    alone = torch.zeros(1, 5)
    random_search.step([alone], quadratic, {"lr": 0.5, "tries": 5}, keys[1:2])
    assert torch.equal(together[1:2], alone)


def test_normal_draws_are_standard_normal():
    z = random_search.normal(torch.tensor([1, 2]), 20_000)
    assert z.shape == (2, 20_000)
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03
    assert not torch.equal(z[0], z[1])
