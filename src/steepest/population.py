"""A population: K members of one architecture trained as one vectorized model.

Each parameter of the module is one leaf tensor [K, ...] (member k's copy at index k), so
one autograd backward fills every member's gradients and each update rule makes a handful
of foreach ops over the whole list, as torch.optim's foreach path does for one model.
Buffers (BatchNorm statistics, dropout rates and keys) are stacked [K, ...] too. The
forward is ``functional_call`` under ``vmap`` over members, each on its own batch
[K, B, ...]; the objective is the sum of the K members' losses, so member k's gradient is
exactly its own loss's gradient and a NaN in one member cannot reach another.

Member k trains exactly as it would alone: its initial weights come from its own seed, its
data order and dropout masks from counter-based hashes of that seed (`steepest.rng`), and a
population of one runs the same code.

Members are kept sorted by optimizer, so each update rule owns a contiguous block of rows
and updates it in place through views. Members leave between steps (finished, pruned,
diverged) and join between epochs; parameters, buffers, optimizer state and data orders
are compacted or extended without disturbing the others.
"""

import copy
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from steepest import rng
from steepest.nn.dropout import seed_dropout, set_dropout_rate
from steepest.nn.layers import dead_fraction
from steepest.nn.regularizers import elastic_net, l1, l2, weight_mask
from steepest.optim import RULES, concat_states, select_members
from steepest.optim.schedules import Schedule

# Domain tags keep the hash streams of different uses of one seed apart.
_DATA_ORDER = 1
_AUGMENT = 2
_PENALTIES = (("l1", 0.0), ("l2", 0.0), ("elastic_net", 0.0), ("elastic_alpha", 0.5))


@dataclass
class Member:
    """One trial: its seed, optimizer, hyperparameters and where it is in training.

    ``hparams`` holds the base values of the optimizer's hyperparameters (lr, momentum, …),
    penalty strengths (l1, l2, elastic_net, elastic_alpha) and the dropout rate;
    ``schedules`` maps a hyperparameter name to how its value changes with the epoch.
    """

    id: int
    seed: int
    optimizer: str
    hparams: dict[str, float]
    epochs: int
    schedules: dict[str, Schedule] = field(default_factory=dict)
    tag: Any = None
    epoch: int = 0

    def value(self, name: str, default: float) -> float:
        """The hyperparameter's value for the current epoch (schedule applied)."""
        base = self.hparams.get(name, default)
        schedule = self.schedules.get(name)
        return float(schedule(base, self.epoch)) if schedule else base


@dataclass
class Evaluation:
    """Per-member results on one split: loss [K], metric [K] and dead-unit fraction [K]."""

    loss: Tensor
    metric: Tensor
    dead_fraction: Tensor | None


class Population:
    """K members of the architecture `make_module` builds, trained together.

    `make_module()` must build and initialise a fresh module using torch's global RNG;
    the population seeds that RNG with each member's seed. `loss_fn(output, target)` and
    `metric_fn(output, target)` reduce one member's batch to a scalar and must be
    vmap-friendly. `augment(x, keys)`, if given, transforms a [K, B, ...] batch with
    per-member keys [K].
    """

    def __init__(
        self,
        make_module: Callable[[], nn.Module],
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        metric_fn: Callable[[Tensor, Tensor], Tensor],
        x_train: Tensor,
        y_train: Tensor,
        batch_size: int,
        device: torch.device | str = "cpu",
        augment: Callable[[Tensor, Tensor], Tensor] | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.make_module = make_module
        self.loss_fn = loss_fn
        self.metric_fn = metric_fn
        self.augment = augment
        self.x_train = x_train.to(self.device)
        self.y_train = y_train.to(self.device)
        self.batch_size = min(batch_size, len(x_train))
        self.steps_per_epoch = math.ceil(len(x_train) / self.batch_size)

        template = make_module()
        named = dict(template.named_parameters())
        self.names = list(named)
        self.shapes = [p.shape for p in named.values()]
        is_weight = weight_mask(template)
        self.is_weight = [is_weight[name] for name in self.names]
        self.dtype = next(iter(named.values())).dtype
        self.base = copy.deepcopy(template).to("meta")
        self.returns_hidden = "return_hidden" in inspect.signature(template.forward).parameters

        self.members: list[Member] = []
        self.params = [
            torch.zeros((0, *shape), dtype=self.dtype, device=self.device).requires_grad_()
            for shape in self.shapes
        ]
        self.buffers: dict[str, Tensor] = {
            name: torch.zeros((0, *b.shape), dtype=b.dtype, device=self.device)
            for name, b in template.named_buffers()
        }
        self.states: dict[str, dict] = {}
        self.order: Tensor | None = None  # [K, N] data order of the current epoch
        self.step_in_epoch = 0
        self._hparams: dict[str, dict[str, float | Tensor]] = {}
        self._penalty: dict[str, float | Tensor] = {}
        self._epoch_loss = self._epoch_metric = torch.zeros(0, device=self.device)

    # ----- membership -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.members)

    @property
    def groups(self) -> list[tuple[str, int, int]]:
        """(optimizer, first row, end row) of each contiguous block of members."""
        blocks: list[tuple[str, int, int]] = []
        for row, member in enumerate(self.members):
            if blocks and blocks[-1][0] == member.optimizer:
                blocks[-1] = (member.optimizer, blocks[-1][1], row + 1)
            else:
                blocks.append((member.optimizer, row, row + 1))
        return blocks

    def add(self, members: list[Member]) -> None:
        """New members join (between epochs only), each initialised from its own seed."""
        if self.order is not None:
            raise RuntimeError("members join between epochs, not in the middle of one")
        for member in members:
            if member.optimizer not in RULES:
                raise ValueError(f"optimizer {member.optimizer!r} has no population update rule")
            module = self._build_member(member)
            named = dict(module.named_parameters())
            rows = [named[n].detach().unsqueeze(0) for n in self.names]
            position = self._insert_position(member.optimizer)
            self.params = [
                _splice(p.detach(), position, row).requires_grad_()
                for p, row in zip(self.params, rows)
            ]
            for name, buffer in module.named_buffers():
                self.buffers[name] = _splice(self.buffers[name], position, buffer.unsqueeze(0))
            self.members.insert(position, member)
            _, start, end = next(g for g in self.groups if g[0] == member.optimizer)
            self._insert_state(member.optimizer, position - start, end - start - 1, rows)
        self._refresh_hparams()

    def remove(self, rows: list[int]) -> list[Member]:
        """Members at these rows leave now (any step); returns them."""
        if not rows:
            return []
        leaving = set(rows)
        keep = torch.tensor(
            [r for r in range(len(self.members)) if r not in leaving],
            dtype=torch.int64,
            device=self.device,
        )
        for name, start, end in self.groups:
            local = [r - start for r in range(start, end) if r not in leaving]
            if local:
                index = torch.tensor(local, dtype=torch.int64, device=self.device)
                self.states[name] = select_members(self.states[name], index)
            else:
                del self.states[name]
        gone = [self.members[r] for r in sorted(leaving)]
        self.members = [m for r, m in enumerate(self.members) if r not in leaving]
        self.params = [p.detach()[keep].requires_grad_() for p in self.params]
        self.buffers = {name: b[keep] for name, b in self.buffers.items()}
        self._epoch_loss = self._epoch_loss[keep]
        self._epoch_metric = self._epoch_metric[keep]
        if self.order is not None:
            self.order = self.order[keep]
        self._refresh_hparams()
        return gone

    def _build_member(self, member: Member) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(member.seed)
            module = self.make_module()
        seed_dropout(module, member.seed)
        set_dropout_rate(module, member.hparams.get("dropout", 0.0))
        return module.to(self.device)

    def _insert_position(self, optimizer: str) -> int:
        for name, _, end in self.groups:
            if name == optimizer:
                return end
        return len(self.members)

    def _insert_state(self, optimizer: str, local: int, count: int, rows: list[Tensor]) -> None:
        """Splice a fresh state row in at `local` of the block's `count` existing rows."""
        fresh = RULES[optimizer].init(rows)
        if count == 0:
            self.states[optimizer] = fresh
            return
        old = self.states[optimizer]
        before = select_members(old, torch.arange(local, device=self.device))
        after = select_members(old, torch.arange(local, count, device=self.device))
        self.states[optimizer] = concat_states(concat_states(before, fresh), after)

    # ----- hyperparameters --------------------------------------------------------------

    def _refresh_hparams(self) -> None:
        """Every hyperparameter at each member's current epoch, per optimizer block."""
        self._hparams = {
            name: {
                hp: self._per_member([m.value(hp, default) for m in self.members[start:end]])
                for hp, default in RULES[name].DEFAULTS.items()
            }
            for name, start, end in self.groups
        }
        self._penalty = {
            hp: self._per_member([m.hparams.get(hp, default) for m in self.members])
            for hp, default in _PENALTIES
        }

    def _per_member(self, values: list[float]) -> float | Tensor:
        """One value per member as a [K] tensor — or a plain float when every member has
        the same value, so the rules take torch's scalar fast paths (a zero weight decay
        then costs nothing)."""
        if values and all(v == values[0] for v in values):
            return float(values[0])
        return torch.tensor(values, dtype=self.dtype, device=self.device)

    def hparam_values(self, name: str) -> Tensor:
        """The current value of one optimizer hyperparameter for every member [K] (NaN where
        a member's rule has no such hyperparameter)."""
        parts = [
            torch.as_tensor(self._hparams[group].get(name, math.nan), dtype=self.dtype)
            .cpu()
            .expand(end - start)
            for group, start, end in self.groups
        ]
        return torch.cat(parts) if parts else torch.zeros(0)

    # ----- training ---------------------------------------------------------------------

    def parameters(self) -> dict[str, Tensor]:
        """The named parameters, each [K, ...]."""
        return dict(zip(self.names, self.params))

    @property
    def flat(self) -> Tensor:
        """Every member's parameters as one row each, [K, P] (a copy, for inspection)."""
        return torch.cat([p.detach().reshape(len(self.members), -1) for p in self.params], 1)

    def forward(self, x: Tensor, shared_input: bool = False, **kwargs: Any) -> Any:
        """Outputs of every member. x is [K, B, ...] (or [B, ...] with `shared_input`)."""
        params = self.parameters()

        def call(p: dict, b: dict, inputs: Tensor) -> Any:
            return functional_call(self.base, (p, b), (inputs,), kwargs)

        if len(self.members) == 1:  # the same module code without vmap's per-op overhead
            single = call(
                {n: t[0] for n, t in params.items()},
                {n: t[0] for n, t in self.buffers.items()},
                x if shared_input else x[0],
            )
            return _unsqueeze_tree(single)
        return vmap(call, in_dims=(0, 0, None if shared_input else 0))(params, self.buffers, x)

    def begin_epoch(self) -> None:
        """Draw each member's data order for its current epoch: [K, N]."""
        seeds = torch.tensor([m.seed for m in self.members], dtype=torch.int64)
        epochs = torch.tensor([m.epoch for m in self.members], dtype=torch.int64)
        keys = rng.derive_key(seeds, _DATA_ORDER, epochs)
        self.order = rng.permutation(keys, len(self.x_train)).to(self.device)
        self.step_in_epoch = 0
        self._epoch_loss = torch.zeros(len(self.members), device=self.device)
        self._epoch_metric = torch.zeros(len(self.members), device=self.device)
        self._refresh_hparams()
        self.base.train()

    def step(self) -> Tensor:
        """One minibatch step of every member; returns the members' batch losses [K]."""
        assert self.order is not None, "begin_epoch() first"
        start = self.step_in_epoch * self.batch_size
        index = self.order[:, start : start + self.batch_size]
        x, y = self.x_train[index], self.y_train[index]
        if self.augment is not None:
            x = self.augment(x, self._augment_keys())
        outputs = self.forward(x)
        losses = _per_member(self.loss_fn, outputs, y, len(self.members))
        objective = losses + self._penalties()
        for p in self.params:
            p.grad = None
        objective.sum().backward()
        with torch.no_grad():
            grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in self.params]
            for name, first, end in self.groups:
                RULES[name].update(
                    [g[first:end] for g in grads],
                    self.states[name],
                    [p[first:end] for p in self.params],
                    self._hparams[name],
                )
            metric = _per_member(self.metric_fn, outputs.detach(), y, len(self.members))
            self._epoch_loss += losses.detach() * index.shape[1]
            self._epoch_metric += metric * index.shape[1]
        self.step_in_epoch += 1
        return losses.detach()

    def end_epoch(self) -> tuple[Tensor, Tensor]:
        """Close the epoch: each member's epoch count advances. Returns the mean training
        loss [K] and the running training metric [K] (averaged over the epoch's batches,
        measured in train mode as the batches went by: no extra pass over the data)."""
        assert self.step_in_epoch == self.steps_per_epoch, "the epoch is not finished"
        for member in self.members:
            member.epoch += 1
        self.order = None
        n = len(self.x_train)
        return self._epoch_loss / n, self._epoch_metric / n

    def run_epoch(self) -> tuple[Tensor, Tensor]:
        """All steps of one epoch; returns each member's mean training loss and metric."""
        self.begin_epoch()
        for _ in range(self.steps_per_epoch):
            self.step()
        return self.end_epoch()

    def _penalties(self) -> Tensor | float:
        """½λ₂Σw² + λ₁Σ|w| + λΣ(α|w| + (1−α)w²) per member, on weights only."""
        strength = self._penalty
        terms = []
        for weights in (p for p, is_weight in zip(self.params, self.is_weight) if is_weight):
            if _nonzero(strength["l2"]):
                terms.append(l2(weights, strength["l2"]))
            if _nonzero(strength["l1"]):
                terms.append(l1(weights, strength["l1"]))
            if _nonzero(strength["elastic_net"]):
                alpha = strength["elastic_alpha"]
                terms.append(elastic_net(weights, strength["elastic_net"], alpha))
        return torch.stack(terms).sum(0) if terms else 0.0

    def _augment_keys(self) -> Tensor:
        seeds = torch.tensor([m.seed for m in self.members], dtype=torch.int64)
        epochs = torch.tensor([m.epoch for m in self.members], dtype=torch.int64)
        return rng.derive_key(seeds, _AUGMENT, epochs, self.step_in_epoch).to(self.device)

    # ----- evaluation -------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, x: Tensor, y: Tensor, chunk: int = 2048) -> Evaluation:
        """Loss and metric of every member on a whole split, in eval mode (no dropout,
        BatchNorm running statistics); dead-unit fraction on its first chunk."""
        self.base.eval()
        x, y = x.to(self.device), y.to(self.device)
        chunks = [
            self.forward(x[i : i + chunk], shared_input=True) for i in range(0, len(x), chunk)
        ]
        outputs = torch.cat(chunks, dim=1)
        k = len(self.members)
        targets = y.expand(k, *y.shape)
        dead = None
        if self.returns_hidden:
            _, hidden = self.forward(x[:chunk], shared_input=True, return_hidden=True)
            dead = vmap(dead_fraction)(hidden) if hidden else None
        return Evaluation(
            loss=_per_member(self.loss_fn, outputs, targets, k),
            metric=_per_member(self.metric_fn, outputs, targets, k),
            dead_fraction=dead,
        )

    # ----- export -----------------------------------------------------------------------

    def member_state(self, row: int) -> dict[str, Tensor]:
        """Member `row`'s parameters and buffers as a state_dict for a standalone module."""
        state = {name: p[row].detach().clone() for name, p in zip(self.names, self.params)}
        state.update({name: b[row].clone() for name, b in self.buffers.items()})
        return state

    def member_module(self, row: int) -> nn.Module:
        """A standalone nn.Module holding member `row`'s current weights."""
        module = self.make_module().to(self.device)
        module.load_state_dict(self.member_state(row))
        return module


def _splice(stacked: Tensor, position: int, rows: Tensor) -> Tensor:
    """`rows` inserted into `stacked` along the member dimension before `position`."""
    return torch.cat([stacked[:position], rows.to(stacked.dtype), stacked[position:]])


def _nonzero(value: float | Tensor) -> bool:
    return bool((torch.as_tensor(value) != 0).any())


def _per_member(fn: Callable, outputs: Tensor, targets: Tensor, k: int) -> Tensor:
    if k == 1:
        return fn(outputs[0], targets[0]).unsqueeze(0)
    return vmap(fn)(outputs, targets)


def _unsqueeze_tree(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.unsqueeze(0)
    if isinstance(value, (tuple, list)):
        return type(value)(_unsqueeze_tree(v) for v in value)
    return value
