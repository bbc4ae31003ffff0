"""steepest: train neural networks by gradient descent and tune their hyperparameters,
many trials at once as one vectorized population.

    import steepest
    run = steepest.train("examples/digits.toml")      # a Run: .history, .model(), .evaluate()
    opt = steepest.optim.Adam(run.model().parameters())   # a torch.optim.Optimizer
    model = steepest.load("runs/digits/best.pt")      # .predict(raw x): preprocessing saved
    steepest.playground.run_playground("beale", ["sgd", "adam"])   # imported on first use
"""

from importlib import import_module as _import_module
from pkgutil import iter_modules as _iter_modules
from typing import Any as _Any

from steepest.memory import keep_freed_memory as _keep_freed_memory

_keep_freed_memory()  # before any tensor is allocated; see steepest/memory.py

__all__ = ["Predictor", "Run", "load", "optim", "train"]
__version__ = "0.1.0"

# Everything is loaded on first use (PEP 562): `import steepest` costs nothing until a
# name is used, and the `steepest` command, which imports this package first, imports
# torch inside its Ctrl-C handling (an interrupt in its first seconds is one line).
# Every submodule is an attribute too (`steepest.errors.UserError`), as after an import.
_FROM = {"Predictor": "predict", "load": "predict", "Run": "training", "train": "training"}
_SUBMODULES = frozenset(module.name for module in _iter_modules(__path__))


def __getattr__(name: str) -> _Any:
    if name in _SUBMODULES:
        return _import_module(f"steepest.{name}")
    if name in _FROM:
        return getattr(_import_module(f"steepest.{_FROM[name]}"), name)
    raise AttributeError(f"module 'steepest' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBMODULES, "__version__"})
