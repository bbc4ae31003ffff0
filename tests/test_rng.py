"""Counter-based draws: a pure function of the key, the same per member as alone."""

import torch

from steepest import rng


def test_permutation_is_a_permutation_fixed_by_its_key():
    key = rng.derive_key(7, 3)
    order = rng.permutation(key, 500)
    assert sorted(order.tolist()) == list(range(500))
    assert torch.equal(order, rng.permutation(rng.derive_key(7, 3), 500))
    assert not torch.equal(order, rng.permutation(rng.derive_key(7, 4), 500))


def test_a_row_of_keys_gives_each_key_its_own_permutation():
    """Member k of a population draws the data order it draws alone."""
    keys = rng.derive_key(torch.tensor([5, 6, 7]), 2)
    together = rng.permutation(keys, 300)
    assert together.shape == (3, 300)
    for k in range(3):
        assert torch.equal(together[k], rng.permutation(keys[k], 300))
    assert not torch.equal(together[0], together[1])


def test_the_int_key_is_the_tensor_key():
    """`derive_int_key` folds Python ints as `derive_key` folds int64 tensors."""
    for seed, counters in [(0, ()), (7, (3, 2, 5)), (-4, (1,)), (2**40 + 3, (0, 2**33))]:
        assert rng.derive_int_key(seed, *counters) == int(rng.derive_key(seed, *counters))
