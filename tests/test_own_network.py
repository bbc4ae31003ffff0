"""`steepest.train(..., model=...)`: a user's own nn.Module trained as a population,
its torch dropout made reproducible per member, checked up front, saved and loaded."""

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import steepest
from steepest.cli import main
from steepest.config import load_experiments
from steepest.errors import UserError
from steepest.nn.dropout import Dropout
from steepest.nn.user import network_from
from steepest.tune.run import retrain_best, tune

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Something no [model] section builds: a skip connection, layer norm, torch's own dropout
ResidualMLP = network_from(f"{EXAMPLES / 'nets.py'}:ResidualMLP")


class Residual(ResidualMLP):
    """examples/nets.py's network sized for iris, dropping 0.2."""

    def __init__(self, inputs: int = 4, width: int = 16, classes: int = 3) -> None:
        super().__init__(inputs, width, classes, dropout=0.2)


def experiment(tmp_path, lr: float | list[float] = 0.05, **train: object) -> dict:
    return {
        "data": {"name": "iris"},
        "train": {"lr": lr, "epochs": 30, "batch_size": 16, "out": str(tmp_path), **train},
    }


def test_members_of_your_network_train_as_they_would_alone(tmp_path):
    """Ten epochs of three learning rates under vmap against each run alone (the module
    itself, no vmap): float32 kernels that differ only in rounding."""
    lrs = [0.1, 0.03, 0.01]
    together = steepest.train(experiment(tmp_path, lrs, epochs=10), model=Residual, write=False)
    assert together.best.best_value > 0.85
    for member_id, lr in enumerate(lrs):
        alone = steepest.train(experiment(tmp_path, lr, epochs=10), model=Residual, write=False)
        mine = [row for row in together.history if row["member"] == member_id]
        assert len(mine) == len(alone.history) == 10
        for a, b in zip(mine, alone.history, strict=True):
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
            assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)


def test_the_networks_dropout_becomes_keyed_and_keeps_its_rate(tmp_path):
    run = steepest.train(experiment(tmp_path, epochs=2), model=Residual, write=False)
    model = run.model()
    assert isinstance(model, Residual) and isinstance(model.drop, Dropout)
    assert model.drop.rate.item() == pytest.approx(0.2)
    overridden = {**experiment(tmp_path, epochs=2), "model": {"dropout": 0.5}}
    assert steepest.train(overridden, model=Residual, write=False).model().drop.rate.item() == 0.5


def test_the_saved_run_loads_with_the_same_function(tmp_path):
    steepest.train(experiment(tmp_path, epochs=5), model=Residual)
    with pytest.raises(UserError, match="a run of your own network; pass its model="):
        steepest.load(tmp_path / "best.pt")
    predictor = steepest.load(tmp_path / "best.pt", model=Residual)
    raw = torch.tensor([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    assert predictor.labels(raw) == ["setosa", "virginica"]
    # what does not fit is named, in one line: torch's message spreads it over several
    with pytest.raises(UserError) as narrower:
        steepest.load(tmp_path / "best.pt", model=lambda: Residual(width=8))
    message = str(narrower.value)
    assert "its weights do not fit this network (other shapes: " in message
    assert "saved [16, 4], here [8, 4]" in message and "\n" not in message
    with pytest.raises(UserError, match=r"not in this network: .*weight"):
        steepest.load(tmp_path / "best.pt", model=lambda: nn.Sequential(nn.Linear(4, 3)))


@pytest.mark.parametrize(
    ("network", "message"),
    [
        (lambda: Residual(inputs=5), "model: your network fails on 2 examples of shape (4,): "),
        (
            lambda: Residual(classes=2),
            "model: your network's output for 2 examples is (2, 2); "
            "iris with loss 'cross_entropy' needs (2, 3)",
        ),
    ],
    ids=["wrong input", "wrong output"],
)
def test_a_network_that_does_not_fit_the_data_is_one_line(tmp_path, network, message):
    with pytest.raises(UserError) as caught:
        steepest.train(experiment(tmp_path), model=network, write=False)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_model_keys_beside_your_network_are_refused_as_beside_a_module(tmp_path):
    """[model] is replaced by model=, so its keys would be ignored; dropout still applies."""
    given = {**experiment(tmp_path), "model": {"hidden": [4], "activation": "tanh"}}
    with pytest.raises(UserError, match=r"^\[model\] activation, hidden: not used with your own"):
        steepest.train(given, model=Residual, write=False)
    tuned = {
        **given,
        "tune": {"trials": 1, "study": "s", "space": {"lr": {"type": "fixed", "value": 0.1}}},
    }
    with pytest.raises(UserError, match=r"^\[model\] activation, hidden: not used with your own"):
        tune(tuned, storage=str(tmp_path / "s.log"), model=Residual)
    assert not (tmp_path / "s.log").exists()


class InPlaceCounter(Residual):
    """Writes a plain tensor attribute in place during forward: fine alone, not under vmap."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.add_(x.sum())
        return super().forward(x)


def test_a_network_vmap_cannot_run_is_told_to_train_alone(tmp_path):
    with pytest.raises(UserError, match=r"cannot run as a population .*population = 1"):
        steepest.train(experiment(tmp_path, [0.1, 0.01]), model=InPlaceCounter, write=False)
    run = steepest.train(experiment(tmp_path, population=1, epochs=2), model=InPlaceCounter)
    assert run.best.best_value is not None


STUDY = """
[data]
name = "iris"
[train]
epochs = 8
batch_size = 16
[tune]
sampler = "tpe"
pruner = "median"
trials = 8
seed = 0
startup_trials = 3
[tune.space]
lr = {{ type = "loguniform", low = 1e-3, high = 0.3 }}
{extra}
"""


def test_a_study_tunes_your_network(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # --final's run goes to runs/
    path = tmp_path / "study.toml"
    path.write_text(STUDY.format(extra='dropout = { type = "uniform", low = 0.0, high = 0.5 }'))
    result = tune(path, storage=str(tmp_path / "s.log"), model=Residual)
    assert len(result.study.trials) == 8 and result.summary["best_value"] > 0.8
    final = retrain_best(path, result.study, model=Residual)
    assert final["val"] == pytest.approx(result.summary["best_value"], abs=1e-6)


def test_a_study_of_your_network_cannot_search_model_keys(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(STUDY.format(extra='hidden = { type = "choice", values = [[8], [16]] }'))
    with pytest.raises(UserError, match=r"\[tune.space\] hidden: a \[model\] key, but your own"):
        tune(path, storage=str(tmp_path / "s.log"), model=Residual)


NETS = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 12), nn.GELU(), nn.Dropout(0.1), nn.Linear(12, 3))

    def forward(self, x):
        return self.body(x)
"""


def write_experiment(tmp_path, model_lines: str, extra: str = "") -> Path:
    (tmp_path / "nets.py").write_text(NETS)
    path = tmp_path / "exp.toml"
    path.write_text(
        f'[data]\nname = "iris"\n[model]\n{model_lines}\n'
        f'[train]\nepochs = 5\nbatch_size = 16\nlr = [0.1, 0.03]\nout = "{tmp_path / "o"}"\n'
        + extra
    )
    return path


def test_a_network_named_in_the_file_trains_from_the_command(tmp_path, capsys):
    """`[model] module = "nets.py:Net"`, relative to the experiment file; the saved run
    loads without model= (it imports the file again)."""
    path = write_experiment(tmp_path, 'module = "nets.py:Net"\ndropout = 0.2')
    assert main(["train", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["test_accuracy"] > 0.7
    predictor = steepest.load(tmp_path / "o" / "best.pt")
    assert type(predictor.network).__name__ == "Net"
    assert predictor.network.body[2].rate.item() == pytest.approx(0.2)  # [model] dropout


@pytest.mark.parametrize(
    ("model_lines", "message"),
    [
        ('module = "missing.py:Net"', "[model] module = '{tmp}/missing.py:Net': no such file"),
        ('module = "nets.py:Other"', "nets.py has no callable 'Other'"),
        (
            'module = "no_such_package.nets:Net"',
            "importing it failed (No module named 'no_such_package'); a package must be "
            "installed or on PYTHONPATH, or name its file.py",
        ),
        ('module = "nets.py"', "expected 'FILE.py:NAME' or 'package:NAME'"),
        ('module = "nets.py:Net"\nhidden = [8]', "[model] hidden: not used with module = "),
    ],
    ids=["no file", "no name", "no package", "no colon", "mlp keys"],
)
def test_a_bad_module_is_one_line_and_exit_2(tmp_path, capsys, model_lines, message):
    path = write_experiment(tmp_path, model_lines)
    assert main(["train", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message.format(tmp=tmp_path) in err and err.count("\n") == 1


def test_a_study_of_a_named_network_runs_from_the_command(tmp_path, capsys):
    study = (
        '[tune]\ntrials = 4\nsampler = "random"\npruner = "none"\nseed = 0\n'
        '[tune.space]\nlr = { type = "loguniform", low = 0.01, high = 0.3 }\n'
    )
    path = write_experiment(tmp_path, 'module = "nets.py:Net"', study)
    path.write_text(path.read_text().replace("lr = [0.1, 0.03]\n", ""))
    assert main(["tune", str(path), "--storage", str(tmp_path / "s.log"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["complete"] == 4


def test_the_shipped_example_trains(tmp_path):
    """examples/digits_own_network.toml with examples/nets.py, two epochs."""
    example = EXAMPLES / "digits_own_network.toml"
    experiments = [
        e.model_copy(update={"train": e.train.model_copy(update={"epochs": 2, "out": tmp_path})})
        for e in load_experiments(example)
    ]
    run = steepest.train(experiments)
    assert len(run.results) == 3 and type(run.model()).__name__ == "ResidualMLP"
    assert run.evaluate("test")["accuracy"] > 0.85


class FrozenFirst(torch.nn.Module):
    """A fixed random projection under a trained head: the first layer is frozen."""

    def __init__(self) -> None:
        super().__init__()
        self.project = torch.nn.Linear(4, 16)
        self.head = torch.nn.Linear(16, 3)
        self.project.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.project(x)))


@pytest.mark.parametrize("optimizer", ["momentum", "adamw"])
def test_a_frozen_parameter_stays_as_initialised_alone_and_in_a_population(tmp_path, optimizer):
    """As under torch.optim: no step, and no weight decay, moves a frozen tensor, so a
    member in a population of two trains as it does alone."""
    settings = {"optimizer": optimizer, "weight_decay": 0.1, "epochs": 3}
    initial = _seeded(FrozenFirst)
    together = steepest.train(experiment(tmp_path, [0.1, 0.05], **settings), model=FrozenFirst)
    alone = steepest.train(experiment(tmp_path, 0.1, **settings, population=1), model=FrozenFirst)
    for run in (together, alone):
        trained = run.model(member_id=0)
        torch.testing.assert_close(trained.project.weight, initial.project.weight)
        assert not torch.equal(trained.head.weight, initial.head.weight)
    mine = [row["val_loss"] for row in together.history if row["member"] == 0]
    assert mine == pytest.approx([row["val_loss"] for row in alone.history], rel=1e-5)


def _seeded(network: type[torch.nn.Module], seed: int = 0) -> torch.nn.Module:
    """The network member 0 starts from ([train] seed 0)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return network()


def test_a_network_with_every_parameter_frozen_is_refused(tmp_path):
    class AllFrozen(FrozenFirst):
        def __init__(self) -> None:
            super().__init__()
            self.head.requires_grad_(False)

    with pytest.raises(UserError, match=r"no parameters to train \(every parameter .* frozen\)"):
        steepest.train(experiment(tmp_path, epochs=1), model=AllFrozen, write=False)


class DrawsItsOwnNoise(torch.nn.Module):
    """Dropout by torch.nn.functional, which the population cannot key: refused under
    vmap, so it trains alone, where its draws must still repeat run to run."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Linear(4, 16), torch.nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.nn.functional.dropout(torch.relu(self.a(x)), 0.3, self.training)
        return self.b(hidden)


def test_a_network_drawing_its_own_random_numbers_repeats_alone(tmp_path):
    settings = experiment(tmp_path, epochs=3, population=1)
    first = steepest.train(settings, model=DrawsItsOwnNoise, write=False)
    torch.rand(5)  # the caller's RNG moves between the runs
    second = steepest.train(settings, model=DrawsItsOwnNoise, write=False)
    assert [r["train_loss"] for r in first.history] == [r["train_loss"] for r in second.history]


def test_training_leaves_the_callers_rng_where_it_was(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    run = steepest.train(experiment(tmp_path, epochs=1), model=Residual, write=False)
    run.evaluate("val")
    assert torch.equal(torch.rand(3), expected)


class Tied(torch.nn.Module):
    """An autoencoder-style tie: the decoder reuses the encoder's weight."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)
        self.b.weight = self.a.weight
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.b(torch.relu(self.a(x)))))


def test_tied_weights_train_save_and_load(tmp_path):
    run = steepest.train(experiment(tmp_path, epochs=2, population=1), model=Tied)
    model = run.model()
    assert model.b.weight is model.a.weight
    loaded = steepest.load(tmp_path / "best.pt", model=Tied)
    assert loaded.network.b.weight is loaded.network.a.weight
    torch.testing.assert_close(loaded.network.a.weight, model.a.weight)
    x = run.dataset.x_test  # already scaled: through the network alone, as training saw it
    assert torch.equal(loaded.network(x).argmax(1), model(x).argmax(1))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (torch.nn.Linear(4, 3), r"model=: a Linear instance; pass the function that builds one"),
        ("nets.py:Net", r"model=: 'nets.py:Net' is not callable"),
        (
            lambda: torch.nn.Linear(4, 3, bias="x") and None,
            r"returned a NoneType, not an nn.Module",
        ),
        (lambda: torch.nn.Linear(4), r"model: building your network failed: .*out_features"),
    ],
)
def test_a_model_argument_that_builds_no_network_is_named(tmp_path, model, message):
    with pytest.raises(UserError, match=message):
        steepest.train(experiment(tmp_path, epochs=1), model=model, write=False)


def test_a_dropout_rate_beside_a_network_without_dropout_is_refused(tmp_path):
    """members.json said 0.3 while nothing dropped."""

    def plain() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))

    given = {**experiment(tmp_path), "model": {"dropout": 0.3}}
    with pytest.raises(UserError, match=r"^\[model\] dropout: your network has no nn.Dropout"):
        steepest.train(given, model=plain, write=False)
    assert steepest.train({**given, "model": {}}, model=plain, write=False).results


def test_a_network_with_lazy_layers_is_one_line(tmp_path):
    def lazy() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.LazyLinear(8), torch.nn.ReLU(), torch.nn.Linear(8, 3))

    with pytest.raises(UserError, match=r"^model: your network has lazy layers \(LazyLinear\)"):
        steepest.train(experiment(tmp_path), model=lazy, write=False)


class MakesABufferOnItsFirstCall(torch.nn.Module):
    """Sets state in its first forward: the footprint's forward must not leave it behind."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "scale"):
            self.register_buffer("scale", torch.ones(()))
        return self.layer(x) * self.scale


def test_a_network_that_makes_state_in_its_forward_trains_as_a_population(tmp_path):
    run = steepest.train(
        experiment(tmp_path, lr=[0.05, 0.1], epochs=2),
        model=MakesABufferOnItsFirstCall,
        write=False,
    )
    assert len(run.results) == 2


def test_the_footprint_counts_what_hooks_can_see_and_calls_the_rest_unknown():
    from steepest.population import _forward_footprint

    dense = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))
    flops, outputs = _forward_footprint(dense, torch.zeros(2, 4))
    assert flops == 2 * (4 * 8 + 8 * 3)
    assert outputs == 4 * (8 + 2 * 8 + 3)  # the dropout's mask and result in training

    class Functional(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(4, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ self.w

    assert _forward_footprint(Functional(), torch.zeros(2, 4))[0] == math.inf
