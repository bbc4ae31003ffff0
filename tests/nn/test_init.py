import math

import pytest
import torch
from torch import nn

from steepest.errors import UserError
from steepest.nn.init import initialize_
from steepest.nn.layers import Maxout

FORMULAS = {
    "small": lambda fan_in, fan_out: 0.01,
    "lecun": lambda fan_in, fan_out: 1 / math.sqrt(fan_in),
    "scaled": lambda fan_in, fan_out: 1 / math.sqrt(fan_in),
    "he": lambda fan_in, fan_out: math.sqrt(2 / fan_in),
    "xavier": lambda fan_in, fan_out: math.sqrt(2 / (fan_in + fan_out)),
}


@pytest.mark.parametrize("scheme", FORMULAS)
def test_weight_std_matches_the_scheme_and_biases_are_zero(scheme):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(400, 100), nn.Conv2d(16, 32, 3), Maxout(50, 20, pieces=3))
    initialize_(model, scheme)
    # Linear 400→100; Conv 16·3·3 = 144 → 32·3·3 = 288; Maxout's Linear 50 → 20·3 = 60.
    for layer, fans in [
        (model[0], (400, 100)),
        (model[1], (144, 288)),
        (model[2].linear, (50, 60)),
    ]:
        expected = FORMULAS[scheme](*fans)
        assert layer.weight.std().item() == pytest.approx(expected, rel=0.05)
        assert abs(layer.weight.mean().item()) < 0.05 * expected
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))


def test_batch_norm_gets_unit_scale_and_zero_shift():
    norm = nn.BatchNorm1d(4)
    with torch.no_grad():
        norm.weight.uniform_(2, 3)
        norm.bias.uniform_(2, 3)
    initialize_(nn.Sequential(nn.Linear(3, 4), norm), "he")
    assert torch.equal(norm.weight, torch.ones(4)) and torch.equal(norm.bias, torch.zeros(4))


def test_draws_follow_the_global_seed():
    def weights(seed):
        torch.manual_seed(seed)
        layer = nn.Linear(5, 5)
        initialize_(layer, "xavier")
        return layer.weight.clone()

    assert torch.equal(weights(3), weights(3))
    assert not torch.equal(weights(3), weights(4))


def test_zero_init_is_refused_with_the_reason():
    with pytest.raises(UserError, match="never break symmetry"):
        initialize_(nn.Linear(2, 2), "zero")


def test_unknown_scheme_is_a_user_error():
    with pytest.raises(UserError, match="init = 'glorot'.*expected one of"):
        initialize_(nn.Linear(2, 2), "glorot")
