"""Image augmentation of a population's batch, on its device, each member its own draws.

x is [K, B, C, H, W] (member k's batch of B images); keys [K] are per-member int64 keys
(`steepest.rng.derive_key(seed, …, epoch, step)`). Each image b of member k gets five
uniform draws u = uniform(key_k)[b, 0:5], a function of (key_k, b) alone, so member k's
augmentation is identical whether it trains alone or in a population (same B).

With strengths p (crop padding), flip, b (brightness), c (contrast), each a scalar shared
by all members or a [K] tensor (one per member), image b of member k becomes:

- shift: dy, dx = ⌊u₀·(2p+1)⌋ − p, ⌊u₁·(2p+1)⌋ − p ∈ [−p, p]; out[i, j] = x[i+dy, j+dx],
  0 outside the image — a random crop of the image zero-padded by p;
- flip: columns mirrored, j → W−1−j, when flip and u₂ < ½;
- contrast: x ← x·f + m·(1 − f), f = 1 + c·(2u₃ − 1), m = the image's mean;
- brightness: x ← x + b·(2u₄ − 1).

Shift and flip are one gather of precomputed source indices (no loop over images);
strength 0 (or False) is exactly the identity. x is in pixel units, [0, 1]: a
population's batch is preprocessed, so `steepest.training.build_population` undoes the
scaling around this (0 is then black, and b a share of the pixel range).
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from steepest import rng
from steepest.config import AugmentConfig

_DRAWS = 5  # dy, dx, flip, contrast, brightness


@dataclass(frozen=True)
class Strengths:
    """Per-member augmentation strengths: each a scalar for all members or a [K] tensor."""

    crop_padding: int | Tensor = 0
    flip: bool | Tensor = False
    brightness: float | Tensor = 0.0
    contrast: float | Tensor = 0.0


def _per_member(value: float | Tensor, x: Tensor, dtype: torch.dtype, dims: int) -> float | Tensor:
    """A tensor strength as [K, 1, …] (`dims` ones, to broadcast over the batch) on x's
    device; a Python scalar as it is, which broadcasts by itself without a host-to-device
    copy (on CUDA a blocking one, which would wait for the queued work every step)."""
    if not isinstance(value, Tensor):
        return value
    return value.to(x.device, dtype).expand(x.shape[0]).view(-1, *[1] * dims)


def _is_off(value: float | bool | Tensor) -> bool:
    """A Python-scalar 0/False strength: the step is skipped (no device sync to check)."""
    return not isinstance(value, Tensor) and not value


def _shift_and_flip(x: Tensor, u: Tensor, padding: int | Tensor, flip: bool | Tensor) -> Tensor:
    """out[k, b, :, i, j] = x[k, b, :, i+dy, j'+dx] (j' = W−1−j if flipped), 0 outside."""
    K, B, C, H, W = x.shape
    dy = (u[..., 0] * (2 * padding + 1)).floor().long() - padding  # [K, B]
    dx = (u[..., 1] * (2 * padding + 1)).floor().long() - padding
    columns = torch.arange(W, device=x.device)
    mirrored = (u[..., 2] < 0.5) & flip  # [K, B]
    columns = torch.where(mirrored[..., None], W - 1 - columns, columns) + dx[..., None]
    rows = torch.arange(H, device=x.device) + dy[..., None]  # [K, B, H]
    valid_rows, valid_columns = (rows >= 0) & (rows < H), (columns >= 0) & (columns < W)
    inside = valid_rows[..., :, None] & valid_columns[..., None, :]  # [K, B, H, W]
    source = rows.clamp(0, H - 1)[..., :, None] * W + columns.clamp(0, W - 1)[..., None, :]
    index = source.view(K, B, 1, H * W).expand(K, B, C, H * W)
    out = torch.gather(x.reshape(K, B, C, H * W), 3, index).view(K, B, C, H, W)
    return out * inside[:, :, None].to(x.dtype)


def augment(x: Tensor, keys: Tensor, cfg: AugmentConfig | Strengths) -> Tensor:
    """Augmented copy of x [K, B, C, H, W] (float) with per-member keys [K]; see module doc."""
    K, B = x.shape[:2]
    u = rng.uniform(keys.to(x.device).view(K, 1, 1), (1, B, _DRAWS))  # [K, B, 5]
    if not (_is_off(cfg.crop_padding) and _is_off(cfg.flip)):
        padding = _per_member(cfg.crop_padding, x, torch.int64, 1)
        flip = _per_member(cfg.flip, x, torch.bool, 1)
        x = _shift_and_flip(x, u, padding, flip)
    scale = (2 * u - 1)[..., None, None, None]  # [K, B, 5, 1, 1, 1]: draws in [−1, 1)
    if not _is_off(cfg.contrast):
        factor = 1 + _per_member(cfg.contrast, x, x.dtype, 4) * scale[:, :, 3]
        mean = x.mean(dim=(2, 3, 4), keepdim=True)
        x = x * factor + mean * (1 - factor)
    if not _is_off(cfg.brightness):
        x = x + _per_member(cfg.brightness, x, x.dtype, 4) * scale[:, :, 4]
    return x
