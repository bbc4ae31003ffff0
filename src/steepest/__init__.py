"""steepest: train neural networks by gradient descent and tune their hyperparameters,
many trials at once as one vectorized population.

    import steepest
    run = steepest.train("examples/digits.toml")      # a Run: .history, .model(), .evaluate()
    opt = steepest.optim.Adam(model.parameters())     # drop-in torch.optim.Optimizer
    model = steepest.load("runs/digits/best.pt")      # .predict(raw x): preprocessing saved
"""

from steepest.memory import keep_freed_memory

keep_freed_memory()  # before any tensor is allocated; see steepest/memory.py

from steepest import optim  # noqa: E402
from steepest.predict import Predictor, load  # noqa: E402
from steepest.training import Run, train  # noqa: E402

__all__ = ["Predictor", "Run", "load", "optim", "train"]
__version__ = "0.1.0"
