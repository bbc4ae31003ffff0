"""Gradient check: correct gradients pass, wrong ones are caught, kinks are not blamed."""

import argparse
import json

import pytest
import torch
from torch import nn

from steepest import gradcheck as gc
from steepest.cli import main
from steepest.config import TrainConfig, validate
from steepest.errors import UserError
from steepest.gradcheck import ParameterCheck, config_penalty, gradcheck, gradcheck_experiment
from steepest.nn import Dropout
from steepest.nn import layers as nn_layers
from steepest.nn.losses import LOSSES, hinge, mse

H = 1e-5


class Tanh(torch.autograd.Function):
    """tanh whose backward is g·(1 − y²)·scale, or g·(1 − y) with `forget_square`."""

    @staticmethod
    def forward(ctx, z, scale, forget_square):
        y = z.tanh()
        ctx.save_for_backward(y)
        ctx.scale, ctx.forget_square = scale, forget_square
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        slope = 1 - y if ctx.forget_square else 1 - y * y
        return g * slope * ctx.scale, None, None


class CustomTanh(nn.Module):
    def __init__(self, scale=1.0, forget_square=False):
        super().__init__()
        self.scale, self.forget_square = scale, forget_square

    def forward(self, z):
        return Tanh.apply(z, self.scale, self.forget_square)


def mlp(out_features=3, act=None, width=6):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, width), act or nn.Tanh(), nn.Linear(width, out_features)
    ).double()


def batch(task="classification", classes=3, n=16):
    torch.manual_seed(1)
    x = torch.randn(n, 4, dtype=torch.float64)
    if task == "classification":
        return x, torch.randint(0, classes, (n,))
    return x, torch.randn(n, classes, dtype=torch.float64)


def verdicts(checks):
    return {c.name: c.verdict for c in checks}


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_of_a_tanh_mlp_passes_with_penalties(name):
    spec = LOSSES[name]
    classes = 2 if name == "logistic" else 3
    x, y = batch(spec.task, classes)
    penalty = config_penalty(TrainConfig(l1=1e-3, l2=1e-2, elastic_net=1e-3))
    checks = gradcheck(mlp(spec.outputs(classes)), spec.fn, x, y, penalty)
    assert [c.name for c in checks] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for c in checks:
        assert c.checked == c.size and c.kinks == 0
        assert c.max_error < 1e-7, c


@pytest.mark.parametrize(
    "scale, forget_square, verdict",
    [(1.0, False, "fine"), (1 + 1e-6, False, "suspicious"), (1.0, True, "wrong")],
)
def test_custom_backward_is_judged_by_how_wrong_it_is(scale, forget_square, verdict):
    x, y = batch()
    checks = gradcheck(mlp(act=CustomTanh(scale, forget_square)), LOSSES["cross_entropy"].fn, x, y)
    # Only parameters before the activation see its backward.
    assert verdicts(checks) == {
        "0.weight": verdict,
        "0.bias": verdict,
        "2.weight": "fine",
        "2.bias": "fine",
    }


def relu_net(act, offset):
    """Hidden unit 0's pre-activation on example 0 sits `offset` from the kink at 0."""
    net = mlp(out_features=1, act=act)
    x, y = batch("regression", classes=1, n=4)
    with torch.no_grad():
        z = net[0](x[:1])[0, 0]
        net[0].bias[0] -= z - offset
    return net, x, y


@pytest.mark.parametrize("offset", [0.0, 0.3 * H, 0.9 * H, -0.5 * H])
@pytest.mark.parametrize("act", [nn.ReLU(), nn.LeakyReLU(0.1)], ids=["relu", "leaky"])
def test_a_relu_kink_within_the_step_is_reported_not_blamed(act, offset):
    net, x, y = relu_net(act, offset)
    bias = next(c for c in gradcheck(net, mse, x, y) if c.name == "0.bias")
    assert bias.kinks == 1
    assert bias.verdict == "fine"


@pytest.mark.parametrize("act", [nn.ReLU(), nn.LeakyReLU(0.1)], ids=["relu", "leaky"])
def test_a_kink_crossed_at_two_thirds_of_the_step_is_inconclusive_not_blamed(act):
    """There the second differences do not bend: the kink reads as a large f‴, whose
    allowance covers the J/6 it adds to n; the step is then said to be too large."""
    net, x, y = relu_net(act, 2 * H / 3)
    bias = next(c for c in gradcheck(net, mse, x, y) if c.name == "0.bias")
    assert (bias.kinks, bias.unresolved, bias.unresolved_because) == (0, 1, (gc.TRUNCATED,))
    assert bias.max_error < gc.FINE and bias.verdict == "inconclusive"


@pytest.mark.parametrize("h", [1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
@pytest.mark.parametrize("constant_feature", [False, True])
def test_a_slightly_wrong_backward_is_never_fine_at_any_step(h, constant_feature):
    """Smooth f at a large step: its curvature is no kink (nᵢ's own error h²f‴/6 is
    allowed for, and the step said too large where it swamps the check). A feature
    that is always 0 gives its weights a = n = 0, which must not vouch for the rest."""
    x, y = batch()
    if constant_feature:
        x[:, 0] = 0.0
    checks = gradcheck(mlp(act=CustomTanh(scale=1.0001)), LOSSES["cross_entropy"].fn, x, y, h=h)
    expected = {"suspicious", "wrong"} if h < 1e-3 else {"inconclusive"}
    assert verdicts(checks)["0.weight"] in expected


def test_a_right_backward_at_too_large_a_step_is_inconclusive_with_advice(tmp_path, capsys):
    path = tmp_path / "tanh.toml"
    path.write_text('[data]\nname = "digits"\n[model]\nhidden = [8]\nactivation = "tanh"\n')
    with pytest.raises(SystemExit) as exit_status:
        main(["gradcheck", str(path), "--step", "1e-2"])
    assert exit_status.value.code == 1
    out = " ".join(capsys.readouterr().out.split())  # rich wraps lines at 80 columns
    assert "the step is too large" in out and "use a smaller --step" in out
    # some elements were resolved: the note must not say none were
    assert "inconclusive: the step cannot judge " in out and "resolved no element" not in out
    assert main(["gradcheck", str(path), "--step", "1e-4"]) == 0


@pytest.mark.parametrize(
    ("model", "batch", "message"),
    [
        ("batch_norm = true", 1, "batch = 1: batch norm needs at least 2 examples"),
        ("", 100000, "batch = 100000: more than the training split's 1259 examples"),
    ],
)
def test_a_batch_the_check_cannot_take_is_refused_in_one_line(
    tmp_path, capsys, model, batch, message
):
    path = tmp_path / "exp.toml"
    path.write_text(f'[data]\nname = "digits"\n[model]\nhidden = [8]\n{model}\n')
    assert main(["gradcheck", str(path), "--batch", str(batch)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_seed_beyond_64_bits_is_one_line(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text('[data]\nname = "iris"\n[model]\nhidden = [4]\n')
    assert main(["gradcheck", str(path), "--seed", str(2**70)]) == 2
    assert (
        capsys.readouterr().err == f"steepest: error: seed = {2**70}: expected a 64-bit integer\n"
    )


def test_a_tensor_whose_every_step_crossed_a_kink_is_inconclusive():
    check = ParameterCheck("b", (2,), checked=2, kinks=2, max_error=0.0, mean_error=0.0)
    assert check.verdict == "inconclusive"


def test_without_the_kink_rule_the_same_relu_would_not_pass(monkeypatch):
    """Read as curvature, the kink's error makes the step look too large for the tensor."""
    monkeypatch.setattr(gc, "_is_kink", lambda *args: False)
    net, x, y = relu_net(nn.ReLU(), 0.3 * H)
    bias = next(c for c in gradcheck(net, mse, x, y) if c.name == "0.bias")
    assert bias.verdict == "inconclusive" and bias.unresolved_because == (gc.TRUNCATED,)


@pytest.mark.parametrize("offset", [0.3 * H, -0.4 * H])
def test_a_hinge_margin_at_the_kink_is_reported(offset):
    torch.manual_seed(0)
    net = nn.Linear(4, 3).double()
    x, y = torch.randn(1, 4, dtype=torch.float64), torch.tensor([0])
    with torch.no_grad():  # margin f₁ − f₀ + 1 = offset
        f = net(x)[0]
        net.bias[1] -= f[1] - f[0] + 1 - offset
    bias = next(c for c in gradcheck(net, hinge, x, y) if c.name == "bias")
    assert bias.kinks == 2 and bias.verdict == "fine"  # b₀ and b₁ both move that margin


def test_an_l1_weight_next_to_zero_is_a_kink():
    net = mlp()
    with torch.no_grad():
        net[0].weight[0, 0] = 0.3 * H
    x, y = batch()
    penalty = config_penalty(TrainConfig(l1=0.1))
    weight = gradcheck(net, LOSSES["cross_entropy"].fn, x, y, penalty)[0]
    assert weight.kinks == 1 and weight.verdict == "fine"


def test_dropout_masks_and_batch_norm_statistics_hold_still_between_evaluations():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Tanh(), Dropout(0.5), nn.Linear(8, 3)
    )
    x, y = batch()
    checks = gradcheck(net, LOSSES["cross_entropy"].fn, x, y)
    assert all(c.verdict == "fine" for c in checks), checks


def test_large_tensors_are_sampled_the_same_way_for_a_seed():
    x, y = batch()
    net = mlp(width=40)
    first = gradcheck(net, LOSSES["cross_entropy"].fn, x, y, max_elements=25, seed=3)
    again = gradcheck(net, LOSSES["cross_entropy"].fn, x, y, max_elements=25, seed=3)
    assert [c.checked for c in first] == [25, 25, 25, 3]
    assert first == again


def test_the_callers_module_and_random_state_are_left_alone():
    net = mlp().float()
    before = [p.clone() for p in net.parameters()]
    x, y = batch()
    state = torch.get_rng_state()
    gradcheck(net, LOSSES["cross_entropy"].fn, x.float(), y)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert all(p.dtype == torch.float32 and p.grad is None for p in net.parameters())
    assert torch.equal(torch.get_rng_state(), state)


def test_verdict_thresholds():
    def check(error):
        return ParameterCheck("w", (2,), 2, 0, error, error).verdict

    assert [check(e) for e in (0.0, 9e-8, 1e-7, 9e-5, 1e-4)] == [
        "fine",
        "fine",
        "suspicious",
        "suspicious",
        "wrong",
    ]


@pytest.mark.parametrize(
    "kwargs, message",
    [({"h": 0.0}, "h = 0.0"), ({"max_elements": 0}, "max_elements = 0")],
)
def test_bad_settings_are_user_errors(kwargs, message):
    x, y = batch()
    with pytest.raises(UserError, match=message):
        gradcheck(mlp(), LOSSES["cross_entropy"].fn, x, y, **kwargs)


# ----- experiments and the command -------------------------------------------------------


def experiment(**model):
    return {
        "data": {"name": "iris"},
        "model": {"hidden": [8], "activation": "relu", "dropout": 0.2, **model},
        "train": {"l2": 1e-3, "l1": 1e-4},
    }


def run_command(argv):
    root = argparse.ArgumentParser()
    gc.add_command(root.add_subparsers())
    args = root.parse_args(argv)
    args.run(args)


def write(tmp_path, raw):
    lines = []
    for section, values in raw.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in values.items())
    path = tmp_path / "experiment.toml"
    path.write_text("\n".join(lines))
    return path


def test_batch_must_hold_an_example():
    with pytest.raises(UserError, match="batch = 0"):
        gradcheck_experiment(validate(experiment()), batch=0)


NAMES = ("blocks.0.0.weight", "blocks.0.0.bias", "head.1.weight", "head.1.bias")


def test_command_checks_the_model_training_builds_and_exits_zero(tmp_path, capsys):
    run_command(["gradcheck", str(write(tmp_path, experiment())), "--json", "--batch", "8"])
    report = json.loads(capsys.readouterr().out)
    assert not report["wrong"] and report["batch"] == 8
    assert [(c["name"], c["shape"], c["verdict"]) for c in report["checks"]] == [
        ("blocks.0.0.weight", [8, 4], "fine"),
        ("blocks.0.0.bias", [8], "fine"),
        ("head.1.weight", [3, 8], "fine"),
        ("head.1.bias", [3], "fine"),
    ]


def test_command_prints_the_table_and_exits_one_when_a_gradient_is_wrong(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(nn_layers, "activation", lambda *args: CustomTanh(forget_square=True))
    path = write(tmp_path, experiment(activation="tanh"))
    with pytest.raises(SystemExit) as stop:
        run_command(["gradcheck", str(path), "--batch", "4"])
    assert stop.value.code == 1
    lines = capsys.readouterr().out.splitlines()
    rows = {name: next(line for line in lines if f" {name} " in line) for name in NAMES}
    assert "wrong" in rows["blocks.0.0.weight"] and "wrong" in rows["blocks.0.0.bias"]
    assert "fine" in rows["head.1.weight"] and "fine" in rows["head.1.bias"]


@pytest.mark.parametrize("h", [float("inf"), float("-inf"), float("nan")])
def test_a_step_that_is_not_finite_is_refused(h):
    x, y = batch()
    with pytest.raises(UserError, match=f"h = {h!r}: expected a positive finite step"):
        gradcheck(mlp(), LOSSES["cross_entropy"].fn, x, y, h=h)


def test_a_slightly_wrong_backward_is_wrong_at_the_default_step():
    x, y = batch()
    checks = gradcheck(mlp(act=CustomTanh(scale=1.001)), LOSSES["cross_entropy"].fn, x, y)
    assert verdicts(checks)["0.weight"] == "wrong" and verdicts(checks)["0.bias"] == "wrong"
    assert all(c.unresolved == 0 and not c.unresolved_because for c in checks)


@pytest.mark.parametrize("h", [1e-12, 1e-20, 1e-30])
def test_a_step_too_small_to_see_f_change_is_inconclusive_not_fine(h):
    x, y = batch()
    checks = gradcheck(mlp(act=CustomTanh(scale=1.001)), LOSSES["cross_entropy"].fn, x, y, h=h)
    assert set(verdicts(checks).values()) == {"inconclusive"}
    assert all(c.unresolved == c.checked for c in checks)
    assert all(gc.LOST_IN_ROUND_OFF in c.unresolved_because for c in checks)
    assert gc.ROUNDED_STEP in checks[0].unresolved_because  # weights: w + h rounds


def test_command_calls_a_step_too_small_inconclusive_and_exits_one(tmp_path, capsys):
    path = write(tmp_path, experiment(activation="tanh", dropout=0.0))
    with pytest.raises(SystemExit) as stop:
        run_command(["gradcheck", str(path), "--batch", "4", "--step", "1e-12"])
    assert stop.value.code == 1
    out = " ".join(capsys.readouterr().out.split())  # the note wraps at the terminal's width
    assert out.count("inconclusive") == len(NAMES) + 1  # each row and the note
    assert "use a larger --step (default 1e-5)" in out
    with pytest.raises(SystemExit):
        run_command(["gradcheck", str(path), "--batch", "4", "--step", "1e-12", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["inconclusive"] and not report["wrong"]
    assert {c["verdict"] for c in report["checks"]} == {"inconclusive"}
    assert gc.LOST_IN_ROUND_OFF in report["checks"][0]["unresolved_because"]


def test_command_refuses_an_infinite_step_in_one_line(tmp_path, capsys):
    path = write(tmp_path, experiment())
    assert main(["gradcheck", str(path), "--step", "inf", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "steepest: error: h = inf: expected a positive finite step\n"


def test_a_plain_mlp_is_checked_through_the_backward_training_runs(monkeypatch):
    """A plain MLP trains through stacked's hand-written backward, not autograd: a wrong
    closed-form loss gradient there must show (it passed as 'fine', autograd being
    right), and the right one passes, penalty gradient included."""
    from steepest import stacked
    from steepest.config import expand_grid
    from steepest.gradcheck import gradcheck_experiment
    from steepest.nn import losses

    experiment = expand_grid(
        {
            "data": {"name": "iris"},
            "model": {"hidden": [8], "activation": "tanh"},
            "train": {"loss": "hinge", "l2": 0.01, "l1": 0.001},
        }
    )[0]
    assert {c.verdict for c in gradcheck_experiment(experiment).checks} == {"fine"}

    def tripled(output, target):
        each, grad = stacked._hinge(output, target)
        return each, 3 * grad

    monkeypatch.setitem(stacked._CLOSED_FORMS, losses.hinge_each, tripled)
    assert {c.verdict for c in gradcheck_experiment(experiment).checks} == {"wrong"}


def test_a_tensor_whose_steps_mostly_cross_kinks_is_inconclusive(tmp_path, capsys):
    """A deep ReLU net at 0.01·randn: pre-activations far below h = 1e-5, so nearly every
    step of the last layer's bias crosses a kink, and the two the kink test passed read
    as 'wrong' although the backward is right. Such a tensor is inconclusive, and the
    advice is a smaller step; at a step below the pre-activations it is fine."""
    path = tmp_path / "small.toml"
    path.write_text('[data]\nname = "digits"\n[model]\nhidden = [64, 64, 64, 64]\ninit = "small"\n')
    with pytest.raises(SystemExit) as stop:
        run_command(["gradcheck", str(path)])
    assert stop.value.code == 1
    out = " ".join(capsys.readouterr().out.split())  # the note wraps at the terminal's width
    assert gc.MOSTLY_KINKS in out and "use a smaller --step" in out
    verdicts = {c.name: c.verdict for c in gc.gradcheck_experiment(path).checks}
    assert verdicts["blocks.3.0.bias"] == "inconclusive" and "wrong" not in verdicts.values()
    assert "wrong" not in {c.verdict for c in gc.gradcheck_experiment(path, h=1e-9).checks}


def test_the_raw_relative_error_is_reported_beside_the_verdicts():
    """The course's |a − n|/max(|a|, |n|), before the round-off allowance: a clean check
    shows the rounding it allowed for (above 0, far below the 1e-4 of 'suspicious')."""
    experiment = validate(
        {"data": {"name": "iris"}, "model": {"hidden": [8], "activation": "tanh"}}
    )
    checks = gc.gradcheck_experiment(experiment).checks
    assert {c.verdict for c in checks} == {"fine"}
    assert all(c.max_raw_error >= c.max_error for c in checks)
    assert 0 < max(c.max_raw_error for c in checks) < 1e-6


def test_a_frozen_parameter_is_not_checked():
    """requires_grad=False: no gradient exists to compare (it used to read as zeros and
    be called wrong)."""
    net = mlp()
    net[0].weight.requires_grad_(False)
    x, y = batch()
    names = {check.name for check in gradcheck(net, LOSSES["cross_entropy"].fn, x, y)}
    assert "0.weight" not in names and "0.bias" in names


def test_a_training_split_smaller_than_the_default_batch_is_checked_whole(tmp_path, capsys):
    """Without --batch, a training split of fewer than 16 examples is taken whole (16 of
    them were refused, naming a batch the user never set); --batch still may not exceed it."""
    rows = "\n".join(f"{i % 5},{(i * 7) % 3},{i % 3}" for i in range(12))
    (tmp_path / "small.csv").write_text("a,b,y\n" + rows + "\n")
    path = tmp_path / "exp.toml"
    path.write_text(
        '[data]\ncsv = "small.csv"\ntarget = "y"\n[model]\nhidden = [4]\n[train]\nloss = "mse"\n'
    )
    assert main(["gradcheck", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 1 < report["batch"] < gc.DEFAULT_BATCH
    assert {c["verdict"] for c in report["checks"]} == {"fine"}
    too_many = report["batch"] + 1
    assert main(["gradcheck", str(path), "--batch", str(too_many)]) == 2
    assert f"batch = {too_many}: more than the training split's" in capsys.readouterr().err
