"""Update rules, schedules and torch.optim wrappers.

A rule is a module with ``DEFAULTS`` (its hyperparameters and PyTorch's defaults),
``init(params) -> state`` and ``update(grads, state, params, hp)`` (in place; L-BFGS,
whose ``EVALUATES`` is true, also takes the loss and a function evaluating loss and
gradients again). params and grads are lists of tensors whose leading dimension is the
population size K; each hyperparameter is a float or a [K] tensor, one value per member.
The population never passes a None grad: a frozen tensor is simply left out of its lists.

    rule = RULES["adam"]
    state = rule.init(params)
    rule.update(grads, state, params, {**rule.DEFAULTS, "lr": lrs})   # lrs: shape [K]
"""

from types import ModuleType

from steepest.optim import adagrad, adam, adamw, lbfgs, momentum, nesterov, rmsprop, sgd
from steepest.optim.state import State, concat_states, select_members
from steepest.optim.torch_compat import SGD, Adagrad, Adam, AdamW, Momentum, Nesterov, RMSprop

RULES: dict[str, ModuleType] = {
    "sgd": sgd,
    "momentum": momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
    "lbfgs": lbfgs,
}

__all__ = [
    "RULES",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Momentum",
    "Nesterov",
    "RMSprop",
    "State",
    "concat_states",
    "select_members",
]
