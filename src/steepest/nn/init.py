"""Weight initialisation: W ~ N(0, s²) with s from the scheme, biases 0, BatchNorm γ=1, β=0.

Draws come from torch's global generator in module order; a population seeds it per
member before calling `initialize_`, exactly as a standalone run does.
"""

import math
from collections.abc import Callable

import torch
from torch import nn

from steepest.errors import UserError

# s(fan_in, fan_out) for each scheme.
SCHEMES: dict[str, Callable[[int, int], float]] = {
    "small": lambda fan_in, fan_out: 0.01,
    "lecun": lambda fan_in, fan_out: 1.0 / math.sqrt(fan_in),
    "scaled": lambda fan_in, fan_out: 1.0 / math.sqrt(fan_in),
    "he": lambda fan_in, fan_out: math.sqrt(2.0 / fan_in),
    "xavier": lambda fan_in, fan_out: math.sqrt(2.0 / (fan_in + fan_out)),
}

AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a [out, in, *kernel] weight: in·|kernel| and out·|kernel|."""
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


@torch.no_grad()
def initialize_(module: nn.Module, scheme: str) -> None:
    """Re-initialise every Linear / Conv (and so Maxout) and BatchNorm in `module` in place.

    small: s = 0.01;  lecun = scaled: s = 1/√fan_in;  he: s = √(2/fan_in);
    xavier: s = √(2/(fan_in + fan_out));  W = s·randn, b = 0;  BatchNorm γ = 1, β = 0.
    """
    if scheme == "zero":
        raise UserError("init = 'zero': all-zero weights never break symmetry; use he or xavier")
    if scheme not in SCHEMES:
        raise UserError(f"init = {scheme!r}: expected one of {', '.join(SCHEMES)}")
    for layer in module.modules():
        if isinstance(layer, AFFINE):
            layer.weight.normal_(0.0, SCHEMES[scheme](*fans(layer.weight)))
            if layer.bias is not None:
                layer.bias.zero_()
        elif isinstance(layer, BATCH_NORMS) and layer.affine:
            layer.weight.fill_(1.0)
            layer.bias.zero_()
