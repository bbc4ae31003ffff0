"""steepest: train neural networks by gradient descent and tune their hyperparameters,
many trials at once as one vectorized population.

    import steepest
    run = steepest.train("examples/digits.toml")      # a Run: .history, .model(), .evaluate()
    opt = steepest.optim.Adam(run.model().parameters())   # a torch.optim.Optimizer
    model = steepest.load("runs/digits/best.pt")      # .predict(raw x): preprocessing saved
    steepest.playground.run_playground("beale", ["sgd", "adam"])   # imported on first use
"""

import importlib
from types import ModuleType

from steepest.memory import keep_freed_memory

keep_freed_memory()  # before any tensor is allocated; see steepest/memory.py

from steepest import optim  # noqa: E402
from steepest.predict import Predictor, load  # noqa: E402
from steepest.training import Run, train  # noqa: E402

__all__ = ["Predictor", "Run", "load", "optim", "train"]
__version__ = "0.1.0"

# Submodules reachable as attributes without an import of their own, loaded on first use
# (PEP 562) so that `import steepest` does not pay for what they import (Optuna, rich).
_ON_FIRST_USE = frozenset({"gradcheck", "playground", "report"})


def __getattr__(name: str) -> ModuleType:
    if name in _ON_FIRST_USE:
        return importlib.import_module(f"steepest.{name}")
    raise AttributeError(f"module 'steepest' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_ON_FIRST_USE})
