"""The functional rules against torch.optim, and their state as members leave and join."""

import io

import pytest
import torch

from steepest.optim import RULES, concat_states, select_members

from .cases import CASES, IDS

F64 = torch.float64
SHAPES = [(4, 3), (4,), (2, 4), (2,)]


def mlp_loss(params, frozen, x, y):
    """A small tanh MLP's squared error; `frozen` scales the output and is never trained."""
    w1, b1, w2, b2 = params
    return (((torch.tanh(x @ w1.T + b1) @ w2.T + b2) * frozen - y) ** 2).mean()


def test_table_covers_every_rule():
    """Every rule but L-BFGS, which evaluates again inside its update and is checked
    against torch.optim.LBFGS in test_lbfgs.py."""
    assert sorted(IDS) == sorted(name for name in RULES if name != "lbfgs")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_population_member_equals_torch_optim_alone(case):
    """K=5 members with 5 hyperparameter sets in one update each step; member k equals
    torch.optim (for-loop path) on its own unstacked copy with a frozen tensor, 50 steps."""
    gen = torch.Generator().manual_seed(0)
    k_members, steps = 5, 50
    start = [torch.randn(k_members, *s, generator=gen, dtype=F64) for s in SHAPES]
    frozen = torch.rand(2, generator=gen, dtype=F64) + 0.5
    x, y = torch.randn(8, 3, generator=gen, dtype=F64), torch.randn(8, 2, generator=gen, dtype=F64)
    hp = case.sample_hp(k_members, gen)

    params = [p.clone().requires_grad_() for p in start]
    state = case.module.init(params)
    alone = []
    for k in range(k_members):
        mine = [p[k].clone().requires_grad_() for p in start]
        frozen_k = frozen.clone().requires_grad_(False)
        hp_k = {name: value[k].item() for name, value in hp.items()}
        alone.append(
            (mine, frozen_k, case.torch_class([*mine, frozen_k], **case.torch_kwargs(hp_k)))
        )

    for _ in range(steps):
        total = sum(mlp_loss([p[k] for p in params], frozen, x, y) for k in range(k_members))
        grads = torch.autograd.grad(total, params)
        with torch.no_grad():
            case.module.update(list(grads), state, params, hp)
        for mine, frozen_k, opt in alone:
            opt.zero_grad()
            mlp_loss(mine, frozen_k, x, y).backward()
            opt.step()

    for k, (mine, frozen_k, opt) in enumerate(alone):
        assert frozen_k.grad is None and torch.equal(frozen_k, frozen)
        for i, p in enumerate(mine):
            torch.testing.assert_close(params[i][k], p, rtol=0, atol=1e-10)
            theirs = opt.state[p]
            for name, value in state.items():
                if name not in theirs:
                    continue
                ours = value[k] if isinstance(value, torch.Tensor) else value[i][k]
                torch.testing.assert_close(ours, theirs[name].to(ours.dtype), rtol=0, atol=1e-10)
    assert all(name in alone[0][2].state[alone[0][0][0]] for name in state)


def rosenbrock(w):
    x, y = w[:, 0], w[:, 1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_grad(w):
    x, y = w[:, 0], w[:, 1]
    return torch.stack([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], dim=1)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_converges_on_rosenbrock(case):
    """1000 steps from (−1.2, 1) bring f = 24.2 below 0.1 (f* = 0 at (1, 1))."""
    w = torch.tensor([[-1.2, 1.0]], dtype=F64)
    state = case.module.init([w])
    hp = {**case.module.DEFAULTS, "lr": case.rosenbrock_lr}
    for _ in range(1000):
        case.module.update([rosenbrock_grad(w)], state, [w], hp)
    assert rosenbrock(w).item() < 0.1


def elementwise_grads(params, targets):
    """A gradient computed entry by entry, so a member's value cannot depend on its row."""
    return [torch.sin(3 * p) + p - t for p, t in zip(params, targets, strict=True)]


def run(case, params, state, hp, targets, steps):
    for _ in range(steps):
        case.module.update(elementwise_grads(params, targets), state, params, hp)


def population(case, k, seed):
    """Fresh params (rows a multiple of 8 entries), state, random hp and targets for k members."""
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(k, 4, 8, generator=gen, dtype=F64), torch.randn(k, 16, generator=gen)]
    params[1] = params[1].to(F64)
    targets = [torch.randn(p.shape, generator=gen, dtype=F64) for p in params]
    return params, case.module.init(params), case.sample_hp(k, gen), targets


def rows(tensors, index):
    return [t[index] for t in tensors]


def assert_rows_equal(compact, full, index):
    for a, b in zip(compact, full, strict=True):
        torch.testing.assert_close(a, b[index], rtol=0, atol=0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dropping_members_leaves_the_survivors_untouched(case):
    """Drop members 1 and 3 of 5 after 10 steps, run 10 more: the 3 survivors equal rows
    0, 2, 4 of a run that kept all 5 (params and every state tensor)."""
    params, state, hp, targets = population(case, 5, seed=1)
    run(case, params, state, hp, targets, 10)
    keep = torch.tensor([0, 2, 4])
    compact = [p[keep] for p in params]
    compact_state = select_members(state, keep)
    compact_hp = {name: value[keep] for name, value in hp.items()}
    run(case, compact, compact_state, compact_hp, rows(targets, keep), 10)
    run(case, params, state, hp, targets, 10)

    assert_rows_equal(compact, params, keep)
    for name, value in state.items():
        if isinstance(value, list):
            assert_rows_equal(compact_state[name], value, keep)
        else:
            assert_rows_equal([compact_state[name]], [value], keep)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_joining_member_runs_as_if_alone(case):
    """A member that joins 3 running ones after 10 steps (state from `init`) follows the
    same 10 steps as when it runs alone, and the 3 follow their uninterrupted run."""
    params, state, hp, targets = population(case, 3, seed=2)
    new_params, new_state, new_hp, new_targets = population(case, 1, seed=3)
    solo = [p.clone() for p in new_params]
    run(case, solo, case.module.init(solo), new_hp, new_targets, 10)
    before = [p.clone() for p in params]
    before_state = select_members(state, torch.arange(3))
    run(case, before, before_state, hp, targets, 20)

    run(case, params, state, hp, targets, 10)
    joined = [torch.cat(pair) for pair in zip(params, new_params, strict=True)]
    joined_state = concat_states(state, new_state)
    joined_hp = {name: torch.cat((hp[name], new_hp[name])) for name in hp}
    joined_targets = [torch.cat(pair) for pair in zip(targets, new_targets, strict=True)]
    run(case, joined, joined_state, joined_hp, joined_targets, 10)

    assert_rows_equal(rows(joined, slice(0, 3)), before, slice(None))
    assert_rows_equal(rows(joined, slice(3, 4)), solo, slice(None))


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_state_survives_torch_save_and_load(case):
    params, state, hp, targets = population(case, 2, seed=4)
    run(case, params, state, hp, targets, 5)
    buffer = io.BytesIO()
    torch.save({"params": params, "state": state}, buffer)
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=True)
    run(case, params, state, hp, targets, 5)
    run(case, restored["params"], restored["state"], hp, targets, 5)
    assert_rows_equal(restored["params"], params, slice(None))
    assert restored["state"].keys() == state.keys()


def test_concat_states_rejects_states_of_different_rules():
    params = [torch.zeros(2, 3)]
    with pytest.raises(ValueError, match="exp_avg"):
        concat_states(RULES["adam"].init(params), RULES["momentum"].init(params))
