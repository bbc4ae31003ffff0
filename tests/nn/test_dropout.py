import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from steepest import rng
from steepest.errors import UserError
from steepest.nn.dropout import Dropout, replace_torch_dropout, seed_dropout, set_dropout_rate


def seeded(rate: float, seed: int) -> Dropout:
    layer = Dropout(rate)
    seed_dropout(layer, seed)
    return layer


def test_mean_activation_is_preserved_and_rate_of_zeros_matches():
    x = torch.ones(200_000)
    out = seeded(0.3, 7)(x)
    assert abs(out.mean().item() - 1.0) < 0.01  # σ of the mean ≈ 0.0015
    assert abs((out == 0).float().mean().item() - 0.3) < 0.005
    assert torch.allclose(out[out != 0], torch.tensor(1 / 0.7))


def test_eval_mode_is_identity_and_does_not_advance_the_counter():
    layer = seeded(0.5, 1).eval()
    x = torch.randn(10, 5)
    assert torch.equal(layer(x), x)
    assert layer.counter.item() == 0


def test_rate_zero_is_exactly_the_input():
    x = torch.randn(64, 33, dtype=torch.float64)
    out = seeded(0.0, 3)(x)
    assert out.dtype == torch.float64
    assert torch.equal(out, x)


def test_mask_is_a_function_of_key_and_counter():
    x = torch.ones(1000)
    a, b = seeded(0.5, 11), seeded(0.5, 11)
    first = a(x)
    assert torch.equal(first, b(x))
    assert a.counter.item() == 1
    second = a(x)
    assert not torch.equal(first, second)
    assert not torch.equal(first, seeded(0.5, 12)(x))
    expected = (rng.uniform(rng.derive_key(rng.derive_key(11, 0), 1), (1000,)) >= 0.5) / 0.5
    assert torch.equal(second, expected)


def test_gradient_is_the_scaled_mask():
    x = torch.randn(500, requires_grad=True)
    out = seeded(0.25, 2)(x)
    out.sum().backward()
    assert torch.equal(x.grad, (out != 0).float() / 0.75)


def test_population_member_reproduces_its_standalone_run():
    members = [seeded(rate, seed) for rate, seed in [(0.1, 0), (0.5, 1), (0.5, 2), (0.0, 3)]]
    alone = copy.deepcopy(members)
    _, buffers = stack_module_state(members)
    base = copy.deepcopy(members[0]).to("meta")
    x = torch.randn(4, 8, 16)

    def forward(b, xk):
        return functional_call(base, b, (xk,))

    for step in range(3):
        stacked = vmap(forward)(buffers, x)
        for k, layer in enumerate(alone):
            assert torch.equal(stacked[k], layer(x[k]))
        assert torch.equal(buffers["counter"], torch.full((4,), step + 1))
    assert not torch.equal(stacked[1] != 0, stacked[2] != 0)


def test_set_dropout_rate_and_seed_dropout_reach_every_layer_in_order():
    model = nn.Sequential(Dropout(0.1), nn.Linear(3, 3), nn.Sequential(Dropout(0.2)))
    set_dropout_rate(model, 0.4)
    seed_dropout(model, 5)
    layers = [model[0], model[2][0]]
    assert [layer.rate.item() for layer in layers] == pytest.approx([0.4, 0.4])
    assert [layer.key.item() for layer in layers] == [rng.derive_key(5, i).item() for i in (0, 1)]


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_rate_outside_zero_one_is_a_user_error(rate):
    with pytest.raises(UserError, match="dropout rate"):
        Dropout(rate)
    with pytest.raises(UserError, match="dropout rate"):
        set_dropout_rate(Dropout(), rate)


def test_replace_torch_dropout_keeps_rates_and_structure():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.3), nn.Sequential(nn.Dropout(0.1)))
    model = replace_torch_dropout(model)
    assert isinstance(model[1], Dropout) and isinstance(model[2][0], Dropout)
    assert model[1].rate.item() == pytest.approx(0.3)
    assert model[2][0].rate.item() == pytest.approx(0.1)
    assert isinstance(replace_torch_dropout(nn.Dropout(0.2)), Dropout)


def test_replace_torch_dropout_refuses_generator_based_kinds():
    with pytest.raises(UserError, match="Dropout2d"):
        replace_torch_dropout(nn.Sequential(nn.Dropout2d(0.1)))
