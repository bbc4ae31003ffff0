"""Models, initialisation, losses, metrics and penalties, all ``vmap``-friendly."""

from steepest.nn.dropout import Dropout, replace_torch_dropout, seed_dropout, set_dropout_rate
from steepest.nn.init import initialize_
from steepest.nn.layers import (
    Maxout,
    Network,
    activation,
    build_cnn,
    build_mlp,
    build_model,
    dead_fraction,
)
from steepest.nn.losses import LOSSES, LossSpec, make_loss
from steepest.nn.metrics import Metric, metric_for
from steepest.nn.regularizers import weight_mask

__all__ = [
    "LOSSES",
    "Dropout",
    "LossSpec",
    "Maxout",
    "Metric",
    "Network",
    "activation",
    "build_cnn",
    "build_mlp",
    "build_model",
    "dead_fraction",
    "initialize_",
    "make_loss",
    "metric_for",
    "replace_torch_dropout",
    "seed_dropout",
    "set_dropout_rate",
    "weight_mask",
]
