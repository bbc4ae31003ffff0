"""Feature scaling and PCA, fitted on the training split only (scikit-learn's fit/transform).

Statistics are taken per index of dimension 1 over every other dimension: per feature
for tables [N, F], per channel for images [N, C, H, W]. Every scaling is affine,
x' = (x − shift) / scale:

- none:        shift = 0,                scale = 1
- center:      shift = μ,                scale = 1                       x' = x − μ
- standardize: shift = μ,                scale = σ (σ = 0 → 1)           x' = (x − μ)/σ
- minmax:      shift = (max + min)/2,    scale = (max − min)/2 (0 → 1)
               i.e. x' = 2(x − min)/(max − min) − 1 ∈ [−1, 1]; a constant feature → 0

σ is the population standard deviation (divide by N), as scikit-learn's StandardScaler.

PCA (tables only) then projects the scaled data onto its top k principal axes:
z = (x' − m) Vₖᵀ, with m the mean of x' on train and Vₖ the first k right singular
vectors of the centred train matrix (torch.linalg.svd). `pca` ≥ 1 is k itself (a whole
number); 0 < `pca` < 1 keeps the smallest k whose components explain at least that
fraction of the variance, Σᵢ≤ₖ sᵢ² / Σᵢ sᵢ² ≥ pca. Each axis's sign is fixed so that its
largest-magnitude entry is positive, making the projection reproducible.

Regression targets are standardised too (`target_statistics`), y' = (y − μ)/σ with μ
and σ of the training split: the gradient of ½(y − f)² grows with the targets' scale,
so a learning rate that suits inputs of unit scale diverges on targets in the hundreds
(scikit-learn's diabetes, σ ≈ 77) at its first epoch.
"""

from typing import Any, Literal

import torch
from torch import Tensor

from steepest.errors import UserError

Kind = Literal["none", "center", "standardize", "minmax"]
KINDS = ("none", "center", "standardize", "minmax")


def _check(kind: str, pca: float | None) -> None:
    if kind not in KINDS:
        raise UserError(f"[data] preprocess = {kind!r}: expected one of {', '.join(KINDS)}")
    if pca is not None and not (0 < pca < 1 or (pca >= 1 and float(pca).is_integer())):
        raise UserError(
            f"[data] pca = {pca!r}: expected a whole number of components ≥ 1 "
            "or a fraction of variance to keep in (0, 1)"
        )


def _affine(kind: str, x: Tensor) -> tuple[Tensor, Tensor]:
    """(shift, scale) of `kind` on x (float64), shaped to broadcast against x."""
    dims = [d for d in range(x.dim()) if d != 1]
    ones = x.new_ones([size if d == 1 else 1 for d, size in enumerate(x.shape)])
    if kind == "none":
        return torch.zeros_like(ones), ones
    mean = x.mean(dim=dims, keepdim=True)
    if kind == "center":
        return mean, ones
    if kind == "standardize":
        std = x.std(dim=dims, correction=0, keepdim=True)
        return mean, torch.where(std > 0, std, ones)
    low, high = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
    half_range = (high - low) / 2
    return (high + low) / 2, torch.where(half_range > 0, half_range, ones)


def _components(x: Tensor, pca: float) -> tuple[Tensor, float]:
    """[k, F] principal axes of the centred rows of x (float64), signs fixed, and the
    fraction of x's variance they keep."""
    _, s, vh = torch.linalg.svd(x - x.mean(dim=0), full_matrices=False)
    if pca >= 1:
        k = int(pca)
        if k > len(s):
            raise UserError(
                f"[data] pca = {pca:g}: at most {len(s)} components for {x.shape[0]} "
                f"training examples of {x.shape[1]} features"
            )
    else:
        kept = torch.cumsum(s**2, 0) / torch.sum(s**2)
        k = int(torch.searchsorted(kept, torch.tensor(pca, dtype=kept.dtype))) + 1
        k = min(k, len(s))
    axes = vh[:k]
    biggest = axes.abs().argmax(dim=1, keepdim=True)
    kept_variance = float(torch.sum(s[:k] ** 2) / torch.sum(s**2))
    return axes * torch.sign(axes.gather(1, biggest)), kept_variance


def target_statistics(y: Tensor) -> tuple[float, float]:
    """(μ, σ) of regression targets y [N] (float64; σ = 0 → 1), to train on (y − μ)/σ."""
    y64 = y.to(torch.float64)
    std = float(y64.std(correction=0))
    return float(y64.mean()), std if std > 0 else 1.0


class Preprocessor:
    """Scaling (`kind`) then optional PCA (`pca`), fitted on training data; see module doc."""

    def __init__(self, kind: Kind = "standardize", pca: float | None = None) -> None:
        _check(kind, pca)
        self.kind = kind
        self.pca = pca
        self.shift: Tensor | None = None
        self.scale: Tensor | None = None
        self.mean: Tensor | None = None
        self.components: Tensor | None = None
        self.kept_variance: float | None = None  # by the components, of x_train's

    def fit(self, x: Tensor) -> "Preprocessor":
        """Learn the statistics of x_train ([N, F] or [N, C, H, W]); returns self."""
        if self.pca is not None and x.dim() != 2:
            raise UserError(
                f"[data] pca = {self.pca:g}: PCA applies to tables of features, "
                f"not to examples of shape {tuple(x.shape[1:])}"
            )
        x64 = x.to(torch.float64)
        self.shift, self.scale = _affine(self.kind, x64)
        if self.pca is not None:
            scaled = (x64 - self.shift) / self.scale
            self.mean = scaled.mean(dim=0, keepdim=True)
            self.components, self.kept_variance = _components(scaled, self.pca)
        return self

    def transform(self, x: Tensor) -> Tensor:
        """x scaled (and projected) with the fitted statistics, float32, on x's device.
        Worked out in float64 when x is float64 (tables: a timestamp near 1.6e9 keeps
        its last digits until its offset is gone), else in float32 (images)."""
        if self.shift is None or self.scale is None:
            raise RuntimeError("Preprocessor.transform called before fit")
        if x.dtype != torch.float64:
            x = x.to(torch.float32)
        out = (x - self.shift.to(x)) / self.scale.to(x)
        if self.components is not None and self.mean is not None:
            out = (out - self.mean.to(x)) @ self.components.to(x).T
        return out.to(torch.float32)

    def inverse(self, x: Tensor) -> Tensor:
        """The raw values of scaled x, x·scale + shift, in x's dtype (images: the pixels in
        [0, 1] that augmentation works on). Not defined after PCA, which drops axes."""
        if self.shift is None or self.scale is None or self.components is not None:
            raise RuntimeError("Preprocessor.inverse needs a fitted scaling without PCA")
        return x * self.scale.to(x) + self.shift.to(x)

    def state_dict(self) -> dict[str, Any]:
        """Settings and fitted tensors (float64; float32 in checkpoints before 2026-12-02),
        for a checkpoint (torch.load weights_only-safe)."""
        return {
            "kind": self.kind,
            "pca": self.pca,
            "shift": self.shift,
            "scale": self.scale,
            "mean": self.mean,
            "components": self.components,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        _check(state["kind"], state["pca"])
        self.kind, self.pca = state["kind"], state["pca"]
        self.shift, self.scale = state["shift"], state["scale"]
        self.mean, self.components = state["mean"], state["components"]
