"""Inverted dropout whose masks are a pure function of (key, counter): reproducible per member.

A population stacks each member's ``rate``, ``key`` and ``counter`` buffers on a leading
dimension; under ``vmap`` every member then draws the mask it would draw trained alone,
because the draw depends only on its own buffers (see `steepest.rng`).
"""

import torch
from torch import Tensor, nn

from steepest import rng
from steepest.errors import UserError


def _check_rate(rate: float) -> float:
    if not 0.0 <= rate < 1.0:
        raise UserError(f"dropout rate = {rate!r}: expected a number in [0, 1)")
    return float(rate)


class Dropout(nn.Module):
    """y = x·m/(1−p) with mᵢ = [uᵢ ≥ p], u = rng.uniform(derive_key(key, counter), x.shape).

    Training mode only; evaluation mode is the identity. Each training call advances
    ``counter`` by one in place, so successive batches get fresh masks. Buffers (all
    scalars, stacked per member in a population): ``rate`` float32, ``key`` and
    ``counter`` int64.
    """

    def __init__(self, rate: float = 0.5) -> None:
        super().__init__()
        self.register_buffer("rate", torch.tensor(_check_rate(rate), dtype=torch.float32))
        self.register_buffer("key", torch.tensor(0, dtype=torch.int64))
        self.register_buffer("counter", torch.tensor(0, dtype=torch.int64))

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        keep = rng.uniform(rng.derive_key(self.key, self.counter), x.shape) >= self.rate
        self.counter.add_(1)
        return x * keep.to(x.dtype) / (1.0 - self.rate.to(x.dtype))

    def extra_repr(self) -> str:
        return f"rate={self.rate.tolist()}"


# A network's dropout layers: torch's (`replace_torch_dropout` swaps them for ours) and ours.
DROPOUTS = (nn.Dropout, Dropout)


def dropout_layers(module: nn.Module) -> list[Dropout]:
    """Every `Dropout` in `module`, in module (registration) order."""
    return [m for m in module.modules() if isinstance(m, Dropout)]


@torch.no_grad()
def set_dropout_rate(module: nn.Module, rate: float) -> None:
    """Set p = `rate` in every `Dropout` of `module`."""
    rate = _check_rate(rate)
    for layer in dropout_layers(module):
        layer.rate.fill_(rate)


@torch.no_grad()
def seed_dropout(module: nn.Module, seed: int) -> None:
    """Key the i-th `Dropout` of `module` with derive_key(seed, i) and restart its counter at 0."""
    for i, layer in enumerate(dropout_layers(module)):
        layer.key.copy_(rng.derive_key(seed, i))
        layer.counter.zero_()


_UNREPRODUCIBLE = (
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
)


def replace_torch_dropout(module: nn.Module) -> nn.Module:
    """`module` with every ``torch.nn.Dropout`` swapped for our `Dropout` of the same rate.

    Changes `module` in place and returns it (or the replacement, if `module` itself is
    one). Other torch dropout kinds (Dropout2d, AlphaDropout, …) draw from torch's
    generator, which cannot reproduce a member's masks, so they are refused.
    """
    if isinstance(module, nn.Dropout):
        return Dropout(module.p)
    if isinstance(module, _UNREPRODUCIBLE):
        raise UserError(
            f"{type(module).__name__}: not supported in a population; use torch.nn.Dropout"
        )
    for name, child in module.named_children():
        setattr(module, name, replace_torch_dropout(child))
    return module
