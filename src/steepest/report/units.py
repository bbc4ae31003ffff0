"""How a metric reads to a person: its axis label, and its values as short text."""

import math


def is_accuracy(metric: str) -> bool:
    """Whether ``metric`` (``accuracy``, ``val_accuracy`` ...) is a classification accuracy."""
    return "acc" in metric.lower()


def metric_label(metric: str) -> str:
    """Axis label for ``metric``: ``accuracy (%)`` for accuracies (shown as percent),
    ``RMSE`` for root-mean-square errors, the name itself otherwise."""
    if is_accuracy(metric):
        return "accuracy (%)"
    return "RMSE" if "rmse" in metric.lower() else metric


def percent_scale(metric: str) -> float:
    """Factor that turns a stored ``metric`` value into the unit of ``metric_label``."""
    return 100.0 if is_accuracy(metric) else 1.0


def format_value(value: float | None, metric: str = "") -> str:
    """``value`` as short text: ``97.31%`` for accuracies, four significant digits
    otherwise, an em dash when there is no value (a pruned or running trial)."""
    if value is None or math.isnan(value):
        return "—"
    if is_accuracy(metric):
        return f"{value * percent_scale(metric):.2f}%"
    return f"{value:.4g}"
