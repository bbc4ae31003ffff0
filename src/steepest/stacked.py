"""The population's forward for plain MLPs, on stacked tensors without vmap.

vmap + functional_call run any module, but on small networks their per-call Python
(swapping parameters into the module, batching rules per op) costs about as much as the
arithmetic. A `Network` built only from Linear layers, Maxout and elementwise activations
needs none of it: each Linear of the K members is one batched matmul,

    Y[k] = X[k] · W[k]ᵀ + b[k]        (torch.baddbmm over the member dimension k),

and an elementwise activation acts on [K, B, F] as it does on [B, F]. Networks with
anything else (dropout, batch norm, convolutions, a user's own layers) keep vmap, whose
per-member buffers and randomness these layers need.
"""

from typing import Any

import torch
from torch import Tensor, nn

from steepest.nn.layers import Maxout, Network

_ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.Identity)
_CONTAINERS = (Network, nn.Sequential, nn.ModuleList)


def supports(module: nn.Module) -> bool:
    """Whether `forward` can run `module`: a Network of Linear, Maxout, elementwise
    activations and a Flatten stem, with no buffers."""
    if not isinstance(module, Network) or next(module.buffers(), None) is not None:
        return False
    allowed = (nn.Linear, Maxout, nn.Flatten, *_ELEMENTWISE, *_CONTAINERS)
    return all(isinstance(m, allowed) for m in module.modules()) and isinstance(
        module.stem, nn.Flatten | nn.Identity
    )


def forward(
    network: Network, params: dict[str, Tensor], x: Tensor, return_hidden: bool = False
) -> Any:
    """Every member's output [K, B, out] (and hidden activations) for inputs x [K, B, ...];
    `params` maps the network's parameter names to stacked [K, ...] tensors."""
    x = x.flatten(2)
    hidden = []
    for index, block in enumerate(network.blocks):
        x = _run(block, f"blocks.{index}.", params, x)
        hidden.append(x)
    logits = _run(network.head, "head.", params, x)
    return (logits, hidden) if return_hidden else logits


def _run(module: nn.Module, prefix: str, params: dict[str, Tensor], x: Tensor) -> Tensor:
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            x = _run(child, f"{prefix}{name}.", params, x)
        return x
    if isinstance(module, nn.Linear):
        weight_t = params[f"{prefix}weight"].transpose(1, 2)  # [K, in, out]
        bias = params.get(f"{prefix}bias")
        if bias is None:
            return torch.bmm(x, weight_t)
        return torch.baddbmm(bias.unsqueeze(1), x, weight_t)
    if isinstance(module, Maxout):
        z = _run(module.linear, f"{prefix}linear.", params, x)
        return z.unflatten(-1, (module.out_features, module.pieces)).amax(-1)
    return module(x)  # elementwise
