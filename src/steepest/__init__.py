"""steepest: train neural networks by gradient descent and tune their hyperparameters,
many trials at once as one vectorized population.

    import steepest
    run = steepest.train("examples/digits.toml")      # a Run: .history, .model(), .evaluate()
    opt = steepest.optim.Adam(run.model().parameters())   # a torch.optim.Optimizer
    model = steepest.load("runs/digits/best.pt")      # .predict(raw x): preprocessing saved
    steepest.playground.run_playground("beale", ["sgd", "adam"])   # imported on first use
"""

import importlib
from typing import Any

from steepest.memory import keep_freed_memory

keep_freed_memory()  # before any tensor is allocated; see steepest/memory.py

__all__ = ["Predictor", "Run", "load", "optim", "train"]
__version__ = "0.1.0"

# Everything is loaded on first use (PEP 562): `import steepest` costs nothing until a
# name is used, and the `steepest` command, which imports this package first, imports
# torch inside its Ctrl-C handling (an interrupt in its first seconds is one line).
_FROM = {"Predictor": "predict", "load": "predict", "Run": "training", "train": "training"}
_SUBMODULES = frozenset({"optim", "gradcheck", "playground", "report"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"steepest.{name}")
    if name in _FROM:
        return getattr(importlib.import_module(f"steepest.{_FROM[name]}"), name)
    raise AttributeError(f"module 'steepest' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FROM, *_SUBMODULES})
