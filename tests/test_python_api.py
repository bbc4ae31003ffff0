"""The Python API's own mistakes and courtesies: what a notebook passes that no file can."""

import numpy as np
import pytest
import torch

import steepest
from steepest.errors import UserError
from steepest.gradcheck import gradcheck
from steepest.tune.run import tune

IRIS = {"data": {"name": "iris"}, "model": {"hidden": [4]}, "train": {"epochs": 1}}


@pytest.mark.parametrize(
    ("experiments", "message"),
    [
        ({"data": {"name": "iris"}, "model": "mlp"}, "[model] = 'mlp': expected a table"),
        ({"data": {"name": "iris"}, "train": [1]}, "[train] = [1]: expected a table"),
        (5, "experiments = 5: expected a file's path, a dict, an Experiment, or a list"),
        ([IRIS, "x"], "experiments = [{"),
    ],
)
def test_what_train_cannot_take_is_one_line(experiments, message):
    with pytest.raises(UserError) as caught:
        steepest.train(experiments, write=False)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_list_of_dicts_trains_each(tmp_path):
    second = {**IRIS, "train": {"epochs": 1, "lr": 0.1}}
    run = steepest.train([IRIS, second], write=False)
    assert len(run.results) == 2


def test_a_numpy_population_is_a_number_and_true_is_not():
    assert len(steepest.train(IRIS, population=np.int64(1), write=False).results) == 1
    with pytest.raises(UserError, match=r"population = True: expected at least 1 member"):
        steepest.train(IRIS, population=True, write=False)


def test_a_failed_run_without_writing_leaves_no_folder(tmp_path):
    out = tmp_path / "runs" / "x"
    broken = {**IRIS, "train": {"epochs": 1, "out": str(out), "loss": "mse"}}  # classes
    with pytest.raises(UserError):
        steepest.train(broken, write=False)
    assert not (tmp_path / "runs").exists()


def test_loading_a_checkpoint_leaves_the_callers_random_state_alone(tmp_path):
    steepest.train({**IRIS, "train": {"epochs": 1, "out": str(tmp_path)}})
    before = torch.get_rng_state()
    predictor = steepest.load(tmp_path / "best.pt")
    assert torch.equal(torch.get_rng_state(), before)
    for bad in ("abc", None):
        with pytest.raises(UserError, match=r"^predict: inputs of type"):
            predictor.predict(bad)


def test_tune_arguments_and_optimizer_values_of_the_wrong_type_are_one_line(tmp_path):
    study = {**IRIS, "tune": {"study": "s", "space": {"lr": {"type": "fixed", "value": 0.1}}}}
    for name, value in (("seed", "1"), ("trials", "2")):
        with pytest.raises(UserError, match=f"^{name} = '{value}': expected a whole number"):
            tune(study, storage=str(tmp_path / "s.log"), **{name: value})
    params = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(UserError, match=r"Adam: lr='0.1': expected a number, not text"):
        steepest.optim.Adam(params, lr="0.1")
    with pytest.raises(UserError, match=r"^module = <class .*: expected an nn.Module instance"):
        gradcheck(torch.nn.Linear, torch.nn.functional.mse_loss, torch.zeros(1), torch.zeros(1))
