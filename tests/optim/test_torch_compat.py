"""steepest.optim's Optimizer classes as drop-ins for torch.optim in a user's own loop."""

import copy

import pytest
import torch

import steepest.optim as so
from steepest.errors import UserError

from .cases import CASES, IDS


class Net(torch.nn.Module):
    """Two layers, the first frozen (grad None), plus a bias used on even steps only."""

    def __init__(self):
        super().__init__()
        self.frozen = torch.nn.Linear(3, 5).requires_grad_(False)
        self.head = torch.nn.Linear(5, 2)
        self.sometimes = torch.nn.Parameter(torch.randn(2))

    def forward(self, x, step):
        out = self.head(torch.tanh(self.frozen(x)))
        return out + self.sometimes if step % 2 == 0 else out


def train(net, opt, steps, x, y, scheduler=None):
    for step in range(steps):
        opt.zero_grad()
        ((net(x, step) - y) ** 2).mean().backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_wrapper_equals_torch_optim(case):
    """20 steps under StepLR, with a frozen layer and a param that misses every other step
    (its own step count for Adam): params and state equal torch.optim's."""
    torch.manual_seed(0)
    ours_net = Net().double()
    theirs_net = copy.deepcopy(ours_net)
    hp = {k: v.item() for k, v in case.sample_hp(1, torch.Generator().manual_seed(1)).items()}
    ours = case.wrapper(ours_net.parameters(), **hp)
    theirs = case.torch_class(theirs_net.parameters(), **case.torch_kwargs(hp))
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    for net, opt in ((ours_net, ours), (theirs_net, theirs)):
        train(net, opt, 20, x, y, torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5))

    assert not ours.state[ours_net.frozen.weight]
    for mine, their in zip(ours_net.parameters(), theirs_net.parameters(), strict=True):
        torch.testing.assert_close(mine, their, rtol=0, atol=1e-12)
        for name, got in ours.state[mine].items():
            value = theirs.state[their][name]
            torch.testing.assert_close(got.squeeze(0), value.to(got.dtype), rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_state_dict_round_trip(case):
    torch.manual_seed(0)
    net = Net()
    opt = case.wrapper(net.parameters())
    x, y = torch.randn(16, 3), torch.randn(16, 2)
    train(net, opt, 3, x, y)
    copy_net = copy.deepcopy(net)
    copy_opt = case.wrapper(copy_net.parameters())
    copy_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    train(net, opt, 3, x, y)
    train(copy_net, copy_opt, 3, x, y)
    for a, b in zip(net.parameters(), copy_net.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: so.Adam(p, lr=-0.1), "lr=-0.1: expected lr >= 0"),
        (lambda p: so.Adam(p, beta1=1.0), "beta1=1.0: expected 0 <= beta1 < 1"),
        (lambda p: so.RMSprop(p, eps=float("nan")), "eps=nan"),
        (lambda p: so.Adam(p, betas=(0.9, 0.99)), "PyTorch's betas is beta1 and beta2"),
        (
            lambda p: so.SGD(p, momentum=0.9),
            "unknown hyperparameter momentum=0.9 (heavy-ball momentum is steepest.optim.Momentum)",
        ),
        (lambda p: so.SGD(p, nesterov=True), "Nesterov's momentum is steepest.optim.Nesterov"),
        (lambda p: so.Momentum([{"params": p, "lr": -1.0}]), "Momentum: lr=-1.0"),
    ],
)
def test_bad_hyperparameters_are_user_errors(make, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make([torch.nn.Parameter(torch.zeros(2))])
