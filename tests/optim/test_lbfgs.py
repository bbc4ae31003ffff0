"""L-BFGS in a population against torch.optim.LBFGS (history_size = 10, no line search)
run on each member alone: the same losses, weights and iteration counts, stopping rules
included; and a population of L-BFGS and momentum members trains each as alone."""

from collections.abc import Callable

import pytest
import torch
from torch.nn.functional import cross_entropy

from steepest.config import ModelConfig
from steepest.nn.losses import make_loss
from steepest.nn.metrics import correct_each
from steepest.optim import lbfgs, wolfe
from steepest.population import Member, Population
from tests.test_population import data, factory, train_losses

LRS = (1.0, 0.5, 0.1)


def lbfgs_members(lrs=LRS, line_search: bool = False) -> list[Member]:
    hparams = {"line_search": float(line_search)}
    return [
        Member(id=i, seed=7 + i, optimizer="lbfgs", hparams={"lr": lr, **hparams}, epochs=4)
        for i, lr in enumerate(lrs)
    ]


def float64_population() -> tuple[Population, Callable[[], torch.nn.Module]]:
    """A full-batch population (one step an epoch) of the MLP in float64, where L-BFGS's
    40-plus iterations a member do not amplify float32 rounding into the comparison."""
    make32 = factory(ModelConfig(hidden=[16]))

    def make() -> torch.nn.Module:
        return make32().double()

    x, y = data()
    loss = make_loss("cross_entropy", per_example=True)
    return Population(make, loss, correct_each, x.double(), y, len(x)), make


def torch_alone(make, member: Member, steps: int) -> tuple[list[float], torch.Tensor, int]:
    """Losses per step, final weights and iterations of torch.optim.LBFGS on the whole
    data set from the member's initial weights."""
    torch.default_generator.manual_seed(member.seed)
    model = make()
    optimizer = torch.optim.LBFGS(
        model.parameters(),
        lr=member.hparams["lr"],
        history_size=10,
        line_search_fn="strong_wolfe" if member.hparams["line_search"] else None,
    )
    x, y = data()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = cross_entropy(model(x.double()), y)
        loss.backward()
        return loss

    losses = [optimizer.step(closure).item() for _ in range(steps)]
    weights = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return losses, weights, optimizer.state[next(iter(model.parameters()))]["n_iter"]


@pytest.mark.parametrize("line_search", [False, True], ids=["fixed step", "strong Wolfe"])
@pytest.mark.parametrize("by_hand", [True, False], ids=["hand-written", "autograd"])
def test_each_member_follows_torch_lbfgs(by_hand, line_search):
    """Four steps: the same weights and iterations as torch alone, each member stopping
    early where torch stops (a loss change below 1e-9, ‖g‖∞ ≤ 1e-7) while others go on.
    The losses agree to float32, the precision an epoch's loss is summed in."""
    pop, make = float64_population()
    pop._backward_by_hand = by_hand
    pop.add(lbfgs_members(line_search=line_search))
    losses = torch.stack(train_losses(pop, 4), 1)
    iterations = pop.states["lbfgs"]["iterations"].tolist()
    assert len(set(iterations)) == 3 and min(iterations) < 80
    for k, member in enumerate(pop.members):
        expected, weights, n_iter = torch_alone(make, member, 4)
        torch.testing.assert_close(losses[k], torch.tensor(expected), rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(pop.flat[k], weights, rtol=1e-8, atol=1e-9)
        assert iterations[k] == n_iter


@pytest.mark.parametrize(
    ("cfg", "dropout"),
    [
        (ModelConfig(hidden=[16]), False),
        (ModelConfig(hidden=[16], batch_norm=True), False),
        (ModelConfig(hidden=[16]), True),
    ],
    ids=["mlp", "batch norm", "dropout"],
)
def test_lbfgs_and_momentum_members_train_as_alone(cfg, dropout):
    """Minibatches, weight penalties and two rules in one population: L-BFGS iterates on
    each batch while the momentum members take one step. L-BFGS's extra evaluations run
    the whole population in train mode; batch-norm statistics and dropout masks must
    move only for the members that would evaluate alone (the L-BFGS members still
    iterating), not for the momentum members nor for an L-BFGS member that stopped.
    In float64: L-BFGS would amplify float32 rounding, which differs between vmap over
    two members and one module alone, past any tolerance. Even float64's 1e-16 grows
    to about 1e-6 over these two epochs of twenty iterations a batch with batch norm
    (1e-9 while its Linear kept a bias), so the check allows 1e-5: a buffer moved
    for the wrong member shows at the first digit."""
    make32 = factory(cfg, dropout=dropout)

    def make() -> torch.nn.Module:
        return make32().double()

    def population(make: Callable[[], torch.nn.Module]) -> Population:
        x, y = data()
        loss = make_loss("cross_entropy", per_example=True)
        return Population(make, loss, correct_each, x.double(), y, 16)

    def mixed() -> list[Member]:
        return [
            Member(
                id=i,
                seed=20 + i,
                optimizer=("lbfgs", "momentum")[i % 2],
                hparams={"lr": 0.05 * (i + 1), "l2": 1e-3 * i, "dropout": 0.2 * dropout},
                epochs=2,
            )
            for i in range(4)
        ]

    together = population(make)
    together.add(mixed())
    losses = torch.stack(train_losses(together, 2), 1)
    assert [name for name, _, _ in together.groups] == ["lbfgs", "momentum"]
    for row, member in enumerate(together.members):
        alone = population(make)
        alone.add([mixed()[member.id]])
        close = {"rtol": 1e-5, "atol": 1e-5}
        alone_losses = torch.stack(train_losses(alone, 2), 1)[0]
        torch.testing.assert_close(losses[row], alone_losses, **close)
        torch.testing.assert_close(together.flat[row], alone.flat[0], **close)
        for name, buffer in together.buffers.items():
            torch.testing.assert_close(buffer[row], alone.buffers[name][0], **close)


def test_members_leave_and_join_with_their_histories():
    """Members come and go between epochs: the one leaving takes its history along, the
    others go on as they would have without it, and a newcomer starts from an empty
    history (its first iteration a gradient step), as it would alone."""
    pop, make = float64_population()
    without, _ = float64_population()
    newcomer, _ = float64_population()
    pop.add(lbfgs_members()[:2])
    without.add(lbfgs_members()[1:2])
    newcomer.add(lbfgs_members()[2:])
    train_losses(pop, 1)
    train_losses(without, 1)
    pop.remove([0])
    pop.add(lbfgs_members()[2:])
    assert pop.states["lbfgs"]["steps"].shape[0] == 2
    train_losses(pop, 2)
    train_losses(without, 2)
    train_losses(newcomer, 2)
    torch.testing.assert_close(pop.flat[0], without.flat[0], rtol=1e-8, atol=1e-9)
    torch.testing.assert_close(pop.flat[1], newcomer.flat[0], rtol=1e-8, atol=1e-9)


def rosenbrock(w: torch.Tensor) -> torch.Tensor:
    """f = (1 − x)² + 100·(y − x²)² per member, w [K, 2]."""
    return (1 - w[:, 0]) ** 2 + 100 * (w[:, 1] - w[:, 0] ** 2) ** 2


def test_strong_wolfe_brackets_and_zooms_as_torch_does(monkeypatch):
    """Rosenbrock's valley makes the line search zoom into its brackets; three members
    from three starts at three rates end where torch.optim.LBFGS(line_search_fn=
    "strong_wolfe") ends for each, after as many iterations."""
    zooms = []
    set_end = wolfe._Bracket.set_end  # only the zoom moves one end of a bracket
    monkeypatch.setattr(
        wolfe._Bracket,
        "set_end",
        lambda bracket, rows, *a: (zooms.append(bool(rows.any())), set_end(bracket, rows, *a))[1],
    )
    starts = torch.tensor([[-1.5, 2.0], [-1.2, 1.0], [0.5, -0.5]], dtype=torch.float64)
    lrs = torch.tensor([1.0, 0.5, 2.0], dtype=torch.float64)
    w = starts.clone()
    state = lbfgs.init([w])

    def evaluate(members: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        leaf = w.clone().requires_grad_()
        values = rosenbrock(leaf)
        (grad,) = torch.autograd.grad(values.sum(), leaf)
        return values.detach(), [grad]

    for _ in range(3):
        values, grads = evaluate()
        lbfgs.update(grads, state, [w], {"lr": lrs, "line_search": 1.0}, values, evaluate)
    assert any(zooms)
    for k in range(3):
        weights, iterations, evaluations = torch_on_rosenbrock(starts[k], lrs[k].item(), 3)
        assert state["iterations"][k] == iterations < evaluations
        torch.testing.assert_close(w[k], weights, rtol=1e-10, atol=1e-12)


def torch_on_rosenbrock(start: torch.Tensor, lr: float, steps: int) -> tuple:
    """Weights, iterations and evaluations of torch.optim.LBFGS with strong Wolfe."""
    alone = start.clone().requires_grad_()
    optimizer = torch.optim.LBFGS([alone], lr=lr, history_size=10, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        value = rosenbrock(alone.unsqueeze(0))[0]
        value.backward()
        return value

    for _ in range(steps):
        optimizer.step(closure)
    return alone.detach(), optimizer.state[alone]["n_iter"], optimizer.state[alone]["func_evals"]
