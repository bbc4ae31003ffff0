"""`steepest.load(best.pt)`: the saved network behind the saved preprocessing."""

import warnings

import pytest
import torch

import steepest
from steepest.config import DataConfig
from steepest.data.builtin import load_builtin
from steepest.data.images import load_images
from steepest.data.splits import random_split
from steepest.errors import UserError


def run_and_load(tmp_path, data: str, train: str = "", model: str = "", epochs: int = 15):
    path = tmp_path / "exp.toml"
    path.write_text(
        f"[data]\n{data}\n[model]\n{'' if 'cnn' in model else 'hidden = [16]'}\n{model}\n"
        f'[train]\nepochs = {epochs}\nout = "{tmp_path / "out"}"\n{train}\n'
    )
    run = steepest.train(path)
    return run, steepest.load(tmp_path / "out" / "best.pt")


def raw_test_split(cfg: DataConfig) -> torch.Tensor:
    """The test split's features as the built-in set has them, before any preprocessing,
    split as `load_dataset` splits them (the run's fractions and seed)."""
    examples = load_builtin(cfg.name)
    split = random_split(examples.y, examples.task, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    return examples.x[split.test]


def test_predictions_from_raw_features_match_the_runs_test_accuracy(tmp_path):
    run, model = run_and_load(
        tmp_path, 'name = "wine"\npreprocess = "standardize"\npca = 0.95', model="dropout = 0.2"
    )
    x_test = raw_test_split(run.experiments[0].data)
    accuracy = (model.predict(x_test) == run.dataset.y_test).float().mean().item()
    # features that happen to be small whole numbers are numbers as uint8 too, not pixels
    whole = x_test.round().clamp(0, 255)
    assert torch.equal(model.predict(whole.to(torch.uint8)), model.predict(whole))
    assert accuracy == pytest.approx(run.evaluate("test")["accuracy"])
    assert accuracy > 0.8
    assert model.labels(x_test[:3]) == [
        run.dataset.class_names[i] for i in model.predict(x_test[:3])
    ]
    # the raw columns (13 wine features), not PCA's, and NumPy arrays as well as tensors
    assert model.feature_names == load_builtin("wine").feature_names
    assert len(model.feature_names) == 13
    assert torch.equal(model.predict(x_test.numpy()), model.predict(x_test))
    with pytest.raises(UserError, match=r"inputs of shape \[27, 12\]; this model takes \[N, 13\]"):
        model.predict(x_test[:, :12])


def test_a_breast_cancer_run_gives_a_loadable_checkpoint(tmp_path):
    # breast_cancer names its columns with NumPy strings, which best.pt once pickled
    _, model = run_and_load(tmp_path, 'name = "breast_cancer"', epochs=1)
    assert model.feature_names[0] == "mean radius"


def raw_test_targets(cfg: DataConfig) -> torch.Tensor:
    """The test split's targets as the built-in set has them (before standardising)."""
    examples = load_builtin(cfg.name)
    split = random_split(examples.y, examples.task, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    return examples.y[split.test]


def test_regression_predicts_values_in_the_datas_units(tmp_path):
    run, model = run_and_load(tmp_path, 'name = "diabetes"', train='loss = "mse"')
    cfg = run.experiments[0].data
    x_test, y_test = raw_test_split(cfg), raw_test_targets(cfg)
    network_output = run.model()(run.dataset.x_test).squeeze(-1).double()  # standardised
    expected = run.dataset.target_shift + run.dataset.target_scale * network_output
    assert torch.allclose(model.predict(x_test), expected, atol=1e-3)
    rmse = ((model.predict(x_test) - y_test) ** 2).mean().sqrt().item()
    assert rmse == pytest.approx(run.evaluate("test")["rmse"], rel=1e-4)
    assert rmse < 0.85 * ((y_test - y_test.mean()) ** 2).mean().sqrt().item()
    with pytest.raises(UserError, match="regression"):
        model.labels(x_test)


def test_a_missing_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such checkpoint"):
        steepest.load(tmp_path / "best.pt")


def test_a_file_that_is_not_a_checkpoint_is_a_user_error(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,val_loss\n1,0.5\n")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    for name in ("history.csv", "other.pt"):
        with pytest.raises(UserError, match="not a checkpoint written by steepest"):
            steepest.load(tmp_path / name)


def test_image_pixels_may_come_as_uint8_integers_or_scaled_floats(tmp_path, digits_folder):
    """A CNN trained on image files takes uint8 pixels, integer lists of them, or floats
    already in [0, 1] alike; 0–255 floats would reach the network 255 times too bright
    (every prediction the same class) and are refused."""
    data = f'images = "{digits_folder}"\nimage_size = 8\ngrayscale = true'
    run, model = run_and_load(tmp_path, data, model='kind = "cnn"\nchannels = [4]', epochs=1)
    cfg = run.experiments[0].data
    examples = load_images(cfg)
    split = random_split(examples.y, examples.task, cfg.val_fraction, cfg.test_fraction, cfg.seed)
    pixels = examples.x[split.test][:20]
    expected = model.predict(pixels)
    assert torch.equal(expected, run.model()(run.dataset.x_test[:20]).argmax(1))
    assert torch.equal(model.predict(pixels.tolist()), expected)
    assert torch.equal(model.predict(pixels.float() / 255), expected)
    with pytest.raises(UserError, match=r"float pixels must lie in \[0, 1\]"):
        model.predict(pixels.float())
    # files, decoded as training decoded them (a read-only NumPy array passes quietly)
    threes = sorted((digits_folder / "3").iterdir())[:5]
    decoded = model.read_images(threes)
    torch.testing.assert_close(decoded, examples.x[examples.y == 3][:5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_only = decoded.numpy()
        read_only.flags.writeable = False
        assert torch.equal(model.predict(read_only), model.predict(decoded))
    with pytest.raises(UserError, match=r"read_images\(\): .*nothing.png: no such file"):
        model.read_images([tmp_path / "nothing.png"])
    (tmp_path / "text.png").write_text("not pixels")
    with pytest.raises(UserError, match=r"read_images\(\): .*text.png: not an image Pillow"):
        model.read_images([tmp_path / "text.png"])
    assert torch.equal(model.read_images(str(threes[0])), decoded[:1])  # one path, not letters
    with pytest.raises(UserError, match=r"read_images\(\): no files given"):
        model.read_images([])
    with pytest.raises(UserError, match=r"read_images\(\): .*3: a folder: give its image files"):
        model.read_images(digits_folder / "3")
    with pytest.raises(UserError, match=r"predict: row 0 holds NaN"):  # NaN is not in [0, 1]
        model.predict(torch.full((1, 1, 8, 8), float("nan")))


def test_read_images_needs_a_model_of_image_files(tmp_path):
    _, model = run_and_load(tmp_path, 'name = "iris"', epochs=1)
    with pytest.raises(UserError, match="not trained on image files"):
        model.read_images(["a.png"])


def test_regression_keeps_the_digits_of_targets_far_from_zero(tmp_path):
    """Targets of 1e6 ± 0.03 train in float64 (scaled), and predictions come back in
    float64 too: in float32 they stepped by 1/16 and their RMSE was 26 times the run's."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(200, 2, generator=generator, dtype=torch.float64)
    y = 1e6 + 0.03 * x[:, 0] - 0.02 * x[:, 1]
    rows = "\n".join(f"{a:.6f},{b:.6f},{t:.6f}" for (a, b), t in zip(x.tolist(), y.tolist()))
    (tmp_path / "big.csv").write_text("a,b,y\n" + rows + "\n")
    data = 'csv = "big.csv"\ntarget = "y"'
    train = 'loss = "mse"\noptimizer = "adam"\nlr = 0.05'
    path = tmp_path / "exp.toml"
    path.write_text(
        f"[data]\n{data}\n[model]\nhidden = []\n[train]\nepochs = 30\n{train}\n"
        f'out = "{tmp_path / "out"}"\n'
    )
    run = steepest.train(path)
    model = steepest.load(tmp_path / "out" / "best.pt")
    predicted = model.predict(x)
    assert predicted.dtype == torch.float64
    rmse = ((predicted - y) ** 2).mean().sqrt().item()
    assert rmse < 0.002  # the targets' spread is 0.01; float32 steps of 1/16 gave 0.019
    assert len(set(predicted.tolist())) > 150
    assert run.evaluate("test")["rmse"] < 0.002


def test_inputs_no_network_can_answer_are_refused_in_one_line(tmp_path):
    """NaN or infinite features gave NaN outputs, whose argmax is class 0: a confident
    answer to nothing. Text in a NumPy array (a CSV read by csv.reader) is named by its
    dtype, not as a wrong type of array."""
    import numpy as np

    _, model = run_and_load(tmp_path, 'name = "iris"', epochs=1)
    rows = torch.tensor([[5.1, 3.5, 1.4, 0.2], [6.7, float("nan"), 5.2, 2.3]])
    with pytest.raises(UserError, match=r"predict: row 1 holds NaN or infinity"):
        model.predict(rows)
    with pytest.raises(UserError, match=r"predict: row 0 holds NaN or infinity"):
        model.labels([[float("inf"), 1.0, 1.0, 1.0]])
    with pytest.raises(UserError, match=r"a NumPy array of <U3; expected numbers"):
        model.predict(np.array([["5.1", "3.5", "1.4", "0.2"]]))
