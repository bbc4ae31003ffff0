"""Deterministic train/validation/test splits: a pure function of the labels and the seed.

Random splits permute with `steepest.rng.permutation`, so the same seed gives the same
split on every machine and torch version. Classification splits are stratified: each
class is cut separately in the same proportions, so rare classes appear in every split.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from steepest import rng
from steepest.data.source import Task
from steepest.errors import UserError

_TRAIN = ("train", "training")
_VAL = ("val", "valid", "validation")
_TEST = ("test",)
_TRUE = ("1", "true", "yes")
_FALSE = ("0", "false", "no", "")


@dataclass(frozen=True)
class Split:
    """Example indices (int64, ascending) of each split."""

    train: Tensor
    val: Tensor
    test: Tensor


def _cut_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """(n_val, n_test) = (⌊n·f_val + ½⌋, ⌊n·f_test + ½⌋), shrunk (test first) so that at
    least one of n examples stays in training."""
    n_val = int(n * val_fraction + 0.5)
    n_test = int(n * test_fraction + 0.5)
    n_test = max(0, min(n_test, n - 1 - n_val))
    n_val = max(0, min(n_val, n - 1 - n_test))
    return n_val, n_test


def random_split(
    y: Tensor, task: Task, val_fraction: float, test_fraction: float, seed: int
) -> Split:
    """Seeded split, stratified by class for classification, plain for regression.

    Group g (class g, or everything for regression) is permuted with key
    derive_key(seed, g); its first n_val examples go to validation, the next n_test to
    test, the rest to training.
    """
    if task == "classification":
        groups = [torch.nonzero(y == c).flatten() for c in torch.unique(y).tolist()]
    else:
        groups = [torch.arange(len(y))]
    parts: tuple[list[Tensor], list[Tensor], list[Tensor]] = ([], [], [])
    for g, members in enumerate(groups):
        order = members[rng.permutation(rng.derive_key(seed, g), len(members))]
        n_val, n_test = _cut_sizes(len(members), val_fraction, test_fraction)
        parts[1].append(order[:n_val])
        parts[2].append(order[n_val : n_val + n_test])
        parts[0].append(order[n_val + n_test :])
    train, val, test = (torch.sort(torch.cat(p)).values for p in parts)
    return Split(train, val, test)


def _named_rows(values: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
    """(train, val, test) indices of the rows a split column names; see `column_split`."""
    words = [v.strip().lower() for v in values]
    if all(w in (*_TRAIN, *_VAL, *_TEST) for w in words):
        kinds = [[w in kind for w in words] for kind in (_TRAIN, _VAL, _TEST)]
    else:
        bad = next((w for w in words if w not in (*_TRUE, *_FALSE)), None)
        if bad is not None:
            raise UserError(
                f"[data] split_column: value {bad!r} is neither train/val/test nor a "
                "boolean (1/0, true/false, yes/no)"
            )
        is_val = [w in _TRUE for w in words]
        kinds = [[not v for v in is_val], is_val, [False] * len(words)]
    train, val, test = (torch.nonzero(torch.tensor(k, dtype=torch.bool)).flatten() for k in kinds)
    return train, val, test


def column_split(
    values: Sequence[str],
    y: Tensor,
    task: Task,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> Split:
    """A split read from a column, one value per example (case and spaces ignored).

    Named values: train/training, val/valid/validation, test — used as they are.
    Boolean values (1/0, true/false, yes/no, empty = false), e.g. ``is_validation``:
    true rows are the validation set, the other rows training.
    A split that no row names (the test set of a boolean column; the val set where only
    train and test are named, as public sets often ship them) is cut from the training
    rows by `random_split` (stratified, seeded): validation by `val_fraction`, test by
    `test_fraction`.
    """
    train, val, test = _named_rows(values)
    if len(train) == 0:  # nothing to cut from; load_dataset refuses the split
        return Split(train, val, test)
    cut_val = val_fraction if len(val) == 0 else 0.0
    cut_test = test_fraction if len(test) == 0 else 0.0
    inner = random_split(y[train], task, cut_val, cut_test, seed)
    return Split(
        train[inner.train],
        val if len(val) else train[inner.val],
        test if len(test) else train[inner.test],
    )
