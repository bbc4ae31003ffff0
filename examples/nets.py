"""A network of your own for `examples/digits_own_network.toml`: an MLP with a residual
block and layer norm, which no [model] section builds. Any callable returning a fresh,
initialised nn.Module works; steepest seeds torch's RNG per member before calling it."""

import torch
from torch import nn


class ResidualMLP(nn.Module):
    """x → Linear → ReLU → (h + ReLU(Linear(LayerNorm h))) → Dropout → Linear."""

    def __init__(
        self, inputs: int = 64, width: int = 128, classes: int = 10, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.stem = nn.Linear(inputs, width)
        self.block = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.ReLU())
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem(x))
        return self.head(self.drop(h + self.block(h)))
