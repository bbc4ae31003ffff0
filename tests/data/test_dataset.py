import pytest
import torch

from steepest.config import DataConfig
from steepest.data import Dataset, load_dataset
from steepest.errors import UserError


def test_builtin_digits_split_and_standardized_on_train():
    data = load_dataset(DataConfig(name="digits", val_fraction=0.2, test_fraction=0.1, seed=1))
    assert isinstance(data, Dataset)
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 1797
    assert data.input_shape == (64,) and data.x_train.dtype == torch.float32
    assert data.y_train.dtype == torch.int64 and data.class_names == [str(d) for d in range(10)]
    torch.testing.assert_close(data.x_train.mean(0), torch.zeros(64), atol=1e-5, rtol=0)
    assert data.x_val.mean(0).abs().max() > 1e-3  # val is transformed, not re-fitted


def test_preprocessing_never_sees_validation_or_test_rows(tmp_path):
    rows = [f"{i % 7},{i % 2},train" for i in range(40)]
    rows += [f"{1000 + i},{i % 2},val" for i in range(10)]
    rows += [f"{500 + i},{i % 2},test" for i in range(10)]
    path = tmp_path / "shifted.csv"
    path.write_text("a,t,part\n" + "\n".join(rows) + "\n")
    data = load_dataset(DataConfig(csv=path, target="t", split_column="part", preprocess="center"))
    train_a = torch.tensor([i % 7 for i in range(40)], dtype=torch.float32)
    shift = data.preprocessor.state_dict()["shift"]
    torch.testing.assert_close(shift, train_a.mean().view(1, 1))
    assert data.x_val.min() > 900 and data.x_test.min() > 400
    assert data.task == "regression"


def test_numeric_csv_target_as_classes_when_asked(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,t\n" + "\n".join(f"{i},{i % 3}" for i in range(30)) + "\n")
    data = load_dataset(DataConfig(csv=path, target="t", val_fraction=0.2), task="classification")
    assert data.class_names == ["0", "1", "2"]
    assert torch.bincount(data.y_val).tolist() == [2, 2, 2]


def test_images_become_float_standardized_per_channel(digits_folder):
    data = load_dataset(DataConfig(images=digits_folder, image_size=8, grayscale=True))
    assert data.input_shape == (1, 8, 8) and data.x_train.dtype == torch.float32
    assert abs(data.x_train.mean().item()) < 1e-5 and abs(data.x_train.std().item() - 1) < 1e-3
    assert data.name == digits_folder.name and data.feature_names is None


def test_pca_names_components():
    data = load_dataset(DataConfig(name="wine", pca=3))
    assert data.input_shape == (3,) and data.feature_names == ["pc1", "pc2", "pc3"]


@pytest.mark.parametrize(
    ("settings", "task", "match"),
    [
        ({"name": "diabetes"}, "classification", r"'diabetes' is a regression data set"),
        ({"name": "iris", "classes": ["setosa"]}, None, r"classes: applies to images only"),
        ({"name": "iris", "split_column": "s"}, None, r"split_column: applies to a CSV or images"),
    ],
)
def test_mismatches_are_user_errors(settings, task, match):
    with pytest.raises(UserError, match=match):
        load_dataset(DataConfig(**settings), task=task)
