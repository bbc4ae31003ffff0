"""Search spaces: conditional parameters, coarse-to-fine narrowing, grid, validation."""

import math
import re

import optuna
import pytest

from steepest.config import ParamSpec
from steepest.errors import UserError
from steepest.tune.space import Range, SearchSpace, apply_params, narrow


def spec(**kwargs) -> ParamSpec:
    return ParamSpec(**kwargs)


def conditional_space() -> SearchSpace:
    return SearchSpace(
        {
            "optimizer": spec(type="choice", values=["momentum", "adam"]),
            "momentum": spec(type="uniform", low=0.5, high=0.99, when={"optimizer": "momentum"}),
            "beta1": spec(type="uniform", low=0.8, high=0.95, when={"optimizer": ["adam"]}),
            "hidden": spec(type="choice", values=[[16], [32, 16]]),
        }
    )


def test_conditional_space_never_suggests_orphan_params():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(40):
        trial = study.ask()
        params = conditional_space().suggest(trial)
        seen.add(params["optimizer"])
        assert ("momentum" in params) == (params["optimizer"] == "momentum")
        assert ("beta1" in params) == (params["optimizer"] == "adam")
        assert set(trial.params) == set(params)
        assert params["hidden"] in ([16], [32, 16])
        study.tell(trial, 0.0)
    assert seen == {"momentum", "adam"}


def test_condition_must_refer_to_an_earlier_parameter():
    with pytest.raises(UserError, match="momentum.when: 'optimizer' must be a parameter listed"):
        SearchSpace(
            {"momentum": spec(type="uniform", low=0, high=0.9, when={"optimizer": "momentum"})}
        )


def test_unknown_parameter_is_refused():
    with pytest.raises(UserError, match="gamma: not a searchable key"):
        SearchSpace({"gamma": spec(type="uniform", low=0, high=1)})


@pytest.mark.parametrize("name", ["monitor", "population", "device", "out"])
def test_a_run_setting_is_not_searchable(name):
    """The study's objective and the run's resources are one per study, not per trial."""
    with pytest.raises(UserError, match=f"{name}: not a searchable key"):
        SearchSpace({name: spec(type="choice", values=["a", "b"])})


def test_bounds_are_checked_against_the_config_schema():
    space = SearchSpace({"momentum": spec(type="uniform", low=0.5, high=1.5)})
    with pytest.raises(UserError, match=r"momentum = 1.5: \[train\] momentum"):
        space.check_against({"data": {"name": "digits"}})


def test_narrowing_takes_the_span_of_the_best_widened_by_the_margin():
    ranges = {
        "lr": Range(1e-4, 1.0, log=True, integer=False),
        "momentum": Range(0.0, 0.99, log=False, integer=False),
        "width": Range(8, 512, log=False, integer=True),
    }
    best = [
        {"lr": 1e-3, "momentum": 0.8, "width": 100},
        {"lr": 1e-2, "momentum": 0.9, "width": 140},
    ]
    out = narrow(ranges, best, margin=0.1)
    span = math.log(1e-2) - math.log(1e-3)
    assert out["lr"].low == pytest.approx(math.exp(math.log(1e-3) - 0.1 * span))
    assert out["lr"].high == pytest.approx(math.exp(math.log(1e-2) + 0.1 * span))
    assert out["momentum"].low == pytest.approx(0.79)
    assert out["momentum"].high == pytest.approx(0.91)
    assert (out["width"].low, out["width"].high) == (96, 144)
    clipped = narrow({"m": Range(0.0, 0.9, False, False)}, [{"m": 0.85}, {"m": 0.9}], 1.0)
    assert clipped["m"].high == 0.9


def test_a_single_best_value_keeps_margin_of_the_range_widened_by_margin():
    """(margin + 2·margin²) of the old range, centred on the value: 12 % at margin 0.1
    (margin applied twice left 2 %, and 0.04 % a stage later)."""
    ranges = {"lr": Range(1e-4, 1.0, log=True, integer=False), "m": Range(0.0, 1.0, False, False)}
    out = narrow(ranges, [{"lr": 1e-2, "m": 0.5}], margin=0.1)
    assert (out["m"].low, out["m"].high) == (pytest.approx(0.44), pytest.approx(0.56))
    width = math.log(out["lr"].high) - math.log(out["lr"].low)
    assert width == pytest.approx(0.12 * (math.log(1.0) - math.log(1e-4)))
    assert math.sqrt(out["lr"].low * out["lr"].high) == pytest.approx(1e-2)


def test_grid_needs_listed_values():
    assert SearchSpace({"lr": spec(type="choice", values=[0.1, 0.01])}).grid() == {
        "lr": [0.1, 0.01]
    }
    with pytest.raises(UserError, match="sampler 'grid' needs choice values"):
        SearchSpace({"lr": spec(type="loguniform", low=1e-3, high=1)}).grid()


def test_params_land_in_their_sections():
    raw = {"data": {"name": "digits"}, "tune": {"space": {}}}
    out = apply_params(raw, {"lr": 0.1, "hidden": [8]})
    assert out["train"]["lr"] == 0.1 and out["model"]["hidden"] == [8]
    assert "tune" not in out and "train" not in raw


def test_augmentation_params_land_in_data_augment_and_leave_the_file_alone():
    raw = {"data": {"images": "photos", "augment": {"flip": True}}, "tune": {"space": {}}}
    out = apply_params(raw, {"crop_padding": 2, "lr": 0.1})
    assert out["data"]["augment"] == {"flip": True, "crop_padding": 2}
    assert raw["data"]["augment"] == {"flip": True}
    space = SearchSpace({"crop_padding": spec(type="choice", values=[0, -1])})
    with pytest.raises(UserError, match=r"crop_padding = -1: \[data\] augment.crop_padding"):
        space.check_against({"data": {"name": "digits"}})


def test_a_stepped_range_narrows_on_its_grid_and_keeps_the_best():
    ranges = {
        "momentum": Range(0.1, 0.9, log=False, integer=False, step=0.2),
        "epochs": Range(1, 9, log=False, integer=True, step=4),
    }
    out = narrow(ranges, [{"momentum": 0.5, "epochs": 9}], margin=0.1)
    assert (out["momentum"].low, out["momentum"].high) == (0.3, 0.7)
    assert (out["epochs"].low, out["epochs"].high) == (5, 9)
    # Optuna takes the narrowed range as it is: a whole number of steps
    assert optuna.distributions.FloatDistribution(0.3, 0.7, step=0.2).high == 0.7
    out = narrow(ranges, [{"momentum": 0.1, "epochs": 1}], margin=0.1)
    assert (out["momentum"].low, out["momentum"].high) == (0.1, 0.3)
    assert (out["epochs"].low, out["epochs"].high) == (1, 5)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (dict(type="uniform", low=0.1, high=0.9, step=0), "lr: step = 0: expected a step > 0"),
        (dict(type="int", low=1, high=9, step=-2), "lr: step = -2: expected a step > 0"),
        (
            dict(type="uniform", low=0.1, high=0.9, step=0.1, log=True),
            "lr: step = 0.1: a log-scaled range takes no step",
        ),
        (
            dict(type="loguniform", low=0.1, high=0.9, step=0.1),
            "lr: step = 0.1: a log-scaled range takes no step",
        ),
        (
            dict(type="int", low=1, high=64, step=2, log=True),
            "lr: step = 2: a log-scaled range takes no step",
        ),
        (dict(type="int", low=1.5, high=9), "lr: low = 1.5: an int range needs whole numbers"),
        (dict(type="int", low=1, high=9, step=1.5), "lr: step = 1.5: an int range needs whole"),
        (
            dict(type="uniform", low=0.1, high=0.2, step=0.5),
            "lr: step = 0.5 is wider than the range 0.1 to 0.2",
        ),
    ],
)
def test_a_range_optuna_would_refuse_or_change_is_refused(entry, message):
    with pytest.raises(UserError, match=f"^\\[tune.space\\] {re.escape(message)}"):
        SearchSpace({"lr": spec(**entry)})


def test_an_int_log_range_with_step_one_is_accepted():
    SearchSpace({"batch_size": spec(type="int", low=4, high=64, log=True, step=1)})


@pytest.mark.parametrize(
    ("parent", "when", "message"),
    [
        (
            spec(type="choice", values=["sgd", "momentum"]),
            {"optimizer": "momentun"},
            "optimizer = 'momentun' never happens (optimizer takes one of ['sgd', 'momentum'])",
        ),
        (
            spec(type="choice", values=["sgd", "momentum"]),
            {"optimizer": ["sgd", "adam"]},
            "optimizer = 'adam' never happens",
        ),
        (
            spec(type="fixed", value="sgd"),
            {"optimizer": "adam"},
            "optimizer = 'adam' never happens (optimizer takes only 'sgd')",
        ),
    ],
)
def test_a_condition_its_parent_never_meets_is_refused(parent, when, message):
    entries = {"optimizer": parent, "lr": spec(type="uniform", low=0.1, high=0.9, when=when)}
    with pytest.raises(UserError, match=re.escape(f"[tune.space] lr.when: {message}")):
        SearchSpace(entries)


def test_a_condition_on_a_numeric_range_must_lie_in_it():
    parent = spec(type="int", low=1, high=9)
    child = spec(type="uniform", low=0.1, high=0.9, when={"epochs": 12})
    with pytest.raises(UserError, match=r"epochs = 12 never happens \(epochs takes values from"):
        SearchSpace({"epochs": parent, "lr": child})
    SearchSpace({"epochs": parent, "lr": child.model_copy(update={"when": {"epochs": 9}})})
    stepped = spec(type="int", low=2, high=10, step=4)  # 2, 6, 10
    with pytest.raises(UserError, match=r"epochs = 5 never happens .* in steps of 4"):
        SearchSpace({"epochs": stepped, "lr": child.model_copy(update={"when": {"epochs": 5}})})
    SearchSpace({"epochs": stepped, "lr": child.model_copy(update={"when": {"epochs": 6}})})


def test_a_condition_on_a_continuous_range_or_a_lists_value_is_named():
    child = spec(type="uniform", low=0.5, high=0.9, when={"lr": 0.05})
    with pytest.raises(UserError, match=r"lr is drawn from a continuous range, so it never"):
        SearchSpace({"lr": spec(type="uniform", low=0.01, high=0.1), "momentum": child})
    widths = spec(type="choice", values=[[16, 8], [32]])
    child = spec(type="uniform", low=0.5, high=0.9, when={"hidden": [16, 8]})
    with pytest.raises(UserError, match=re.escape("write when = { hidden = [[16, 8]] }")):
        SearchSpace({"hidden": widths, "momentum": child})


def test_an_empty_space_is_refused():
    with pytest.raises(UserError, match=r"^\[tune.space\]: empty; list at least one key"):
        SearchSpace({})
