"""The data sets bundled with scikit-learn (no network): names, loading, descriptions.

digits         1797 × 64 pixel intensities 0–16 of 8×8 handwritten digits, 10 classes
digits_images  the same digits as [1, 8, 8] images
iris           150 × 4, 3 classes;  wine  178 × 13, 3 classes
breast_cancer  569 × 30, 2 classes;  diabetes  442 × 10, regression (disease progression)
"""

from typing import Any

import torch

from steepest.config import BUILTIN_DATASETS
from steepest.data.source import Examples
from steepest.errors import UserError

_LOADERS = {
    "digits": "load_digits",
    "digits_images": "load_digits",
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
    "diabetes": "load_diabetes",
}


def names() -> list[str]:
    """Every built-in data set name."""
    return list(BUILTIN_DATASETS)


def load_builtin(name: str) -> Examples:
    """All examples of a built-in set: x float32, y int64 classes or float32 targets."""
    if name not in _LOADERS:
        raise UserError(f"[data] name = {name!r}: expected one of {', '.join(names())}")
    # Imported here: scikit-learn takes seconds to import and only these sets need it.
    from sklearn import datasets

    bunch = getattr(datasets, _LOADERS[name])()
    x = torch.tensor(bunch.data, dtype=torch.float32)
    # Python strs: some sets name their columns with NumPy strings, which best.pt would
    # then pickle as NumPy objects that `steepest.load` (weights_only) refuses to read.
    feature_names = [str(n) for n in bunch.feature_names]
    if name == "diabetes":
        y = torch.tensor(bunch.target, dtype=torch.float32)
        return Examples(x, y, "regression", None, feature_names, name)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    class_names = [str(c) for c in bunch.target_names]
    if name == "digits_images":
        return Examples(x.view(-1, 1, 8, 8), y, "classification", class_names, None, name)
    return Examples(x, y, "classification", class_names, feature_names, name)


def describe(name: str) -> dict[str, Any]:
    """A JSON-ready summary of a built-in set for `steepest data show NAME`: task, shape
    ([examples, *per-example shape]), and classes with their counts or the target range."""
    examples = load_builtin(name)
    info: dict[str, Any] = {
        "name": name,
        "task": examples.task,
        "shape": list(examples.x.shape),
        "features": examples.feature_names,
    }
    if examples.class_names is None:
        y = examples.y
        info["target"] = {
            "min": round(y.min().item(), 4),
            "max": round(y.max().item(), 4),
            "mean": round(y.mean().item(), 4),
            "std": round(y.std().item(), 4),
        }
    else:
        counts = torch.bincount(examples.y, minlength=len(examples.class_names)).tolist()
        info["classes"] = dict(zip(examples.class_names, counts, strict=True))
    return info
