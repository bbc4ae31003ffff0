"""Metrics: accuracy for classification (maximize), RMSE for regression (minimize); R² too.

Shapes as in `steepest.nn.losses`; all return a scalar and work under ``vmap``.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import torch
from torch import Tensor

from steepest.errors import UserError


def correct_each(output: Tensor, target: Tensor) -> Tensor:
    """[ŷ_b = y_b] per example (1 or 0),  ŷ = argmax_j f_j, or ŷ = [f > 0] for one logit."""
    f = output.reshape(output.shape[0], -1)
    predicted = f.argmax(1) if f.shape[1] > 1 else (f.squeeze(1) > 0).long()
    return (predicted == target.long()).to(output.dtype)


def accuracy(output: Tensor, target: Tensor) -> Tensor:
    """(1/B)·Σ_b [ŷ_b = y_b]."""
    return correct_each(output, target).mean()


def _columns(output: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(f, y) as [B, D] floats."""
    f = output.reshape(output.shape[0], -1)
    return f, target.to(output.dtype).reshape(f.shape)


def squared_error_each(output: Tensor, target: Tensor) -> Tensor:
    """(1/D)·Σ_j (y_bj − f_bj)² per example."""
    f, y = _columns(output, target)
    return (y - f).pow(2).mean(1)


def rmse(output: Tensor, target: Tensor) -> Tensor:
    """√( (1/(B·D))·Σ_{b,j} (y_bj − f_bj)² )."""
    return squared_error_each(output, target).mean().sqrt()


def r2(output: Tensor, target: Tensor) -> Tensor:
    """R² = 1 − Σ_b (y_b − f_b)² / Σ_b (y_b − ȳ)², averaged over the D targets.

    Like scikit-learn's ``r2_score`` (uniform average); undefined (±inf/nan) for a
    constant target column.
    """
    f, y = _columns(output, target)
    residual = (y - f).pow(2).sum(0)
    total = (y - y.mean(0)).pow(2).sum(0)
    return (1.0 - residual / total).mean()


@dataclass(frozen=True)
class Metric:
    """A metric, its name and whether larger values are better.

    metric = finish(mean_b each(f_b, y_b)): the per-example form lets a population score
    all members' examples in one call and average per member (and over a whole epoch).
    """

    name: str
    fn: Callable[[Tensor, Tensor], Tensor]
    maximize: bool
    each: Callable[[Tensor, Tensor], Tensor]
    finish: Callable[[Tensor], Tensor]

    def in_units(self, scale: float) -> "Metric":
        """The metric of targets standardised as y' = (y − μ)/σ, reported in y's units:
        with `scale` σ, RMSE(y) = σ·RMSE(y'). Accuracy has no units: scale 1."""
        if scale == 1.0:
            return self
        return replace(
            self, fn=partial(_times, scale, self.fn), finish=partial(_times, scale, self.finish)
        )


def _identity(x: Tensor) -> Tensor:
    return x


def _times(scale: float, fn: Callable[..., Tensor], *args: Tensor) -> Tensor:
    return scale * fn(*args)


_TASK_METRICS = {
    "classification": Metric("accuracy", accuracy, True, correct_each, _identity),
    "regression": Metric("rmse", rmse, False, squared_error_each, torch.sqrt),
}


def metric_for(task: str) -> Metric:
    """The metric a task reports: accuracy (maximize) or rmse (minimize)."""
    if task not in _TASK_METRICS:
        raise UserError(f"task = {task!r}: expected one of {', '.join(_TASK_METRICS)}")
    return _TASK_METRICS[task]
