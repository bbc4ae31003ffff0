import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from steepest.config import ModelConfig
from steepest.errors import UserError
from steepest.nn.dropout import Dropout, seed_dropout, set_dropout_rate
from steepest.nn.layers import Maxout, activation, build_cnn, build_mlp, build_model, dead_fraction


def count(module: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in module.modules())


@pytest.mark.parametrize(
    ("name", "formula"),
    [
        ("sigmoid", lambda z: 1 / (1 + torch.exp(-z))),
        ("tanh", lambda z: (torch.exp(z) - torch.exp(-z)) / (torch.exp(z) + torch.exp(-z))),
        ("relu", lambda z: torch.where(z > 0, z, 0.0)),
        ("leaky_relu", lambda z: torch.where(z > 0, z, 0.2 * z)),
    ],
)
def test_activation_matches_its_formula(name, formula):
    z = torch.linspace(-4, 4, 41, dtype=torch.float64)
    torch.testing.assert_close(activation(name, 0.2)(z), formula(z))


@pytest.mark.parametrize("name", ["maxout", "softsign"])
def test_unknown_activation_is_a_user_error(name):
    with pytest.raises(UserError, match=name):
        activation(name)


def test_maxout_is_the_max_over_pieces_of_affine_maps():
    torch.manual_seed(0)
    layer = Maxout(5, 3, pieces=4).double()
    x = torch.randn(7, 5, dtype=torch.float64)
    w, b = layer.linear.weight, layer.linear.bias
    expected = torch.stack(
        [
            torch.stack([x @ w[j * 4 + i] + b[j * 4 + i] for i in range(4)]).max(0).values
            for j in range(3)
        ],
        dim=1,
    )
    torch.testing.assert_close(layer(x), expected)


def mlp_config(**kwargs) -> ModelConfig:
    return ModelConfig(hidden=[6, 5], **kwargs)


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("dropout", [False, True])
def test_mlp_layer_counts_and_shapes(batch_norm, dropout):
    model = build_mlp(16, 3, mlp_config(batch_norm=batch_norm, dropout=0.2), dropout)
    assert count(model, nn.Linear) == 3
    assert count(model, nn.BatchNorm1d) == (2 if batch_norm else 0)
    assert count(model, nn.ReLU) == 2
    assert count(model, Dropout) == (2 if dropout else 0)
    logits, hidden = model(torch.randn(4, 1, 4, 4), return_hidden=True)  # flattened
    assert logits.shape == (4, 3)
    assert [h.shape for h in hidden] == [(4, 6), (4, 5)]


def test_mlp_hidden_is_post_activation_before_dropout():
    model = build_mlp(4, 2, mlp_config(activation="tanh", dropout=0.5), dropout=True).double()
    seed_dropout(model, 0)
    x = torch.randn(8, 4, dtype=torch.float64)
    logits, hidden = model(x, return_hidden=True)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    torch.testing.assert_close(hidden[0], torch.tanh(linears[0](x)))
    assert (hidden[1] != 0).all()  # no dropout zeros recorded
    model.eval()
    h1 = torch.tanh(linears[1](torch.tanh(linears[0](x))))
    torch.testing.assert_close(model(x), linears[2](h1))


def test_mlp_without_hidden_layers_is_one_linear_map():
    model = build_mlp(3, 2, ModelConfig(hidden=[]), dropout=True)
    assert count(model, nn.Linear) == 1 and count(model, Dropout) == 0
    logits, hidden = model(torch.randn(5, 3), return_hidden=True)
    assert logits.shape == (5, 2) and hidden == []


def test_maxout_mlp_replaces_linear_and_activation():
    model = build_mlp(4, 2, mlp_config(activation="maxout", maxout_pieces=3), dropout=False)
    assert count(model, Maxout) == 2
    assert count(model, nn.Linear) == 3  # two inside the Maxouts, one head
    _, hidden = model(torch.randn(3, 4), return_hidden=True)
    assert [h.shape for h in hidden] == [(3, 6), (3, 5)]


@pytest.mark.parametrize(("pool", "sizes"), [("max", (4, 2)), ("avg", (4, 2)), ("none", (8, 8))])
def test_cnn_blocks_shapes_and_head(pool, sizes):
    cfg = ModelConfig(kind="cnn", channels=[4, 6], pool=pool, batch_norm=True)
    model = build_cnn(3, 8, 5, cfg, dropout=True)
    assert count(model, nn.Conv2d) == 2 and count(model, nn.BatchNorm2d) == 2
    assert count(model, Dropout) == 1 and count(model, nn.Linear) == 1
    logits, hidden = model(torch.randn(2, 3, 8, 8), return_hidden=True)
    assert logits.shape == (2, 5)
    assert [h.shape for h in hidden] == [(2, 4, sizes[0], sizes[0]), (2, 6, sizes[1], sizes[1])]


def test_cnn_head_is_global_average_pooling_then_linear():
    cfg = ModelConfig(kind="cnn", channels=[3], pool="none", activation="tanh")
    model = build_cnn(1, 5, 2, cfg, dropout=False).double()
    x = torch.randn(2, 1, 5, 5, dtype=torch.float64)
    conv, head = model.blocks[0][0], model.head[-1]
    expected = head(torch.tanh(conv(x)).mean((2, 3)))
    torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize(
    ("cfg", "size", "message"),
    [
        (ModelConfig(kind="cnn", kernel=4), 8, "kernel = 4"),
        (
            ModelConfig(kind="cnn", channels=[2, 2, 2]),
            4,
            "3 2×2 poolings need images of at least 8",
        ),
        (ModelConfig(kind="cnn", activation="maxout"), 8, "maxout"),
    ],
)
def test_cnn_config_mistakes_are_user_errors(cfg, size, message):
    with pytest.raises(UserError, match=message):
        build_cnn(1, size, 2, cfg, dropout=False)


def test_build_model_dispatches_on_kind():
    mlp = build_model(ModelConfig(hidden=[3]), (1, 4, 4), 2, dropout=False)
    assert mlp.blocks[0][0].in_features == 16
    cnn = build_model(ModelConfig(kind="cnn", channels=[2]), (1, 4, 6), 2, dropout=False)
    assert count(cnn, nn.Conv2d) == 1
    with pytest.raises(UserError, match="image input"):
        build_model(ModelConfig(kind="cnn"), (16,), 2, dropout=False)


def dead_reference(hidden):
    dead = total = 0
    for h in hidden:
        for unit in range(h.shape[1]):
            dead += bool((h[:, unit] <= 0).all())
            total += 1
    return dead / total


def test_dead_fraction_counts_units_dead_on_every_example():
    dense = torch.tensor([[0.0, 1.0, -1.0, 0.0], [-2.0, 0.0, -1.0, 3.0], [0.0, 0.0, 0.0, 0.0]])
    conv = torch.relu(torch.randn(3, 5, 2, 2))
    conv[:, 1] = 0.0
    conv[:, 3] = -1.0
    conv[0, 0, 1, 1] = 0.5  # one positive position keeps a channel alive
    hidden = [dense, conv]
    assert dead_fraction(hidden).item() == pytest.approx(dead_reference(hidden))
    assert dead_fraction([dense]).item() == pytest.approx(2 / 4)


def test_dead_fraction_under_vmap():
    hidden = [torch.relu(torch.randn(4, 3, 6) - 1.0), torch.relu(torch.randn(4, 3, 2, 2, 2))]
    stacked = vmap(dead_fraction)(hidden)
    expected = [dead_reference([h[k] for h in hidden]) for k in range(4)]
    torch.testing.assert_close(stacked, torch.tensor(expected))


def test_the_dead_fraction_of_a_diverged_member_is_nan_not_all_dead():
    hidden = [torch.relu(torch.randn(3, 4, 6)), torch.relu(torch.randn(3, 4, 5))]
    hidden[1][2, 0, 0] = torch.nan  # member 2's weights went NaN
    fractions = vmap(dead_fraction)(hidden)
    assert fractions[2].isnan() and not fractions[:2].isnan().any()


def members(cfg: ModelConfig, k: int, make) -> list[nn.Module]:
    models = []
    for i in range(k):
        torch.manual_seed(i)
        model = make(cfg)
        seed_dropout(model, 100 + i)
        set_dropout_rate(model, 0.1 * i)
        models.append(model)
    return models


def run_stacked(models, xs, steps):
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")

    def forward(p, b, x):
        return functional_call(base, (p, b), (x,), {"return_hidden": True})

    outs = [vmap(forward)(params, buffers, xs) for _ in range(steps)]
    return outs, buffers


@pytest.mark.parametrize(
    ("cfg", "make", "shape"),
    [
        (ModelConfig(hidden=[8, 6], batch_norm=True), lambda c: build_mlp(12, 3, c, True), (12,)),
        (
            ModelConfig(kind="cnn", channels=[3, 4], batch_norm=True),
            lambda c: build_cnn(2, 4, 3, c, True),
            (2, 4, 4),
        ),
    ],
)
def test_population_member_reproduces_its_standalone_model(cfg, make, shape):
    """Stacked under vmap, member k gives the outputs, hidden layers and BatchNorm running
    statistics of the same model trained alone (dropout masks included)."""
    k, steps = 3, 2
    models = members(cfg, k, make)
    alone = copy.deepcopy(models)
    xs = torch.randn(k, 5, *shape)
    outs, buffers = run_stacked(models, xs, steps)
    for i, model in enumerate(alone):
        for step in range(steps):
            logits, hidden = model(xs[i], return_hidden=True)
            torch.testing.assert_close(outs[step][0][i], logits, rtol=1e-5, atol=1e-6)
            for got, want in zip(outs[step][1], hidden, strict=True):
                torch.testing.assert_close(got[i], want, rtol=1e-5, atol=1e-6)
        for name, buffer in model.named_buffers():
            torch.testing.assert_close(buffers[name][i], buffer, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(buffers["blocks.0.1.running_mean"][0], torch.zeros(()))
    assert not torch.allclose(
        buffers["blocks.0.1.running_mean"][0], buffers["blocks.0.1.running_mean"][1]
    )
