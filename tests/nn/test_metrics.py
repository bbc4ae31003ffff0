import pytest
import torch
from sklearn.metrics import mean_squared_error, r2_score
from torch.func import vmap

from steepest.errors import UserError
from steepest.nn.metrics import accuracy, metric_for, r2, rmse


def test_accuracy_is_the_fraction_of_argmax_hits():
    f = torch.tensor([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 2.0, 0.5]])
    y = torch.tensor([1, 0, 1, 0])
    assert accuracy(f, y).item() == pytest.approx(0.5)


@pytest.mark.parametrize("shape", [(5,), (5, 1)])
def test_accuracy_of_one_logit_thresholds_at_zero(shape):
    f = torch.tensor([-1.0, 0.5, 2.0, -0.1, 0.0]).reshape(shape)
    y = torch.tensor([0, 1, 0, 0, 1])
    assert accuracy(f, y).item() == pytest.approx(3 / 5)


def test_rmse_and_r2_match_scikit_learn():
    torch.manual_seed(0)
    y = torch.randn(20, 2, dtype=torch.float64)
    f = y + 0.3 * torch.randn(20, 2, dtype=torch.float64)
    assert rmse(f, y).item() == pytest.approx(mean_squared_error(y, f) ** 0.5)
    assert r2(f, y).item() == pytest.approx(r2_score(y, f))
    assert r2(f[:, 0], y[:, 0]).item() == pytest.approx(r2_score(y[:, 0], f[:, 0]))
    assert rmse(f[:, :1], y[:, 0]).item() == pytest.approx(rmse(f[:, 0], y[:, 0]).item())


@pytest.mark.parametrize("fn", [accuracy, rmse, r2])
def test_metrics_run_under_vmap(fn):
    torch.manual_seed(1)
    f = torch.randn(3, 10, 4)
    y = torch.randint(0, 4, (3, 10)) if fn is accuracy else torch.randn(3, 10, 4)
    expected = torch.stack([fn(f[k], y[k]) for k in range(3)])
    torch.testing.assert_close(vmap(fn)(f, y), expected)


def test_each_task_has_a_metric_and_a_direction():
    classification, regression = metric_for("classification"), metric_for("regression")
    assert (classification.name, classification.fn, classification.maximize) == (
        "accuracy",
        accuracy,
        True,
    )
    assert (regression.name, regression.fn, regression.maximize) == ("rmse", rmse, False)
    with pytest.raises(UserError, match="task = 'ranking'"):
        metric_for("ranking")


def test_rmse_of_standardised_targets_is_reported_in_the_datas_units():
    """y' = (y − μ)/σ and f' = (f − μ)/σ: RMSE(y, f) = σ·RMSE(y', f'), batch and
    per-example forms alike; accuracy has no units."""
    y, f = torch.tensor([150.0, 90.0, 210.0]), torch.tensor([140.0, 100.0, 180.0])
    mu, sigma = 150.0, 50.0
    metric = metric_for("regression").in_units(sigma)
    scaled = ((f - mu) / sigma, (y - mu) / sigma)
    assert metric.fn(*scaled).item() == pytest.approx(rmse(f, y).item())
    assert metric.finish(metric.each(*scaled).mean()).item() == pytest.approx(rmse(f, y).item())
    assert metric_for("classification").in_units(1.0) is metric_for("classification")
