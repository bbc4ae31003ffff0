"""The stacked (baddbmm) forward equals vmap + functional_call, outputs and gradients."""

import pytest
import torch
from torch.func import functional_call, vmap

from steepest import stacked
from steepest.config import ModelConfig
from steepest.nn.layers import build_model

K, B, FEATURES, CLASSES = 5, 7, 12, 3


def stacked_params(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """K differently initialised copies of the network's parameters, stacked, as leaves."""
    torch.manual_seed(0)
    return {
        name: torch.randn(K, *p.shape, dtype=torch.float64).requires_grad_()
        for name, p in network.named_parameters()
    }


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(hidden=[8, 6], activation="relu"),
        ModelConfig(hidden=[8], activation="tanh"),
        ModelConfig(hidden=[8], activation="sigmoid"),
        ModelConfig(hidden=[8, 8], activation="leaky_relu", leaky_slope=0.1),
        ModelConfig(hidden=[8], activation="maxout", maxout_pieces=3),
        ModelConfig(hidden=[]),
    ],
    ids=lambda cfg: f"{cfg.activation}-{len(cfg.hidden)}",
)
def test_outputs_hidden_and_gradients_equal_vmap(cfg):
    network = build_model(cfg, (FEATURES,), CLASSES, dropout=False).double()
    assert stacked.supports(network)
    x = torch.randn(K, B, FEATURES, dtype=torch.float64)
    params = stacked_params(network)

    def call(p, inputs):
        return functional_call(network, p, (inputs,), {"return_hidden": True})

    expected, expected_hidden = vmap(call)(params, x)
    expected_grads = torch.autograd.grad(expected.square().sum(), list(params.values()))
    got, got_hidden = stacked.forward(network, params, x, return_hidden=True)
    got_grads = torch.autograd.grad(got.square().sum(), list(params.values()))
    torch.testing.assert_close(got, expected)
    for g, e in zip(got_hidden, expected_hidden, strict=True):
        torch.testing.assert_close(g, e)
    for g, e in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize(
    ("cfg", "dropout", "shape"),
    [
        (ModelConfig(hidden=[8]), True, (FEATURES,)),
        (ModelConfig(hidden=[8], batch_norm=True), False, (FEATURES,)),
        (ModelConfig(kind="cnn", channels=[4]), False, (1, 6, 6)),
    ],
    ids=["dropout", "batch-norm", "cnn"],
)
def test_layers_with_buffers_or_convolutions_keep_vmap(cfg, dropout, shape):
    assert not stacked.supports(build_model(cfg, shape, CLASSES, dropout))


def test_a_users_own_module_keeps_vmap():
    assert not stacked.supports(torch.nn.Sequential(torch.nn.Linear(3, 2)))
