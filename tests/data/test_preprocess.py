import pytest
import torch

from steepest.data.preprocess import Preprocessor
from steepest.errors import UserError


@pytest.fixture
def x():
    g = torch.Generator().manual_seed(0)
    columns = torch.randn(200, 5, generator=g) * torch.tensor([1.0, 2.0, 5.0, 0.1, 3.0])
    columns[:, 3] = 7.0  # a constant feature
    return columns + torch.tensor([0.0, 10.0, -3.0, 0.0, 1.0])


def test_none_is_identity(x):
    assert torch.equal(Preprocessor("none").fit(x).transform(x), x)


def test_center(x):
    out = Preprocessor("center").fit(x).transform(x)
    torch.testing.assert_close(out, x - x.mean(0))


def test_standardize_with_zero_std_left_unscaled(x):
    out = Preprocessor("standardize").fit(x).transform(x)
    std = x.std(0, correction=0)
    expected = (x - x.mean(0)) / torch.where(std > 0, std, 1.0)
    torch.testing.assert_close(out, expected)
    assert torch.all(out[:, 3] == 0)


def test_minmax_formula_and_range(x):
    out = Preprocessor("minmax").fit(x).transform(x)
    low, high = x.min(0).values, x.max(0).values
    varying = [0, 1, 2, 4]
    expected = 2 * (x - low) / (high - low) - 1
    torch.testing.assert_close(out[:, varying], expected[:, varying])
    assert out.min() == -1 and out.max() == 1
    assert torch.all(out[:, 3] == 0)


def test_statistics_come_from_training_data_only(x):
    shifted = x + 1000.0
    fitted = Preprocessor("standardize").fit(x)
    before = fitted.state_dict()["shift"].clone()
    out = fitted.transform(shifted)
    assert torch.equal(fitted.state_dict()["shift"], before)
    assert out[:, 0].mean() > 100  # the shift survives: val data was not re-centred


def test_images_standardized_per_channel():
    g = torch.Generator().manual_seed(1)
    images = torch.rand(20, 3, 4, 4, generator=g) * torch.tensor([1.0, 10.0, 100.0]).view(
        1, 3, 1, 1
    )
    out = Preprocessor("standardize").fit(images).transform(images)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2, 3), correction=0), torch.ones(3))


def test_pca_components_match_svd_and_keep_variance(x):
    pre = Preprocessor("standardize", pca=0.7).fit(x)
    scaled = Preprocessor("standardize").fit(x).transform(x).double()
    s = torch.linalg.svdvals(scaled - scaled.mean(0))
    kept = torch.cumsum(s**2, 0) / (s**2).sum()
    k = pre.components.shape[0]
    assert kept[k - 1] >= 0.7 > kept[k - 2]
    z = pre.transform(x)
    assert z.shape == (200, k)
    explained = z.double().var(0, correction=0).sum() * len(x) / (s**2).sum()
    torch.testing.assert_close(explained, kept[k - 1], atol=1e-5, rtol=0)
    assert pre.kept_variance == pytest.approx(kept[k - 1].item(), abs=1e-6)


def test_pca_whole_number_is_component_count(x):
    assert Preprocessor("center", pca=2).fit(x).transform(x).shape == (200, 2)


def test_state_dict_round_trip(x, tmp_path):
    pre = Preprocessor("minmax", pca=3).fit(x)
    torch.save(pre.state_dict(), tmp_path / "pre.pt")
    restored = Preprocessor("none")
    restored.load_state_dict(torch.load(tmp_path / "pre.pt", weights_only=True))
    assert torch.equal(restored.transform(x), pre.transform(x))


@pytest.mark.parametrize(
    ("kind", "pca", "match"),
    [
        ("zscore", None, "preprocess = 'zscore': expected one of none, center"),
        ("center", 2.5, "pca = 2.5: expected a whole number"),
        ("center", 9, "pca = 9: at most 5 components"),
    ],
)
def test_bad_settings_name_the_value(x, kind, pca, match):
    with pytest.raises(UserError, match=match):
        Preprocessor(kind, pca).fit(x)


def test_pca_on_images_is_refused():
    with pytest.raises(UserError, match=r"PCA applies to tables"):
        Preprocessor("none", pca=2).fit(torch.zeros(4, 1, 3, 3))
