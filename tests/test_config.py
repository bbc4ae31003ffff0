"""Experiment files: validation messages, grids, and the CLI's exit status 2."""

import math
import re
import tomllib
from pathlib import Path

import pytest

from steepest.cli import main
from steepest.config import expand_grid, load_experiments
from steepest.errors import UserError

DIGITS = {"data": {"name": "digits"}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({**DIGITS, "train": {"lr": "0.1"}}, "[train] lr = '0.1': expected a valid number"),
        ({**DIGITS, "train": {"epochs": "3"}}, "[train] epochs = '3': expected a valid integer"),
        ({**DIGITS, "model": {"hidden": ["16"]}}, "[model] hidden.0 = '16': expected a valid"),
        (
            {**DIGITS, "model": {"batch_norm": 1}},
            "[model] batch_norm = 1: expected a valid boolean",
        ),
        ({**DIGITS, "train": {"lr": math.inf}}, "[train] lr = inf: expected a finite number"),
        ({**DIGITS, "train": {"l2": math.nan}}, "[train] l2 = nan: expected a finite number"),
        ({**DIGITS, "train": {"out": ""}}, "[train] out = '': expected a path, not an empty"),
        ({**DIGITS, "train": {"out": 5}}, "[train] out = 5: expected a path (text)"),
        ({**DIGITS, "train": {"epochs": 10**7}}, "[train] epochs = 10000000: expected less than"),
        (
            {"data": {"name": "digits", "seed": 2**64}},
            "[data] seed = 18446744073709551616: expected less than 9223372036854775808",
        ),
        ({**DIGITS, "train": {"schedule": {"lr": 3}}}, "[train] schedule.lr = 3: expected a table"),
        ({**DIGITS, "tune": {"spac": {}}}, "[tune] spac: unknown key"),  # not "space: missing"
        (  # one path to the key, as for any other of its mistakes
            {"data": {"name": "digits_images", "augment": {"crop_padding": True}}},
            "[data] augment.crop_padding = true: expected a number, not true",
        ),
    ],
)
def test_text_for_numbers_infinities_and_other_stretches_are_refused(raw, message):
    """Lax pydantic read "0.1" as 0.1 and 1 as true; inf trained to NaN and blamed lr."""
    with pytest.raises(UserError) as error:
        expand_grid(raw)
    assert str(error.value).startswith(message)


def test_ints_for_floats_and_text_for_paths_are_kept():
    experiment = expand_grid({**DIGITS, "train": {"lr": 1, "out": "runs/x"}})[0]
    assert experiment.train.lr == 1.0 and experiment.train.out == Path("runs/x")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"data": {"name": "digitz"}}, "[data] name = 'digitz': expected 'digits'"),
        ({**DIGITS, "train": {"lr": -0.1}}, "[train] lr = -0.1: expected greater than 0"),
        ({**DIGITS, "train": {"lrr": 0.1}}, "[train] lrr = 0.1: unknown key"),
        ({**DIGITS, "train": {"optimizer": "adamm"}}, "[train] optimizer = 'adamm': expected"),
        ({**DIGITS, "train": {"loss": "squared"}}, "[train] loss = 'squared': expected"),
        ({**DIGITS, "model": {"activation": "swish"}}, "[model] activation = 'swish': expected"),
        (
            {**DIGITS, "train": {"epochs": "ten"}},
            "[train] epochs = 'ten': expected a valid integer",
        ),
        ({**DIGITS, "model": {"dropout": 1.0}}, "[model] dropout = 1.0: expected less than 1"),
        ({"data": {}}, "[data] give exactly one of name, csv or images (got none)"),
        ({"data": {"csv": "x.csv"}}, "csv needs target"),
        ({**DIGITS, "train": {"schedule": {"gamma": {"kind": "step"}}}}, "schedule.gamma"),
        (
            {**DIGITS, "tune": {"space": {"lr": {"type": "uniform", "low": 1, "high": 0}}}},
            "[tune] space.lr",
        ),
        # a union: what each of its branches takes, not pydantic's branch names
        (
            {**DIGITS, "train": {"batch_size": "all"}},
            "[train] batch_size = 'all': expected a valid integer or 'full'",
        ),
        (
            {**DIGITS, "train": {"population": 0}},
            "[train] population = 0: expected greater than 0 or 'auto'",
        ),
        (
            {**DIGITS, "train": {"schedule": {"lr": {"kind": "step", "epochs": 0}}}},
            "[train] schedule.lr.epochs = 0: expected greater than 0",
        ),
        ({**DIGITS, "model": {"hiden": [8]}}, "[model] hiden = [8]: unknown key"),
        # true/false is no number (pydantic would read 1 and 0)
        ({**DIGITS, "train": {"epochs": True}}, "[train] epochs = true: expected a number"),
        ({**DIGITS, "train": {"batch_size": False}}, "[train] batch_size = false: expected a"),
        # a schedule keeps its hyperparameter where the key itself must be
        (
            {**DIGITS, "train": {"schedule": {"momentum": {"kind": "linear", "end": 1.5}}}},
            "[train] schedule.momentum: reaches 1.02 at epoch 5; momentum must stay in [0, 1)",
        ),
        (
            {
                **DIGITS,
                "train": {
                    "optimizer": "adam",
                    "schedule": {"beta1": {"kind": "step", "factor": 1.2}},
                },
            },
            "[train] schedule.beta1: reaches 1.08 at epoch 11; beta1 must stay in [0, 1)",
        ),
        (
            {**DIGITS, "train": {"schedule": {"lr": {"kind": "linear", "end": -0.1}}}},
            "[train] schedule.lr: reaches -0.0025 at epoch 8; lr must stay in [0, inf)",
        ),
        (
            {**DIGITS, "train": {"schedule": {"lr": {"kind": "step", "start": 0.1}}}},
            "[train] schedule.lr: schedule step: start/end belong to kind linear",
        ),
    ],
)
def test_bad_values_name_key_value_and_expectation(raw, message):
    with pytest.raises(UserError) as error:
        expand_grid(raw)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"data": {"name": "digits_images"}, "model": {"kind": "cnn", "hidden": [64]}},
            "[model] hidden: no member reads it (kind = 'cnn'; it applies to kind = 'mlp')",
        ),
        (
            {**DIGITS, "model": {"maxout_pieces": 3}},
            "[model] maxout_pieces: no member reads it (activation = 'relu'; kind = 'mlp'; "
            "hidden = [128]; it applies to activation = 'maxout'",
        ),
        ({**DIGITS, "train": {"huber_delta": 2.0}}, "[train] huber_delta: no member reads it"),
        (
            {**DIGITS, "model": {"hidden": [], "dropout": 0.5}},
            "[model] dropout: no member reads it (kind = 'mlp'; hidden = []; it applies to a "
            "CNN, or an MLP with a hidden layer: dropout drops hidden units, never the inputs)",
        ),
        (
            {**DIGITS, "train": {"optimizer": "sgd", "momentum": [0.0, 0.9]}},
            "[train] momentum: no member reads it (optimizer = 'sgd'; it applies to "
            "optimizer = 'momentum', 'nesterov', 'rmsprop')",
        ),
        (
            {**DIGITS, "train": {"optimizer": "lbfgs", "weight_decay": 0.5}},
            "[train] weight_decay: no member reads it (optimizer = 'lbfgs'; it applies to",
        ),
        (
            {**DIGITS, "train": {"optimizer": "sgd", "beta1": 0.8}},
            "[train] beta1: no member reads it (optimizer = 'sgd'; it applies to optimizer = "
            "'adam', 'adamw')",
        ),
        (
            {
                **DIGITS,
                "train": {
                    "optimizer": "adam",
                    "schedule": {"momentum": {"kind": "linear", "start": 0.5, "end": 0.99}},
                },
            },
            "[train.schedule.momentum] momentum: no member reads it (optimizer = 'adam'",
        ),
        (
            {**DIGITS, "model": {"hidden": [], "batch_norm": True}},
            "[model] batch_norm: no member reads it (kind = 'mlp'; hidden = []; it applies to "
            "a network with hidden layers or conv blocks)",
        ),
        (
            {**DIGITS, "model": {"hidden": [], "activation": "tanh"}},
            "[model] activation: no member reads it (kind = 'mlp'; hidden = [];",
        ),
        (
            {
                "data": {"name": "digits_images"},
                "model": {"kind": "cnn", "channels": [], "pool": "avg"},
            },
            "[model] pool: no member reads it (kind = 'cnn'; channels = []; it applies to a CNN",
        ),
        (
            {**DIGITS, "train": {"elastic_alpha": 0.9}},
            "[train] elastic_alpha: no member reads it (elastic_net = 0.0; it applies to",
        ),
        (  # not "reaches 1.08", from [train]'s 0.9 that sgd never reads
            {
                **DIGITS,
                "train": {
                    "optimizer": "sgd",
                    "schedule": {"momentum": {"kind": "step", "every": 1, "factor": 1.2}},
                },
            },
            "[train.schedule.momentum] momentum: no member reads it (optimizer = 'sgd'",
        ),
    ],
)
def test_a_key_no_member_reads_is_refused(raw, message):
    with pytest.raises(UserError) as error:
        expand_grid(raw)
    assert message in str(error.value)


def test_a_schedule_starts_where_the_rule_does_when_its_key_is_unset():
    """RMSProp's momentum is torch's 0 unless set: a step schedule ×1.2 keeps it at 0,
    where [train]'s 0.9 would reach 1.08 (refused for a value no epoch would see)."""
    step = {"kind": "step", "every": 1, "factor": 1.2}
    raw = {**DIGITS, "train": {"optimizer": "rmsprop", "epochs": 3, "schedule": {"momentum": step}}}
    assert expand_grid(raw)[0].train.optimizer == "rmsprop"
    raw["train"]["momentum"] = 0.9
    with pytest.raises(UserError, match="reaches 1.08 at epoch 2; momentum must stay in"):
        expand_grid(raw)


def test_a_key_one_member_of_a_grid_reads_is_kept():
    raw = {"data": {"name": "digits_images"}, "model": {"kind": ["mlp", "cnn"], "hidden": [8]}}
    assert [e.model.kind for e in expand_grid(raw)] == ["mlp", "cnn"]
    raw = {**DIGITS, "model": {"hidden": [[], [8]], "dropout": 0.5, "batch_norm": True}}
    assert [e.model.hidden for e in expand_grid(raw)] == [[], [8]]
    raw = {**DIGITS, "train": {"elastic_net": [0.0, 1e-4], "elastic_alpha": 0.9}}
    assert len(expand_grid(raw)) == 2
    raw = {**DIGITS, "train": {"optimizer": ["sgd", "rmsprop"], "momentum": 0.5, "eps": 1e-6}}
    assert [e.train.optimizer for e in expand_grid(raw)] == ["sgd", "rmsprop"]


def test_lists_expand_to_the_grid_in_file_order():
    raw = {
        **DIGITS,
        "model": {"hidden": [[8], [16, 16]]},
        "train": {"lr": [0.1, 0.01], "optimizer": ["sgd", "adam"]},
    }
    experiments = expand_grid(raw)
    assert len(experiments) == 8
    assert experiments[0].model.hidden == [8]
    assert [e.train.lr for e in experiments[:2]] == [0.1, 0.1]
    assert {(e.train.lr, e.train.optimizer) for e in experiments} == {
        (lr, o) for lr in (0.1, 0.01) for o in ("sgd", "adam")
    }


def test_a_list_valued_field_is_not_a_sweep():
    assert len(expand_grid({**DIGITS, "model": {"hidden": [64, 32]}})) == 1


def test_data_paths_are_relative_to_the_file_and_must_exist(tmp_path):
    (tmp_path / "t.csv").write_text("a,y\n1,0\n")
    (tmp_path / "ok.toml").write_text('[data]\ncsv = "t.csv"\ntarget = "y"\n')
    assert load_experiments(tmp_path / "ok.toml")[0].data.csv == tmp_path / "t.csv"
    (tmp_path / "bad.toml").write_text('[data]\ncsv = "missing.csv"\ntarget = "y"\n')
    with pytest.raises(UserError, match="no such file"):
        load_experiments(tmp_path / "bad.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[data\nname=1", "not valid TOML"),
        ("[model]\nhidden = [8]\n", "missing [data] section"),
        ('[data]\nname = "digits"\n[train]\nlr = -1\n', "[train] lr = -1"),
        (
            '[data]\nname = "digits"\n[train]\nmomentom = 0.9\n',
            "[train] momentom = 0.9: unknown key",
        ),
        (
            '[data]\nname = "digits"\n[tune]\ntrials = 3\n',
            "steepest: error: [tune] space: missing, and it has no default\n",
        ),
    ],
)
def test_cli_turns_a_bad_file_into_one_line_and_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "exp.toml"
    path.write_text(text)
    assert main(["train", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_missing_file_exit_2(capsys, tmp_path):
    assert main(["train", str(tmp_path / "nope.toml")]) == 2
    assert "no such experiment file" in capsys.readouterr().err


def test_the_readmes_experiment_file_is_valid():
    """The README's annotated experiment file, every key in it, validates as written."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"### An experiment file\n.*?```toml\n(.*?)```", readme, re.S)
    experiments = expand_grid(tomllib.loads(block.group(1)))
    assert len(experiments) == 1
    assert experiments[0].train.schedule["momentum"].end == 0.99


def test_numpy_scalars_from_a_python_caller_are_plain_values():
    np = pytest.importorskip("numpy")
    raw = {
        **DIGITS,
        "model": {"hidden": [np.int64(8)], "batch_norm": np.True_},
        "train": {"seed": list(np.arange(2)), "batch_size": np.int32(16), "lr": np.float32(0.5)},
    }
    experiments = expand_grid(raw)
    assert [e.train.seed for e in experiments] == [0, 1]
    assert type(experiments[0].model.hidden[0]) is int and experiments[0].model.batch_norm is True
    assert experiments[0].train.batch_size == 16 and experiments[0].train.lr == 0.5
