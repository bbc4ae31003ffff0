"""Optimizer state of a population, and how it follows members that leave or join.

A rule's state is a plain dict (so ``torch.save`` / ``torch.load(weights_only=True)`` round
trip it): a list of tensors, parallel to the parameter list, for per-entry statistics
(``exp_avg``), or one tensor of shape [K] for per-member counters (Adam's ``step``).
Either way dimension 0 indexes the members.
"""

import torch
from torch import Tensor

State = dict[str, list[Tensor] | Tensor]


def select_members(state: State, index: Tensor) -> State:
    """The state of members `index` only, in that order (members leave: s ← s[index])."""
    return {
        name: [t.index_select(0, index) for t in value]
        if isinstance(value, list)
        else value.index_select(0, index)
        for name, value in state.items()
    }


def concat_states(first: State, second: State) -> State:
    """One state whose members are `first`'s followed by `second`'s (members join:
    s ← [s; init(new params)])."""
    if first.keys() != second.keys():
        raise ValueError(
            f"cannot concatenate states with keys {sorted(first)} and {sorted(second)}"
        )
    return {
        name: [torch.cat(pair) for pair in zip(value, second[name], strict=True)]
        if isinstance(value, list)
        else torch.cat((value, second[name]))
        for name, value in first.items()
    }
