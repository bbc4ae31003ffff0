"""Weight penalties Ω(w), one per member: w is [K, …] (member dim first), result [K].

`lam` and `alpha` are floats or [K] tensors (per-member hyperparameters). Penalties
apply to weights only; `weight_mask` says which parameters those are.
"""

from torch import Tensor, nn

from steepest.nn.init import AFFINE


def _rows(w: Tensor) -> Tensor:
    return w.reshape(w.shape[0], -1)


def l2(w: Tensor, lam: float | Tensor) -> Tensor:
    """Ω = ½·λ·Σ w²."""
    return 0.5 * lam * _rows(w).pow(2).sum(1)


def l1(w: Tensor, lam: float | Tensor) -> Tensor:
    """Ω = λ·Σ |w|."""
    return lam * _rows(w).abs().sum(1)


def elastic_net(w: Tensor, lam: float | Tensor, alpha: float | Tensor) -> Tensor:
    """Ω = λ·Σ (α·|w| + (1 − α)·w²)  (no ½ on the squared term, unlike `l2`)."""
    rows = _rows(w)
    return lam * (alpha * rows.abs().sum(1) + (1.0 - alpha) * rows.pow(2).sum(1))


def weight_mask(module: nn.Module) -> dict[str, bool]:
    """For each parameter name of `module`: is it a weight that penalties apply to?

    True for the ``weight`` of Linear and Conv layers (Maxout's inside Linear included);
    False for biases, BatchNorm γ/β and parameters of any other layer type.
    """
    weights = {id(layer.weight) for layer in module.modules() if isinstance(layer, AFFINE)}
    return {name: id(p) in weights for name, p in module.named_parameters()}
