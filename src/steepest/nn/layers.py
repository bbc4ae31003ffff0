"""Activations, Maxout, and the MLP / CNN builders.

Every model built here is ``Network``: ``forward(x, return_hidden=False)`` gives the
logits, or ``(logits, hidden)`` with ``hidden`` the post-activation output of each hidden
layer (before dropout). Everything is ``vmap``-friendly: no data-dependent Python control
flow, no ``.item()``, no torch generator.
"""

import math
from itertools import pairwise

import torch
from torch import Tensor, nn

from steepest.config import ModelConfig
from steepest.errors import UserError
from steepest.nn.dropout import Dropout

_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu")


def activation(name: str, leaky_slope: float = 0.01) -> nn.Module:
    """σ(z) = 1/(1+e⁻ᶻ), tanh z, max(0, z), or z for z > 0 and a·z otherwise with a =
    `leaky_slope` (torch's LeakyReLU; max(z, a·z) only while a ≤ 1)."""
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(leaky_slope)
    hint = " (maxout is a layer: use Maxout)" if name == "maxout" else ""
    raise UserError(
        f"[model] activation = {name!r}: expected one of {', '.join(_ACTIVATIONS)}{hint}"
    )


class Maxout(nn.Module):
    """y_j = max_i (w_{ij}ᵀx + b_{ij}),  i = 1…pieces (Goodfellow et al. 2013).

    One ``Linear(in, out·pieces)`` whose output unit j·pieces + i is piece i of unit j.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        if pieces < 2:
            raise UserError(f"[model] maxout_pieces = {pieces}: expected at least 2")
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: Tensor) -> Tensor:
        z = self.linear(x)
        return z.unflatten(-1, (self.out_features, self.pieces)).amax(-1)


class Network(nn.Module):
    """logits = head(block_N(… block_1(stem(x)))); hidden = [block_1 output, …, block_N output]."""

    def __init__(self, stem: nn.Module, blocks: list[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stem, self.blocks, self.head = stem, nn.ModuleList(blocks), head

    def forward(
        self, x: Tensor, return_hidden: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        x = self.stem(x)
        hidden = []
        for block in self.blocks:
            x = block(x)
            hidden.append(x)
        logits = self.head(x)
        return (logits, hidden) if return_hidden else logits


def dead_fraction(hidden: list[Tensor]) -> Tensor:
    """Fraction of hidden units with h ≤ 0 on every example of the batch (a scalar).

    A unit is a feature (dim 1 of [B, units]) or a channel (dim 1 of [B, C, H, W], dead
    when ≤ 0 at every example and position); the fraction pools the units of all layers.
    NaN when an activation is NaN (diverged weights): NaN > 0 is false, which would
    count every unit dead.
    """
    if not hidden:
        return torch.zeros(())
    dead = [(h > 0).transpose(0, 1).reshape(h.shape[1], -1).any(1).logical_not() for h in hidden]
    undefined = torch.stack([h.isnan().any() for h in hidden]).any()
    return torch.where(undefined, torch.nan, torch.cat(dead).float().mean())


def _dropout(on: bool, cfg: ModelConfig) -> list[nn.Module]:
    """[Dropout(cfg.dropout)] when `on`, else [] (each member's rate is set later)."""
    return [Dropout(cfg.dropout)] if on else []


def _hidden_layer(width_in: int, width: int, cfg: ModelConfig) -> list[nn.Module]:
    """Linear → BatchNorm1d? → activation; or Maxout → BatchNorm1d? for maxout.

    Before batch norm a Linear has no bias: BN subtracts the batch mean, so a bias cancels
    (BN's β takes its part, Ioffe & Szegedy 2015) and its gradient is float rounding
    alone, which Adam and RMSProp divide by its own tiny size into full-size steps: a
    member then drifted from its lone run. A Maxout keeps its biases: the max over its
    pieces does not cancel them."""
    norm = [nn.BatchNorm1d(width)] if cfg.batch_norm else []
    if cfg.activation == "maxout":
        return [Maxout(width_in, width, cfg.maxout_pieces), *norm]
    linear = nn.Linear(width_in, width, bias=not cfg.batch_norm)
    return [linear, *norm, activation(cfg.activation, cfg.leaky_slope)]


def build_mlp(in_features: int, out_features: int, cfg: ModelConfig, dropout: bool) -> Network:
    """N = len(cfg.hidden) hidden layers, N+1 affine maps; input flattened beyond the batch dim.

    h₀ = flatten(x);  hₗ = act(BN(Wₗ·drop(hₗ₋₁) + bₗ));  logits = W_{N+1}·drop(h_N) + b_{N+1},
    where drop is `Dropout` (only when `dropout`; never on the input x itself).
    """
    widths = [in_features, *cfg.hidden]
    blocks = [
        nn.Sequential(*_dropout(dropout and i > 0, cfg), *_hidden_layer(w_in, w_out, cfg))
        for i, (w_in, w_out) in enumerate(pairwise(widths))
    ]
    last = nn.Linear(widths[-1], out_features)
    head = nn.Sequential(*_dropout(dropout and len(widths) > 1, cfg), last)
    return Network(nn.Flatten(), blocks, head)


def _conv_block(c_in: int, c_out: int, cfg: ModelConfig) -> nn.Sequential:
    """Conv2d(c_in → c_out, kernel, same padding) → BatchNorm2d? → activation → 2×2 pool?
    (no bias before batch norm: see `_hidden_layer`)"""
    conv = nn.Conv2d(c_in, c_out, cfg.kernel, padding=cfg.kernel // 2, bias=not cfg.batch_norm)
    layers = [conv]
    if cfg.batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(activation(cfg.activation, cfg.leaky_slope))
    if cfg.pool != "none":
        layers.append(nn.MaxPool2d(2) if cfg.pool == "max" else nn.AvgPool2d(2))
    return nn.Sequential(*layers)


def build_cnn(
    in_channels: int, image_size: int, out_features: int, cfg: ModelConfig, dropout: bool
) -> Network:
    """Per entry c of cfg.channels: Conv2d(c, kernel, same padding) → BatchNorm2d? → act → pool.

    Then logits = W·drop(mean_{h,w} x) + b (global average pooling, `Dropout` when
    `dropout`). Pooling is 2×2 max or average, halving the image each block, or none.
    """
    if cfg.kernel % 2 == 0:
        raise UserError(
            f"[model] kernel = {cfg.kernel}: expected an odd size, so padding keeps the size"
        )
    if cfg.activation == "maxout":
        raise UserError("[model] activation = 'maxout': only for kind = 'mlp'")
    if cfg.pool != "none" and image_size < 2 ** len(cfg.channels):
        raise UserError(
            f"[model] channels = {cfg.channels}: {len(cfg.channels)} 2×2 poolings need images "
            f"of at least {2 ** len(cfg.channels)} pixels a side, these have {image_size} "
            "(fewer channels, pool = 'none', or a larger [data] image_size)"
        )
    widths = [in_channels, *cfg.channels]
    blocks = [_conv_block(c_in, c_out, cfg) for c_in, c_out in pairwise(widths)]
    last = nn.Linear(widths[-1], out_features)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), *_dropout(dropout, cfg), last)
    return Network(nn.Identity(), blocks, head)


def build_model(
    cfg: ModelConfig, input_shape: tuple[int, ...], out_features: int, dropout: bool
) -> Network:
    """The MLP or CNN `cfg.kind` names, for examples of shape `input_shape` (no batch dim)."""
    if cfg.kind == "mlp":
        return build_mlp(math.prod(input_shape), out_features, cfg, dropout)
    if len(input_shape) != 3:
        raise UserError(
            f"[model] kind = 'cnn': expected image input (channels, height, width), "
            f"got {input_shape}"
        )
    channels, height, width = input_shape
    return build_cnn(channels, min(height, width), out_features, cfg, dropout)
