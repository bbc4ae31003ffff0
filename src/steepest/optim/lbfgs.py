"""L-BFGS (Liu & Nocedal 1989) for full-batch training of one model: torch.optim.LBFGS.

    d = −H·g with H built from the last m pairs (s = Δw, y = Δg) by the two-loop recursion;
    w ← w + η·d with η from a strong-Wolfe line search

steepest has no per-member version: the line search evaluates the loss a data-dependent
number of times per step, control flow that a vectorized population cannot share. Use it
with ``batch_size = "full"`` and a population of one; `LBFGS` is PyTorch's class.
"""

from torch.optim import LBFGS

__all__ = ["LBFGS"]
