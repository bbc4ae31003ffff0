"""torch.optim.Optimizer classes running steepest's rules, for a user's own training loop.

    opt = steepest.optim.Adam(model.parameters(), lr=1e-3)
    loss.backward(); opt.step(); opt.zero_grad()

A step runs the rule's `update` exactly as a population does, as a population of one:
params and grads are viewed with a leading member dimension of size 1, and ``opt.state[p]``
holds the rule's state for p with that dimension (``exp_avg`` of shape [1, *p.shape],
Adam's ``step`` of shape [1]). As in torch.optim, params whose grad is None are skipped
and their state left alone; params whose step counts differ (one that missed steps) are
updated in separate calls, so each keeps its own count.

Hyperparameters take steepest's names (Adam's beta1/beta2 for PyTorch's betas, RMSprop's
rho for alpha), are checked up front, and may be changed in ``param_groups`` between steps
(torch's LR schedulers work).
"""

from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from steepest.errors import UserError
from steepest.optim import adagrad, adam, adamw, momentum, nesterov, rmsprop, sgd

_TORCH_NAMES = {"betas": "beta1 and beta2", "alpha": "rho"}
# torch.optim.SGD's options that are optimizers of their own here
_OWN_CLASS = {
    "momentum": "heavy-ball momentum is steepest.optim.Momentum",
    "nesterov": "Nesterov's momentum is steepest.optim.Nesterov",
}
_FRACTIONS = ("beta1", "beta2")


class RuleOptimizer(Optimizer):
    """An Optimizer whose step is `rule.update` on a population of one (see module doc)."""

    rule: ModuleType

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], **hp: float) -> None:
        cls = type(self).__name__
        for name in hp:
            if name not in self.rule.DEFAULTS:
                torch_name = _TORCH_NAMES.get(name)
                hint = f" (PyTorch's {name} is {torch_name} here)" if torch_name else ""
                if name in _OWN_CLASS and "momentum" not in self.rule.DEFAULTS:
                    hint = f" ({_OWN_CLASS[name]})"
                raise UserError(
                    f"{cls}: unknown hyperparameter {name}={hp[name]!r}{hint}; "
                    f"expected {', '.join(self.rule.DEFAULTS)}"
                )
        probe = self.rule.init([torch.zeros(1, 1)])
        self._counters = tuple(name for name, value in probe.items() if isinstance(value, Tensor))
        super().__init__(params, {**self.rule.DEFAULTS, **hp})

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's add_param_group, then a UserError for any out-of-range hyperparameter."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for name in self.rule.DEFAULTS:
            if isinstance(group[name], (str, bytes)):  # float("0.1") would pass it on
                raise UserError(
                    f"{type(self).__name__}: {name}={group[name]!r}: expected a number, not text"
                )
            value = float(group[name])
            if name in _FRACTIONS and not 0 <= value < 1:
                raise UserError(f"{type(self).__name__}: {name}={value}: expected 0 <= {name} < 1")
            if not value >= 0:
                raise UserError(f"{type(self).__name__}: {name}={value}: expected {name} >= 0")

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One update of every param that has a grad; returns closure() if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            hp = {name: group[name] for name in self.rule.DEFAULTS}
            for cohort in self._cohorts(params):
                self._update(cohort, hp)
        return loss

    def _state(self, param: Tensor) -> dict[str, Tensor]:
        """param's state, created by `rule.init` on its first step."""
        state = self.state[param]
        if not state:
            for name, value in self.rule.init([param.unsqueeze(0)]).items():
                state[name] = value[0] if isinstance(value, list) else value
        return state

    def _cohorts(self, params: list[Tensor]) -> list[list[Tensor]]:
        """`params` grouped by their counters (Adam's step), one group per update call."""
        if not params or not self._counters:
            return [params] if params else []
        counts = torch.cat([self._state(p)[c] for p in params for c in self._counters])
        cohorts: dict[tuple[float, ...], list[Tensor]] = {}
        for param, count in zip(params, counts.view(len(params), -1).tolist(), strict=True):
            cohorts.setdefault(tuple(count), []).append(param)
        return list(cohorts.values())

    def _update(self, params: list[Tensor], hp: dict[str, Any]) -> None:
        """`rule.update` on params that share their counters; the counters passed are the
        first param's, copied to the others afterwards."""
        states = [self._state(p) for p in params]
        lead = states[0]
        state = {
            name: lead[name] if name in self._counters else [s[name] for s in states]
            for name in lead
        }
        grads = [p.grad.unsqueeze(0) for p in params]
        self.rule.update(grads, state, [p.unsqueeze(0) for p in params], hp)
        if len(states) > 1:
            for name in self._counters:
                torch._foreach_copy_(
                    [s[name] for s in states[1:]], [lead[name]] * (len(states) - 1)
                )


def _wrap(rule: ModuleType, name: str, torch_equivalent: str) -> type[RuleOptimizer]:
    """A RuleOptimizer subclass for `rule`, picklable under steepest.optim.torch_compat."""
    defaults = ", ".join(f"{k}={v:g}" for k, v in rule.DEFAULTS.items())
    doc = f"{name}({defaults}): `steepest.optim.{rule.__name__.rsplit('.', 1)[1]}` as an "
    doc += f"Optimizer; same updates as {torch_equivalent}."
    return type(name, (RuleOptimizer,), {"rule": rule, "__doc__": doc, "__module__": __name__})


SGD = _wrap(sgd, "SGD", "torch.optim.SGD(lr, weight_decay=λ)")
Momentum = _wrap(momentum, "Momentum", "torch.optim.SGD(lr, momentum=μ)")
Nesterov = _wrap(nesterov, "Nesterov", "torch.optim.SGD(lr, momentum=μ, nesterov=True)")
Adagrad = _wrap(adagrad, "Adagrad", "torch.optim.Adagrad")
RMSprop = _wrap(rmsprop, "RMSprop", "torch.optim.RMSprop(alpha=rho)")
Adam = _wrap(adam, "Adam", "torch.optim.Adam(betas=(beta1, beta2))")
AdamW = _wrap(adamw, "AdamW", "torch.optim.AdamW(betas=(beta1, beta2))")
