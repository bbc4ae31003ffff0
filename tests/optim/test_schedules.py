"""Schedules against torch.optim.lr_scheduler, per member, and their configuration errors."""

import math
import re

import pytest
import torch
from torch.optim import lr_scheduler

from steepest.config import ScheduleConfig as S
from steepest.errors import UserError
from steepest.optim.schedules import build, values_over

EPOCHS = 30
BASE = 0.1
K = 0.1

# (steepest schedule, the torch scheduler that gives the same lr per epoch)
TABLE = [
    (S(kind="constant"), lambda o: lr_scheduler.ConstantLR(o, factor=1.0)),
    (S(kind="step", every=7, factor=0.3), lambda o: lr_scheduler.StepLR(o, 7, gamma=0.3)),
    (S(kind="exponential", k=K), lambda o: lr_scheduler.ExponentialLR(o, math.exp(-K))),
    (S(kind="inverse_time", k=K), lambda o: lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + K * t))),
    (
        S(kind="cosine", epochs=EPOCHS, min_value=0.01),
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=EPOCHS, eta_min=0.01),
    ),
    (
        S(kind="warmup", epochs=5, factor=0.25),
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=5),
    ),
    (
        [S(kind="warmup", epochs=5, factor=0.25), S(kind="step", every=7, factor=0.3)],
        lambda o: lr_scheduler.ChainedScheduler(
            [lr_scheduler.LinearLR(o, 0.25, total_iters=5), lr_scheduler.StepLR(o, 7, 0.3)]
        ),
    ),
]
IDS = ["constant", "step", "exponential", "inverse_time", "cosine", "warmup", "chain"]


def torch_lrs(make_scheduler):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE)
    scheduler = make_scheduler(opt)
    lrs = []
    for _ in range(EPOCHS):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize(("spec", "make_scheduler"), TABLE, ids=IDS)
def test_equals_torch_lr_scheduler(spec, make_scheduler):
    schedule = build(spec)
    ours = [schedule(BASE, t) for t in range(EPOCHS)]
    assert all(isinstance(v, float) for v in ours)
    assert ours == pytest.approx(torch_lrs(make_scheduler), rel=1e-12, abs=0)


@pytest.mark.parametrize(("spec", "make_scheduler"), TABLE, ids=IDS)
def test_members_with_own_base_and_epoch_in_one_call(spec, make_scheduler):
    """K members at different epochs with different bases: one tensor call equals K
    scalar calls."""
    schedule = build(spec)
    base = torch.tensor([0.1, 0.5, 0.02, 1.0], dtype=torch.float64)
    epoch = torch.tensor([0, 3, 11, 29])
    values = schedule(base, epoch)
    expected = [schedule(b.item(), int(t)) for b, t in zip(base, epoch, strict=True)]
    assert values.shape == (4,) and values.dtype == torch.float64
    assert values.tolist() == pytest.approx(expected, rel=1e-15)


def test_cosine_holds_its_minimum_after_its_epochs():
    schedule = build(S(kind="cosine", epochs=10, min_value=0.01))
    assert [schedule(1.0, t) for t in (10, 11, 50)] == [0.01, 0.01, 0.01]


def test_linear_ramps_the_value_itself():
    """The notes' momentum annealing 0.5 → 0.99 over 10 epochs, whatever the base."""
    ramp = build(S(kind="linear", start=0.5, end=0.99, epochs=10))
    assert [ramp(0.9, t) for t in (0, 5, 10, 20)] == pytest.approx([0.5, 0.745, 0.99, 0.99])
    to_end = build(S(kind="linear", end=0.0, epochs=4))
    assert [to_end(0.2, t) for t in (0, 1, 4)] == pytest.approx([0.2, 0.15, 0.0])


def test_chain_scales_a_leading_linear_ramp():
    chain = build([S(kind="linear", start=0.2, end=0.6, epochs=4), S(kind="step", every=2)])
    assert [chain(1.0, t) for t in (0, 2, 4)] == pytest.approx([0.2, 0.4 * 0.5, 0.6 * 0.25])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], r"schedule = \[\]"),
        (S(kind="linear"), "give start, end or both"),
        (S(kind="warmup", start=0.1), "start/end belong to kind linear"),
        (S(kind="warmup", factor=2.0), "factor = 2.0: expected a starting fraction <= 1"),
        (
            [S(kind="warmup"), S(kind="linear", start=0.1, end=0.2)],
            r"linear \(chain position 1\): .* put it first",
        ),
    ],
)
def test_meaningless_settings_are_user_errors(spec, message):
    with pytest.raises(UserError, match=message):
        build(spec)


@pytest.mark.parametrize(
    ("spec", "unread"),
    [
        ({"kind": "exponential", "factor": 0.5}, "factor is not read by this kind (it reads k)"),
        (
            {"kind": "cosine", "every": 3},
            "every is not read by this kind (it reads epochs, min_value)",
        ),
        ({"kind": "constant", "k": 0.1}, "k is not read by this kind (it reads nothing)"),
        ({"kind": "step", "k": 0.1, "min_value": 0.0}, "k, min_value are not read by this kind"),
        ({"kind": "cosine", "end": 0.001}, "start/end belong to kind linear"),
    ],
)
def test_a_setting_the_kind_does_not_read_is_refused(spec, unread):
    """exponential reads k, not factor: factor = 0.5 silently annealed by e^(−0.1·t)."""
    with pytest.raises(UserError, match=re.escape(unread)):
        build(S(**spec))


def test_a_constant_schedule_alone_is_accepted_and_changes_nothing():
    from steepest.config import validate

    for name in ("lr", "momentum"):
        train = {"epochs": 3, "lr": 0.1, "schedule": {name: {"kind": "constant"}}}
        experiment = validate({"data": {"name": "iris"}, "train": train})
        assert experiment.train.schedule[name].kind == "constant"
    assert values_over(build(S(kind="constant")), 0.1, 3).tolist() == [0.1, 0.1, 0.1]


def test_a_warmup_given_start_is_told_where_a_warmup_starts():
    with pytest.raises(UserError, match=re.escape("linear (a warmup starts at factor)")):
        build(S(kind="warmup", start=0.1))


def test_a_schedule_without_a_length_runs_over_the_whole_run():
    """A cosine with no epochs of its own anneals over the run's 30 epochs, not 10 (after
    which it held lr at 0 for two thirds of the run); one that sets epochs keeps them."""
    over_the_run = build(S(kind="cosine"), run_epochs=30)
    assert over_the_run(0.1, 15) == pytest.approx(0.05)
    assert build(S(kind="cosine", epochs=10), run_epochs=30)(0.1, 15) == 0.0
    assert build(S(kind="cosine"))(0.1, 15) == 0.0  # no run given: 10, the field's default
