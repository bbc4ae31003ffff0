"""The stacked (baddbmm) forward equals vmap + functional_call, outputs and gradients;
its hand-written backward equals autograd's, for every activation, loss and penalty."""

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from steepest import stacked
from steepest.config import ModelConfig
from steepest.nn.layers import build_model
from steepest.nn.losses import LOSSES, make_loss
from steepest.nn.regularizers import (
    STRENGTH_DEFAULTS,
    weight_mask,
    weight_penalty,
    weight_penalty_gradient,
)
from steepest.population import _member_layout

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
    got, got_hidden = stacked.Plan(network).forward(params, x, return_hidden=True)
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


ACTIVATIONS = [
    ModelConfig(hidden=[8, 6], activation="relu"),
    ModelConfig(hidden=[8, 6], activation="tanh"),
    ModelConfig(hidden=[8, 6], activation="sigmoid"),
    ModelConfig(hidden=[8, 6], activation="leaky_relu", leaky_slope=0.1),
    ModelConfig(hidden=[8, 6], activation="maxout", maxout_pieces=3),
    ModelConfig(hidden=[]),
]


def target_for(loss: str, regression_width: int | None = CLASSES) -> torch.Tensor:
    """Targets [K, B] of class indices (0/1 for logistic), or regression values: [K, B, D]
    for D outputs, [K, B] for one (`regression_width` None)."""
    if loss == "logistic":
        return torch.randint(0, 2, (K, B))
    if LOSSES[loss].task == "classification":  # `regression_width` classes, here
        return torch.randint(0, regression_width or CLASSES, (K, B))
    shape = (K, B) if regression_width is None else (K, B, regression_width)
    return torch.randn(shape, dtype=torch.float64)


# (loss name, huber δ, outputs, target width or classes): every loss in the registry, a
# regression on one output with a [K, B] target, the shape a one-column data set gives,
# and more classes than examples (`product` then leaves the output in [K, B, C] memory;
# with fewer, in [K, C, B]).
LOSS_CASES = {
    **{name: (name, 1.0, 1 if name == "logistic" else CLASSES, CLASSES) for name in LOSSES},
    "huber-delta": ("huber", 0.3, CLASSES, CLASSES),
    "mse-one-output": ("mse", 1.0, 1, None),
    "cross_entropy-wide": ("cross_entropy", 1.0, B + 2, B + 2),
}
PER_MEMBER = torch.tensor([0.0, 1e-2, 3e-2, 0.0, 2e-2], dtype=torch.float64)
PENALTIES = {
    "none": {},
    "l2": {"l2": 0.05},
    "l1": {"l1": 0.02},
    "elastic-net": {"elastic_net": 0.03, "elastic_alpha": 0.3},
    "per-member": {
        "l2": PER_MEMBER,
        "l1": PER_MEMBER.flip(0),
        "elastic_net": PER_MEMBER,
        "elastic_alpha": torch.linspace(0.1, 0.9, K, dtype=torch.float64),
    },
}


def strengths(penalty: str) -> dict:
    return {**STRENGTH_DEFAULTS, **PENALTIES[penalty]}


def hand_written(network, params, x, y, loss_each):
    """`Plan.loss_and_gradients`, under no_grad as a population's step runs it."""
    with torch.no_grad():
        return stacked.Plan(network).loss_and_gradients(params, x, y, loss_each)


def autograd_reference(network, params, x, y, loss_each, penalty: dict):
    """L_k [K] and ∂(Σ_k L_k + Ω_k)/∂θ by autograd through the stacked forward."""
    losses = stacked.member_means(loss_each, stacked.Plan(network).forward(params, x), y)
    objective = losses
    omega = weight_penalty(penalty)
    if omega is not None:
        is_weight = weight_mask(network)
        objective = losses + omega([p for n, p in params.items() if is_weight[n]])
    return losses.detach(), torch.autograd.grad(objective.sum(), list(params.values()))


def by_hand(network, params, x, y, loss_each, penalty: dict):
    """L_k [K] and the same gradients by the hand-written backward + closed-form penalty."""
    losses, named = hand_written(network, params, x, y, loss_each)
    add_penalty = weight_penalty_gradient(penalty)
    if add_penalty is not None:
        is_weight = weight_mask(network)
        weights = [n for n in params if is_weight[n]]
        add_penalty([params[n].detach() for n in weights], [named[n] for n in weights])
    assert set(named) == set(params)
    return losses, [named[n] for n in params]


@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("loss", LOSS_CASES)
@pytest.mark.parametrize("cfg", ACTIVATIONS, ids=lambda cfg: f"{cfg.activation}-{len(cfg.hidden)}")
def test_hand_written_backward_equals_autograd(cfg, loss, penalty):
    name, delta, outputs, width = LOSS_CASES[loss]
    network = build_model(cfg, (FEATURES,), outputs, dropout=False).double()
    params = stacked_params(network)
    x = torch.randn(K, B, FEATURES, dtype=torch.float64)
    y = target_for(name, width)
    loss_each = make_loss(name, delta, per_example=True)
    expected_losses, expected = autograd_reference(
        network, params, x, y, loss_each, strengths(penalty)
    )
    got_losses, got = by_hand(network, params, x, y, loss_each, strengths(penalty))
    torch.testing.assert_close(got_losses, expected_losses)
    for g, e in zip(got, expected, strict=True):
        assert not g.requires_grad
        torch.testing.assert_close(g, e)


def test_a_loss_outside_the_registry_takes_autograd_on_the_output():
    network = build_model(ModelConfig(hidden=[8]), (FEATURES,), CLASSES, dropout=False).double()
    params = stacked_params(network)
    x, y = torch.randn(K, B, FEATURES, dtype=torch.float64), target_for("cross_entropy")

    def focal_each(output, target):
        p = F.softmax(output, 1).gather(1, target.unsqueeze(1)).squeeze(1)
        return -((1 - p) ** 2) * p.log()

    expected_losses, expected = autograd_reference(
        network, params, x, y, focal_each, strengths("none")
    )
    got_losses, got = by_hand(network, params, x, y, focal_each, strengths("none"))
    torch.testing.assert_close(got_losses, expected_losses)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e)


def test_maxout_ties_split_the_gradient_as_autograd_does():
    """An all-zero example with zero biases makes every piece of a unit equal."""
    cfg = ModelConfig(hidden=[8], activation="maxout", maxout_pieces=3)
    network = build_model(cfg, (FEATURES,), CLASSES, dropout=False).double()
    params = stacked_params(network)
    with torch.no_grad():
        params["blocks.0.0.linear.bias"].zero_()
    x = torch.randn(K, B, FEATURES, dtype=torch.float64)
    x[:, 0] = 0.0
    y = target_for("cross_entropy")
    loss_each = make_loss("cross_entropy", per_example=True)
    _, expected = autograd_reference(network, params, x, y, loss_each, strengths("none"))
    _, got = by_hand(network, params, x, y, loss_each, strengths("none"))
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e)


@pytest.mark.parametrize("transposed", [True, False])
def test_gradients_arrive_in_the_population_layout(transposed):
    """Stacked 2-D weights live transposed or not; each gradient has its parameter's
    strides (the optimizer's foreach ops then run on matching layouts)."""
    network = build_model(ModelConfig(hidden=[8, 6]), (FEATURES,), CLASSES, dropout=False)
    params = {
        name: _member_layout(p.detach(), transposed and p.dim() == 3)
        for name, p in stacked_params(network).items()
    }
    x, y = torch.randn(K, B, FEATURES, dtype=torch.float64), target_for("cross_entropy")
    loss_each = make_loss("cross_entropy", per_example=True)
    _, grads = hand_written(network, params, x, y, loss_each)
    for name, p in params.items():
        assert grads[name].shape == p.shape and grads[name].stride() == p.stride(), name


@pytest.mark.parametrize(("m", "n", "width"), [(5, 3, 7), (7, 3, 5)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_product_in_either_orientation(m, n, width, with_bias):
    """a·b (+ bias) is right whichever way it is formed: directly when the output's rows
    are the longer (width ≥ m), as (bᵀ·aᵀ)ᵀ, a transposed view, when they are not."""
    a = torch.randn(K, m, n, dtype=torch.float64)
    b = torch.randn(K, n, width, dtype=torch.float64)
    bias = torch.randn(K, width, dtype=torch.float64) if with_bias else None
    got = stacked.product(a, b, bias)
    expected = a @ b + (0 if bias is None else bias.unsqueeze(1))
    torch.testing.assert_close(got, expected)
    assert got.is_contiguous() == (width >= m)


def test_a_nan_member_leaves_the_others_gradients_alone():
    network = build_model(ModelConfig(hidden=[8, 6]), (FEATURES,), CLASSES, dropout=False)
    params = {name: p.detach() for name, p in stacked_params(network).items()}
    x, y = torch.randn(K, B, FEATURES, dtype=torch.float64), target_for("cross_entropy")
    loss_each = make_loss("cross_entropy", per_example=True)
    clean_losses, clean = hand_written(network, params, x, y, loss_each)
    params["blocks.0.0.weight"][1, 0, 0] = float("nan")
    losses, grads = hand_written(network, params, x, y, loss_each)
    healthy = [0, *range(2, K)]
    assert losses[1].isnan() and torch.equal(losses[healthy], clean_losses[healthy])
    for name, g in grads.items():
        assert g[1].isnan().any(), name
        torch.testing.assert_close(g[healthy], clean[name][healthy], rtol=0, atol=0)
