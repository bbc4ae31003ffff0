"""steepest: train neural networks by gradient descent and tune their hyperparameters,
many trials at once as one vectorized population."""

__version__ = "0.1.0"
