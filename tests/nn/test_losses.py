import pytest
import torch
import torch.nn.functional as F
from torch.func import vmap

from steepest.errors import UserError
from steepest.nn.losses import (
    LOSSES,
    cross_entropy,
    hinge,
    huber,
    l1,
    logistic,
    make_loss,
    mse,
)

B, C = 6, 4


@pytest.fixture
def scores():
    torch.manual_seed(0)
    return torch.randn(B, C, dtype=torch.float64) * 2, torch.randint(0, C, (B,))


@pytest.fixture
def regression():
    torch.manual_seed(1)
    return torch.randn(B, 3, dtype=torch.float64) * 2, torch.randn(B, 3, dtype=torch.float64)


def test_mse_is_half_the_sum_of_squares_and_half_d_times_torch(regression):
    f, y = regression
    direct = sum(0.5 * sum((y[b, j] - f[b, j]) ** 2 for j in range(3)) for b in range(B)) / B
    torch.testing.assert_close(mse(f, y), direct)
    torch.testing.assert_close(mse(f, y), 0.5 * 3 * F.mse_loss(f, y))


def test_l1_is_the_sum_of_absolute_errors(regression):
    f, y = regression
    torch.testing.assert_close(l1(f, y), 3 * F.l1_loss(f, y))
    torch.testing.assert_close(l1(f, y), (y - f).abs().sum() / B)


def test_huber_is_quadratic_inside_delta_and_linear_outside(regression):
    f, y = regression
    delta = 0.7
    r = (y - f).abs()
    assert (r < delta).any() and (r > delta).any()
    direct = torch.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta)).sum() / B
    torch.testing.assert_close(huber(f, y, delta), direct)
    torch.testing.assert_close(
        huber(f, y, delta), F.huber_loss(f, y, reduction="none", delta=delta).sum(1).mean()
    )


def test_one_output_regression_accepts_b_and_b1_shapes():
    f = torch.randn(B, 1, dtype=torch.float64)
    y = torch.randn(B, dtype=torch.float64)
    torch.testing.assert_close(mse(f, y), mse(f.squeeze(1), y))
    torch.testing.assert_close(mse(f, y), 0.5 * ((y - f.squeeze(1)) ** 2).mean())


def test_shape_mismatch_is_a_user_error():
    with pytest.raises(UserError, match=r"output shape \(6, 2\).*target shape \(6, 3\)"):
        mse(torch.zeros(B, 2), torch.zeros(B, 3))


def test_cross_entropy_matches_torch(scores):
    f, y = scores
    torch.testing.assert_close(cross_entropy(f, y), F.cross_entropy(f, y))
    direct = sum(-torch.log_softmax(f[b], 0)[y[b]] for b in range(B)) / B
    torch.testing.assert_close(cross_entropy(f, y), direct)


def test_hinge_sums_margins_over_wrong_classes(scores):
    f, y = scores
    direct = (
        sum(max(0.0, f[b, j] - f[b, y[b]] + 1) for b in range(B) for j in range(C) if j != y[b]) / B
    )
    torch.testing.assert_close(hinge(f, y), torch.as_tensor(direct, dtype=torch.float64))
    torch.testing.assert_close(hinge(f, y), C * F.multi_margin_loss(f, y))


def test_logistic_matches_binary_cross_entropy_with_logits():
    torch.manual_seed(2)
    f = torch.randn(B, 1, dtype=torch.float64) * 3
    y = torch.randint(0, 2, (B,))
    expected = F.binary_cross_entropy_with_logits(f.squeeze(1), y.double())
    torch.testing.assert_close(logistic(f, y), expected)
    torch.testing.assert_close(logistic(f.squeeze(1), y), expected)
    s = 2 * y.double() - 1
    torch.testing.assert_close(logistic(f, y), torch.log1p(torch.exp(-s * f.squeeze(1))).mean())


def test_logistic_is_stable_for_large_logits():
    f = torch.tensor([1000.0, -1000.0, 1000.0])
    y = torch.tensor([1, 0, 0])
    loss = logistic(f, y)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(1000 / 3)


def test_logistic_needs_one_logit():
    with pytest.raises(UserError, match="one logit"):
        logistic(torch.zeros(B, 2), torch.zeros(B, dtype=torch.long))


def test_loss_table_tasks_and_output_counts():
    assert {n: s.task for n, s in LOSSES.items()} == {
        "mse": "regression",
        "l1": "regression",
        "huber": "regression",
        "cross_entropy": "classification",
        "hinge": "classification",
        "logistic": "classification",
    }
    assert LOSSES["cross_entropy"].outputs(10) == 10
    assert LOSSES["mse"].outputs(2) == 2
    assert LOSSES["logistic"].outputs(2) == 1
    with pytest.raises(
        UserError, match=r"^\[train\] loss = .logistic.: binary, expected 2 classes, got 3"
    ):
        LOSSES["logistic"].outputs(3)


def test_make_loss_binds_huber_delta_and_refuses_unknown_names(regression):
    f, y = regression
    torch.testing.assert_close(make_loss("huber", 0.3)(f, y), huber(f, y, 0.3))
    assert make_loss("mse") is mse
    with pytest.raises(UserError, match="loss = 'squared'"):
        make_loss("squared")


CASES = [
    ("mse", lambda: (torch.randn(B, 2), torch.randn(B, 2))),
    ("l1", lambda: (torch.randn(B, 2), torch.randn(B, 2))),
    ("huber", lambda: (torch.randn(B, 2), torch.randn(B, 2))),
    ("cross_entropy", lambda: (torch.randn(B, C), torch.randint(0, C, (B,)))),
    ("hinge", lambda: (torch.randn(B, C), torch.randint(0, C, (B,)))),
    ("logistic", lambda: (torch.randn(B, 1), torch.randint(0, 2, (B,)))),
]


@pytest.mark.parametrize(("name", "sample"), CASES)
def test_every_loss_runs_under_vmap_per_member(name, sample):
    torch.manual_seed(3)
    fn = make_loss(name, 0.5)
    outputs, targets = zip(*(sample() for _ in range(3)), strict=True)
    stacked = vmap(fn)(torch.stack(outputs), torch.stack(targets))
    expected = torch.stack([fn(f, y) for f, y in zip(outputs, targets, strict=True)])
    torch.testing.assert_close(stacked, expected)


@pytest.mark.parametrize(("name", "sample"), CASES)
def test_every_loss_gradient_matches_finite_differences(name, sample):
    torch.manual_seed(4)
    fn = make_loss(name, 0.5)
    f, y = sample()
    f = (f.double() * 2).requires_grad_()
    y = y.double() if y.is_floating_point() else y
    assert torch.autograd.gradcheck(lambda out: fn(out, y), (f,), eps=1e-6)
