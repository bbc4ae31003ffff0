import pytest
import torch
from torch import nn

from steepest.config import ModelConfig, TrainConfig
from steepest.nn.layers import build_mlp
from steepest.nn.regularizers import STRENGTH_DEFAULTS, elastic_net, l1, l2, weight_mask

K, P = 3, 7


@pytest.fixture
def w():
    torch.manual_seed(0)
    return torch.randn(K, P, dtype=torch.float64)


LAMS = [0.3, torch.tensor([0.1, 0.0, 2.0], dtype=torch.float64)]


def per_member(value, k):
    return value[k].item() if isinstance(value, torch.Tensor) else value


@pytest.mark.parametrize("lam", LAMS)
def test_l2_l1_match_their_formulas(w, lam):
    for k in range(K):
        lam_k = per_member(lam, k)
        assert l2(w, lam)[k].item() == pytest.approx(0.5 * lam_k * sum(v**2 for v in w[k]))
        assert l1(w, lam)[k].item() == pytest.approx(lam_k * sum(abs(v) for v in w[k]))


@pytest.mark.parametrize("lam", LAMS)
@pytest.mark.parametrize("alpha", [0.25, torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)])
def test_elastic_net_matches_its_formula(w, lam, alpha):
    for k in range(K):
        lam_k, a = per_member(lam, k), per_member(alpha, k)
        direct = lam_k * sum(a * abs(v) + 0.5 * (1 - a) * v**2 for v in w[k])
        assert elastic_net(w, lam, alpha)[k].item() == pytest.approx(direct)


def test_elastic_net_mixes_l1_at_alpha_one_and_l2_at_alpha_zero(w):
    torch.testing.assert_close(elastic_net(w, 0.3, 1.0), l1(w, 0.3))
    torch.testing.assert_close(elastic_net(w, 0.3, 0.0), l2(w, 0.3))


def test_penalties_accept_any_trailing_shape(w):
    torch.testing.assert_close(l2(w.reshape(K, P, 1), 0.5), l2(w, 0.5))


@pytest.mark.parametrize(
    "penalty",
    [
        lambda w: l2(w, LAMS[1]),
        lambda w: l1(w, LAMS[1]),
        lambda w: elastic_net(w, LAMS[1], torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)),
    ],
)
def test_penalty_gradients_match_centred_finite_differences(w, penalty):
    w = w.clone().requires_grad_()
    penalty(w).sum().backward()
    eps = 1e-5
    numeric = torch.zeros_like(w)
    with torch.no_grad():
        for k in range(K):
            for p in range(P):
                shift = torch.zeros_like(w)
                shift[k, p] = eps
                numeric[k, p] = (penalty(w + shift)[k] - penalty(w - shift)[k]) / (2 * eps)
    torch.testing.assert_close(w.grad, numeric, rtol=1e-6, atol=1e-8)


def test_weight_mask_marks_linear_and_maxout_weights_only():
    cfg = ModelConfig(hidden=[4, 3], activation="maxout", batch_norm=True)
    mask = weight_mask(build_mlp(5, 2, cfg, dropout=True))
    assert mask == {
        "blocks.0.0.linear.weight": True,
        "blocks.0.0.linear.bias": False,
        "blocks.0.1.weight": False,
        "blocks.0.1.bias": False,
        "blocks.1.1.linear.weight": True,
        "blocks.1.1.linear.bias": False,
        "blocks.1.2.weight": False,
        "blocks.1.2.bias": False,
        "head.1.weight": True,
        "head.1.bias": False,
    }


def test_weight_mask_on_a_user_module():
    module = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Embedding(4, 2), nn.Linear(2, 1, bias=False))
    assert weight_mask(module) == {
        "0.weight": True,
        "0.bias": False,
        "1.weight": False,
        "2.weight": True,
    }


def test_a_member_without_strengths_gets_trains_defaults():
    """A Member built without penalty strengths is penalised as `[train]`'s defaults say."""
    defaults = {name: TrainConfig.model_fields[name].default for name in STRENGTH_DEFAULTS}
    assert defaults == STRENGTH_DEFAULTS
