import pytest
import torch

from steepest.data.splits import column_split, random_split
from steepest.errors import UserError


def _labels(counts):
    return torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])


def test_same_seed_same_split_and_other_seed_differs():
    y = _labels([40, 40, 40])
    a, b = (
        random_split(y, "classification", 0.2, 0.1, seed=3),
        random_split(y, "classification", 0.2, 0.1, seed=3),
    )
    c = random_split(y, "classification", 0.2, 0.1, seed=4)
    assert all(
        torch.equal(p, q) for p, q in zip((a.train, a.val, a.test), (b.train, b.val, b.test))
    )
    assert not torch.equal(a.val, c.val)


def test_split_is_a_partition():
    y = _labels([13, 7, 30])
    split = random_split(y, "classification", 0.25, 0.25, seed=0)
    together = torch.sort(torch.cat([split.train, split.val, split.test])).values
    assert torch.equal(together, torch.arange(len(y)))


def test_each_class_cut_in_the_same_proportions():
    y = _labels([100, 20, 60])
    split = random_split(y, "classification", 0.2, 0.1, seed=1)
    assert torch.bincount(y[split.val]).tolist() == [20, 4, 12]
    assert torch.bincount(y[split.test]).tolist() == [10, 2, 6]


def test_tiny_class_keeps_one_training_example():
    y = _labels([2, 50])
    split = random_split(y, "classification", 0.45, 0.45, seed=0)
    assert (y[split.train] == 0).sum() == 1


def test_regression_split_is_plain_with_rounded_sizes():
    y = torch.linspace(0, 1, 101)
    split = random_split(y, "regression", 0.1, 0.2, seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (71, 10, 20)


def test_named_split_column_is_used_as_is():
    y = _labels([3, 3])
    values = ["train", "val", "Test", "training", " validation", "test"]
    split = column_split(values, y, "classification", 0.5, 0.5, seed=0)
    assert split.train.tolist() == [0, 3]
    assert split.val.tolist() == [1, 4]
    assert split.test.tolist() == [2, 5]


def test_boolean_split_column_marks_validation_and_test_comes_from_the_rest():
    y = _labels([50, 50])
    values = ["1" if i % 5 == 0 else "0" for i in range(100)]
    split = column_split(values, y, "classification", 0.15, 0.25, seed=0)
    assert split.val.tolist() == list(range(0, 100, 5))
    assert not set(split.test.tolist()) & set(split.val.tolist())
    assert torch.bincount(y[split.test]).tolist() == [10, 10]
    assert len(split.train) == 60


def test_unknown_split_value_names_it():
    with pytest.raises(UserError, match="'maybe'"):
        column_split(["1", "maybe"], _labels([1, 1]), "classification", 0.0, 0.0, seed=0)


def test_split_column_without_val_rows_cuts_validation_from_train_rows():
    y = _labels([20, 20])
    values = ["test" if i % 4 == 0 else "train" for i in range(40)]  # Kaggle style
    split = column_split(values, y, "classification", 0.2, 0.5, seed=0)
    assert split.test.tolist() == list(range(0, 40, 4))
    train_rows = [i for i in range(40) if i % 4]
    cut = random_split(y[train_rows], "classification", 0.2, 0.0, seed=0)
    assert split.val.tolist() == [train_rows[i] for i in cut.val.tolist()]
    assert torch.bincount(y[split.val]).tolist() == [3, 3]
    assert len(split.train) == 24


def test_split_column_without_test_rows_cuts_test_only_when_asked():
    y = _labels([10, 10])
    values = ["val" if i % 5 == 0 else "train" for i in range(20)]
    with_test = column_split(values, y, "classification", 0.5, 0.25, seed=0)
    assert with_test.val.tolist() == list(range(0, 20, 5))
    assert torch.bincount(y[with_test.test]).tolist() == [2, 2]
    without = column_split(values, y, "classification", 0.5, 0.0, seed=0)
    assert len(without.test) == 0 and len(without.train) == 16
