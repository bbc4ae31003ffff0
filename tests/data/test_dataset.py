import numpy as np
import pytest
import torch
from PIL import Image

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
    train_a = torch.tensor([i % 7 for i in range(40)], dtype=torch.float64)
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
        ({"name": "iris", "classes": ["setosa"]}, None, r"classes: applies to images only"),
        ({"name": "iris", "split_column": "s"}, None, r"split_column: applies to a CSV or images"),
    ],
)
def test_mismatches_are_user_errors(settings, task, match):
    with pytest.raises(UserError, match=match):
        load_dataset(DataConfig(**settings), task=task)


def test_a_built_in_set_keeps_its_own_task_whatever_the_loss_asks():
    """`task` reads a CSV's target; a built-in set is what it is, and the caller's loss
    check (`training.task_for`) names the loss when they disagree."""
    assert load_dataset(DataConfig(name="diabetes"), task="classification").task == "regression"


def _csv(tmp_path, lines, name="t.csv"):
    path = tmp_path / name
    path.write_text("a,t\n" + "\n".join(lines) + "\n")
    return path


def _image_folder(root, counts):
    """Class folders of tiny grey PNGs: {class name: number of images}."""
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((4, 4), 60 * i, np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"name": "iris", "val_fraction": 0.0}, r"'iris': the validation split is empty"),
        (
            {"name": "iris", "val_fraction": 0.001},
            r"150 examples; each class is cut separately, and the smallest has 50\); "
            "use a larger val_fraction",
        ),
        ({"name": "iris", "test_fraction": 0.001}, r"test split is empty.*larger test_fraction"),
    ],
)
def test_an_empty_split_is_refused(settings, match):
    with pytest.raises(UserError, match=match):
        load_dataset(DataConfig(**settings))


def test_a_two_row_csv_leaves_no_validation_example(tmp_path):
    path = _csv(tmp_path, ["1,2", "3,4"])
    with pytest.raises(UserError, match=r"'t': the validation split is empty \(2 examples\)"):
        load_dataset(DataConfig(csv=path, target="t"))


def test_three_images_a_class_round_to_no_validation_example(tmp_path):
    root = _image_folder(tmp_path / "few", {"a": 3, "b": 3})
    with pytest.raises(UserError, match=r"validation split is empty.*the smallest has 3"):
        load_dataset(DataConfig(images=root, image_size=4))


def test_a_split_column_of_no_train_rows_is_refused(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("a,t,s\n" + "\n".join(f"{i},{i},val" for i in range(6)) + "\n")
    with pytest.raises(UserError, match=r"training split is empty.*name some rows train"):
        load_dataset(DataConfig(csv=path, target="t", split_column="s"))


def test_test_fraction_zero_asks_for_no_test_split():
    data = load_dataset(DataConfig(name="iris", test_fraction=0.0))
    assert len(data.x_test) == 0 and not data.has_test
    assert (len(data.x_train), len(data.x_val)) == (126, 24)
    assert load_dataset(DataConfig(name="iris")).has_test


def test_a_split_column_of_train_and_test_rows_gets_a_validation_split(tmp_path):
    rows = [f"{i},{i % 2},{'test' if i % 5 == 0 else 'train'}" for i in range(40)]
    path = tmp_path / "kaggle.csv"
    path.write_text("a,t,s\n" + "\n".join(rows) + "\n")
    data = load_dataset(
        DataConfig(csv=path, target="t", split_column="s", val_fraction=0.25),
        task="classification",
    )
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (24, 8, 8)
    assert torch.bincount(data.y_val).tolist() == [4, 4]


def test_one_class_is_refused_for_tables_and_images(tmp_path):
    path = _csv(tmp_path, [f"{i},x" for i in range(20)], name="same.csv")
    with pytest.raises(UserError, match=r"'same' has only one class \('x'\); classification"):
        load_dataset(DataConfig(csv=path, target="t"))
    root = _image_folder(tmp_path / "insects", {"bee1": 4, "wasp1": 4})
    with pytest.raises(UserError, match=r"'insects' has only one class \('bee1'\); .* at least 2"):
        load_dataset(DataConfig(images=root, image_size=4, classes=["bee1"]))


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"name": "iris", "features": ["petal length (cm)"]}, r"\[data\] features: applies to csv"),
        ({"name": "iris", "target": "x"}, r"\[data\] target: applies to csv only"),
        ({"name": "digits", "image_size": 8}, r"\[data\] image_size: applies to images only"),
        ({"name": "iris", "grayscale": False}, r"\[data\] grayscale: applies to images only"),
        ({"name": "digits_images", "fit": "pad"}, r"\[data\] fit: applies to images only"),
        ({"name": "iris", "path_column": "p"}, r"\[data\] path_column: applies to images only"),
        ({"name": "iris", "label_column": "l"}, r"\[data\] label_column: applies to images only"),
        ({"name": "iris", "augment": {"flip": True}}, r"\[data.augment\] flip: applies to images"),
        ({"name": "wine", "augment": {"crop_padding": 1}}, r"augment\] crop_padding: applies"),
    ],
)
def test_keys_the_source_ignores_are_refused(settings, match):
    with pytest.raises(UserError, match=match):
        load_dataset(DataConfig(**settings))


def test_keys_the_source_ignores_are_refused_for_csv_tables(tmp_path):
    path = _csv(tmp_path, [f"{i},{i % 2}" for i in range(20)])
    with pytest.raises(UserError, match=r"\[data\] image_size: applies to images only"):
        load_dataset(DataConfig(csv=path, target="t", image_size=16))
    with pytest.raises(UserError, match=r"\[data.augment\] brightness: applies to images"):
        load_dataset(DataConfig(csv=path, target="t", augment={"brightness": 0.1}))


def test_image_keys_apply_to_image_sources(tmp_path):
    assert load_dataset(DataConfig(name="digits_images", augment={"flip": True})).x_val.ndim == 4
    root = _image_folder(tmp_path / "pics", {"a": 4, "b": 4})
    with pytest.raises(UserError, match=r"label_column = 'kind': needs images = a CSV"):
        load_dataset(DataConfig(images=root, image_size=4, label_column="kind"))
    with pytest.raises(UserError, match=r"\[data\] features: applies to csv only"):
        load_dataset(DataConfig(images=root, image_size=4, features=["x"]))


def test_numeric_class_labels_train_as_classification_when_asked(tmp_path):
    path = _csv(tmp_path, [f"{i},{i % 2}" for i in range(20)])
    data = load_dataset(DataConfig(csv=path, target="t"), task="classification")
    assert data.task == "classification" and data.class_names == ["0", "1"]
    assert data.y_train.dtype == torch.int64
    assert sorted(set(data.y_train.tolist())) == [0, 1]
    assert load_dataset(DataConfig(csv=path, target="t")).task == "regression"


def test_text_labels_cannot_be_regressed(tmp_path):
    path = _csv(tmp_path, [f"{i},{'ab'[i % 2]}" for i in range(20)])
    with pytest.raises(UserError, match=r"value 'a' is not a number, so the target cannot be"):
        load_dataset(DataConfig(csv=path, target="t"), task="regression")


def test_regression_targets_are_standardised_with_the_training_split_alone(tmp_path):
    train_y = [100.0 + 10 * (i % 5) for i in range(40)]
    rows = [f"{i},{y},train" for i, y in enumerate(train_y)]
    rows += [f"{i},{900 + i},val" for i in range(10)] + [f"{i},{-50 - i},test" for i in range(10)]
    path = tmp_path / "prices.csv"
    path.write_text("a,y,part\n" + "\n".join(rows) + "\n")
    cfg = DataConfig(csv=path, target="y", split_column="part")
    data = load_dataset(cfg)
    raw = torch.tensor(train_y, dtype=torch.float64)
    assert data.target_shift == pytest.approx(raw.mean().item())
    assert data.target_scale == pytest.approx(raw.std(correction=0).item())  # as x's σ
    torch.testing.assert_close(data.y_train.mean(), torch.tensor(0.0), atol=1e-6, rtol=0)
    expected_val = (torch.arange(900.0, 910.0) - data.target_shift) / data.target_scale
    torch.testing.assert_close(data.y_val, expected_val)
    assert data.y_test.dtype == torch.float32
    unscaled = load_dataset(cfg.model_copy(update={"scale_target": False}))
    assert unscaled.y_val.tolist() == list(range(900, 910))
    assert (unscaled.target_shift, unscaled.target_scale) == (0.0, 1.0)


def test_constant_regression_targets_are_shifted_not_divided_by_zero(tmp_path):
    path = tmp_path / "flat.csv"
    path.write_text("a,y\n" + "\n".join(f"{i},7.5" for i in range(20)) + "\n")
    data = load_dataset(DataConfig(csv=path, target="y"))
    assert (data.target_shift, data.target_scale) == (7.5, 1.0)
    assert data.y_train.abs().max() == 0


def test_scale_target_set_for_classes_is_refused():
    with pytest.raises(
        UserError, match=r"\[data\] scale_target: applies to regression targets; 'iris' has classes"
    ):
        load_dataset(DataConfig(name="iris", scale_target=True))


def test_a_large_offset_is_scaled_away_before_float32_rounds_the_values(tmp_path):
    """Timestamps near 1.6e9 are 128 apart in float32: read as float32 first, 1000
    timestamps 10 s apart would collapse into 79 values."""
    rows = [f"{1_600_000_000 + 10 * i},{i / 100}" for i in range(1000)]
    path = tmp_path / "times.csv"
    path.write_text("timestamp,y\n" + "\n".join(rows) + "\n")
    data = load_dataset(DataConfig(csv=path, target="y"))
    x = torch.cat([data.x_train, data.x_val, data.x_test])
    assert x.dtype == torch.float32 and len(torch.unique(x)) == 1000


def test_the_fingerprint_does_not_follow_the_thread_count(tmp_path):
    """A PCA's SVD rounds differently at 1 and 2 threads; the fingerprint is of the
    examples as read, so OMP_NUM_THREADS=1 does not make a study's data 'other data'."""
    rng = np.random.default_rng(0)
    x = rng.normal(1e3, 50, (3000, 5))
    path = tmp_path / "t.csv"
    np.savetxt(path, np.c_[x, x.sum(1)], delimiter=",", header="a,b,c,d,e,y", comments="")
    cfg = DataConfig(csv=path, target="y", pca=3)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = load_dataset(cfg).fingerprint
        torch.set_num_threads(2)
        two = load_dataset(cfg).fingerprint
    finally:
        torch.set_num_threads(threads)
    assert one == two and len(one) == 64
