"""A population: K members of one architecture trained as one vectorized model.

Each parameter of the module is one leaf tensor [K, ...] (member k's copy at index k), so
one autograd backward fills every member's gradients and each update rule makes a handful
of foreach ops over the whole list, as torch.optim's foreach path does for one model.
Buffers (BatchNorm statistics, dropout rates and keys) are stacked [K, ...] too. The
forward is ``functional_call`` under ``vmap`` over members, each on its own batch
[K, B, ...] (plain MLPs take `steepest.stacked`'s baddbmm path instead, with its
hand-written backward in place of autograd); the objective is the sum of the K members'
losses, so member k's gradient is exactly its own loss's gradient and a NaN in one member
cannot reach another.

Member k trains exactly as it would alone: its initial weights come from its own seed, its
data order and dropout masks from counter-based keys hashed from that seed
(`steepest.rng`), and a population of one runs the same code.

Members are kept sorted by optimizer, so each update rule owns a contiguous block of rows
and updates it in place through views. Members leave between steps (finished, pruned,
diverged) and join between epochs; parameters, buffers, optimizer state and data orders
are compacted or extended without disturbing the others.
"""

import contextlib
import copy
import inspect
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from steepest import rng, stacked
from steepest.errors import UserError
from steepest.nn.dropout import DROPOUTS, seed_dropout, set_dropout_rate
from steepest.nn.layers import dead_fraction
from steepest.nn.regularizers import (
    STRENGTH_DEFAULTS,
    weight_mask,
    weight_penalty,
    weight_penalty_gradient,
)
from steepest.optim import RULES, concat_states, select_members
from steepest.optim.schedules import Schedule

# The rules whose update evaluates the loss again (L-BFGS): `_update` hands them a way.
_EVALUATING = {name for name, rule in RULES.items() if getattr(rule, "EVALUATES", False)}

# Domain tags keep the hash streams of different uses of one seed apart.
_DATA_ORDER = 1
_AUGMENT = 2
_FORWARD = 3


@dataclass
class Member:
    """One trial: its seed, optimizer, hyperparameters and where it is in training.

    ``hparams`` holds the base values of the optimizer's hyperparameters (lr, momentum, …),
    penalty strengths (l1, l2, elastic_net, elastic_alpha) and the dropout rate;
    ``schedules`` maps a hyperparameter name to how its value changes with the epoch;
    ``patience``, when set, stops the member after that many epochs without a new best.
    """

    id: int
    seed: int
    optimizer: str
    hparams: dict[str, float]
    epochs: int
    schedules: dict[str, Schedule] = field(default_factory=dict)
    patience: int | None = None
    tag: Any = None
    epoch: int = 0

    def value(self, name: str, default: float) -> float:
        """The hyperparameter's value for the current epoch (schedule applied)."""
        base = self.hparams.get(name, default)
        schedule = self.schedules.get(name)
        return float(schedule(base, self.epoch)) if schedule else base


# Forward FLOPs a population's step (its K members on one minibatch) must reach before
# torch's intra-op threads pay, on this 2-core CPU (bench/threads.py, 2026-12-02): one
# thread was faster up to 2.4 MFLOP (digits MLPs 64→128→10 at K = 4: 0.134 against
# 0.173 ms a step; 64→512→10 alone: 0.136 against 0.151 ms), two from 4.8 (64→128→10 at
# K = 8: 0.214 against 0.251 ms; a digits CNN alone at 5.3: 1.35 against 1.42 ms).
ONE_THREAD_BELOW = 3e6
EVALUATION_CHUNK = 2048  # examples evaluated in one forward (`Population.evaluate`)


@dataclass
class Evaluation:
    """Per-member results on one split: loss [K], metric [K] and dead-unit fraction [K]."""

    loss: Tensor
    metric: Tensor
    dead_fraction: Tensor | None


class Population:
    """K members of the architecture `make_module` builds, trained together.

    `make_module()` must build and initialise a fresh module using torch's global RNG;
    the population seeds that RNG with each member's seed. `loss_each(output, target)`
    and `metric_each(output, target)` give per-example values [N] (a member's loss is
    their mean over its batch; its metric is `metric_finish` of their mean).
    `augment(x, keys)`, if given, transforms a [K, B, ...] batch with per-member keys [K].
    """

    def __init__(
        self,
        make_module: Callable[[], nn.Module],
        loss_each: Callable[[Tensor, Tensor], Tensor],
        metric_each: Callable[[Tensor, Tensor], Tensor],
        x_train: Tensor,
        y_train: Tensor,
        batch_size: int,
        device: torch.device | str = "cpu",
        augment: Callable[[Tensor, Tensor], Tensor] | None = None,
        metric_finish: Callable[[Tensor], Tensor] = lambda mean: mean,
    ) -> None:
        self.device = torch.device(device)
        self.make_module = make_module
        self.loss_each = loss_each
        self.metric_each = metric_each
        self.metric_finish = metric_finish
        self.augment = augment

        template = build_aside(make_module)
        self.batch_size = min(batch_size, len(x_train))
        # Batch norm cannot normalise a batch of one example (its variance is 0/0): as
        # with DataLoader(drop_last=True), such a last batch is left out of each epoch.
        full, rest = divmod(len(x_train), self.batch_size)
        batch_norm = normalizes_batches(template)
        drops_last = rest == 1 and batch_norm
        if self.batch_size == 1 and batch_norm:
            raise UserError(
                f"batch norm needs batches of at least 2 examples; this one has "
                f"{len(x_train)} training example(s) and batch_size {batch_size}"
            )
        self.steps_per_epoch = full + (rest > 0 and not drops_last)
        self._examples_per_epoch = len(x_train) - drops_last
        named = dict(template.named_parameters())
        self.names = list(named)
        self.shapes = [p.shape for p in named.values()]
        is_weight = weight_mask(template)
        self._weight_rows = [i for i, name in enumerate(self.names) if is_weight[name]]
        # A parameter frozen in the module (requires_grad=False) stays as initialised, as
        # torch.optim leaves it: the update rules and their state see the others only.
        self._trained = [i for i, p in enumerate(named.values()) if p.requires_grad]
        if not self._trained:
            what = "every parameter of the network is frozen" if named else "it has none"
            raise UserError(f"model: no parameters to train ({what})")
        self.dtype = next(iter(named.values())).dtype
        # a member's forward per example: its FLOPs (`intra_op_threads`) and the bytes of
        # its layers' outputs (`capacity.member_bytes`)
        self.forward_flops, self.forward_bytes = _forward_footprint(
            copy.deepcopy(template), as_input(x_train[:2], self.dtype)
        )
        self.base = copy.deepcopy(template).to("meta")
        self.x_train = as_input(x_train, self.dtype).to(self.device)
        self.y_train = y_train.to(self.device)
        # Names under which a module shares one tensor (tied weights: `b.weight = a.weight`):
        # stacked once, and given under each name again in a member's state_dict.
        self._aliases = _aliases(template)
        # Dead units are ReLU's: a unit ≤ 0 for every example passes no gradient. A tanh or
        # leaky-ReLU unit below 0 still does, so other networks record no such fraction.
        self.returns_hidden = "return_hidden" in inspect.signature(
            template.forward
        ).parameters and any(type(m) is nn.ReLU for m in template.modules())
        # Plain MLPs: the baddbmm forward instead of vmap, and the hand-written backward
        # instead of autograd at every K, one included (benchmarks turn
        # `_backward_by_hand` off to time autograd's).
        self._plan = stacked.Plan(template) if stacked.supports(template) else None
        self._backward_by_hand = self._plan is not None
        # Which parameters a population of K > 1 keeps transposed in memory: under vmap
        # every 2-D weight (its gradient arrives so, `_member_layout`); on the plan's path
        # the weights whose gradient GEMM is faster so (`stacked.stores_transposed`).
        self._transposed = [
            len(shape) == 2 and (self._plan is None or stacked.stores_transposed(shape))
            for shape in self.shapes
        ]

        self.members: list[Member] = []
        self.params = [
            torch.zeros((0, *shape), dtype=self.dtype, device=self.device).requires_grad_(
                i in self._trained
            )
            for i, shape in enumerate(self.shapes)
        ]
        self._leaves = self.params  # the tensors autograd fills (see _store)
        self.buffers: dict[str, Tensor] = {
            name: torch.zeros((0, *b.shape), dtype=b.dtype, device=self.device)
            for name, b in template.named_buffers()
        }
        self.states: dict[str, dict] = {}
        self.groups: list[tuple[str, int, int]] = []  # (optimizer, first row, end row)
        self._live: nn.Module | None = None
        # The current epoch's minibatch indices, [K, b] each (`_batches`); None between
        # epochs.
        self._batches: list[Tensor] | None = None
        self.step_in_epoch = 0
        self._hparams: dict[str, dict[str, float | Tensor]] = {}
        self._penalty: Callable[[list[Tensor]], Tensor] | None = None
        self._penalty_gradient: Callable[[list[Tensor], list[Tensor]], None] | None = None
        self._epoch_loss = torch.zeros(0, device=self.device)

    # ----- membership -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.members)

    def _find_groups(self) -> list[tuple[str, int, int]]:
        """(optimizer, first row, end row) of each contiguous block of members."""
        blocks: list[tuple[str, int, int]] = []
        for row, member in enumerate(self.members):
            if blocks and blocks[-1][0] == member.optimizer:
                blocks[-1] = (member.optimizer, blocks[-1][1], row + 1)
            else:
                blocks.append((member.optimizer, row, row + 1))
        return blocks

    def add(self, members: list[Member]) -> None:
        """New members join (between epochs only), each initialised from its own seed.

        Rows stay sorted by optimizer (existing blocks first, in their order; a new
        optimizer opens a block at the end), so each block's optimizer state is its old
        state followed by fresh state for its newcomers.
        """
        if self.in_epoch:
            raise RuntimeError("members join between epochs, not in the middle of one")
        if not members:
            return
        for member in members:
            if member.optimizer not in RULES:
                raise ValueError(f"optimizer {member.optimizer!r} has no population update rule")
        # Built on the CPU; each stacked tensor then moves to the device in one copy.
        modules = [self._build_member(m) for m in members]
        params = [dict(m.named_parameters()) for m in modules]
        buffers = [dict(m.named_buffers()) for m in modules]
        rows = {
            name: torch.stack([p[name].detach() for p in params]).to(self.device)
            for name in self.names
        }
        fresh_buffers = {
            name: torch.stack([b[name] for b in buffers]).to(self.device) for name in self.buffers
        }
        everyone = self.members + members
        blocks = list(dict.fromkeys(m.optimizer for m in everyone))
        order = sorted(range(len(everyone)), key=lambda i: blocks.index(everyone[i].optimizer))
        index = torch.tensor(order, device=self.device)
        for optimizer in blocks:
            newcomers = [i for i, m in enumerate(members) if m.optimizer == optimizer]
            if not newcomers:
                continue
            picked = torch.tensor(newcomers, device=self.device)
            fresh = RULES[optimizer].init(self._trained_only([rows[n][picked] for n in self.names]))
            old = self.states.get(optimizer)
            self.states[optimizer] = fresh if old is None else concat_states(old, fresh)
        self.members = [everyone[i] for i in order]
        self._store(
            [
                torch.cat([p.detach(), rows[name].to(self.dtype)])[index]
                for name, p in zip(self.names, self.params)
            ],
            {
                name: torch.cat([b, fresh_buffers[name].to(b.dtype)])[index]
                for name, b in self.buffers.items()
            },
        )

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
        self._epoch_loss = self._epoch_loss[keep]
        if self._batches is not None:
            self._batches = [batch[keep] for batch in self._batches]
        self._store(
            [p.detach()[keep] for p in self.params],
            {name: b[keep] for name, b in self.buffers.items()},
        )
        return gone

    def _store(self, params: list[Tensor], buffers: dict[str, Tensor]) -> None:
        """Install stacked parameters and buffers for the current members.

        K > 1: each parameter is a leaf [K, ...] in `_member_layout`. K = 1: a live copy
        of the module holds them and runs without vmap or functional_call; `params` and
        `buffers` are then [1, ...] views of its own tensors, so every other method reads
        and updates them the same way.
        """
        k = len(self.members)
        self.groups = self._find_groups()
        transposed = [t and k > 1 for t in self._transposed]
        trained = self._trained_only(transposed)
        self.states = {name: _state_layout(s, trained) for name, s in self.states.items()}
        if k != 1:
            self._live = None
            self.params = [  # a frozen parameter takes no gradient: autograd skips its work
                _member_layout(p, t).requires_grad_(i in self._trained)
                for i, (p, t) in enumerate(zip(params, transposed))
            ]
            self.buffers = buffers
            self._leaves = self.params
        else:
            if self._live is None:
                self._live = build_aside(self.make_module).to(self.device)
            live_params = dict(self._live.named_parameters())
            live_buffers = dict(self._live.named_buffers())
            with torch.no_grad():
                for name, p in zip(self.names, params):
                    live_params[name].copy_(p[0])
                for name, b in buffers.items():
                    live_buffers[name].copy_(b[0])
            self.params = [live_params[name].unsqueeze(0) for name in self.names]
            self.buffers = {name: b.unsqueeze(0) for name, b in live_buffers.items()}
            self._leaves = [live_params[name] for name in self.names]
        self._refresh_hparams()

    def _trained_only(self, per_parameter: list) -> list:
        """The entries of a list with one per parameter that belong to trained (unfrozen)
        parameters; the list itself when every parameter is trained."""
        if len(self._trained) == len(self.names):
            return per_parameter
        return [per_parameter[i] for i in self._trained]

    def _gradients(self) -> list[Tensor]:
        """Every trained parameter's gradient as [K, ...] (zeros for one the loss skips)."""
        leaves = self._trained_only(self._leaves)
        grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in leaves]
        return [g.unsqueeze(0) for g in grads] if self._live is not None else grads

    def _build_member(self, member: Member) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            # The CPU generator alone: the module is initialised on the CPU, and
            # torch.manual_seed would also queue a seed for every accelerator backend,
            # formatting a stack trace each time (1.5 ms a member).
            torch.default_generator.manual_seed(member.seed)
            module = self.make_module()
        seed_dropout(module, member.seed)
        if "dropout" in member.hparams:  # else the module's own rates (a user's network)
            set_dropout_rate(module, member.hparams["dropout"])
        return module

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
        strengths = {
            hp: self._per_member([m.hparams.get(hp, d) for m in self.members])
            for hp, d in STRENGTH_DEFAULTS.items()
        }
        self._penalty = weight_penalty(strengths)
        self._penalty_gradient = weight_penalty_gradient(strengths)

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
        if self._live is not None:  # the same module code without vmap's per-op overhead
            with self._seeded_rng():
                return _unsqueeze_tree(self._live(x if shared_input else x[0], **kwargs))

        if self._plan is not None:
            inputs = x.expand(len(self.members), *x.shape) if shared_input else x
            return self._plan.forward(self.parameters(), inputs, **kwargs)

        def call(p: dict, b: dict, inputs: Tensor) -> Any:
            return functional_call(self.base, (p, b), (inputs,), kwargs)

        in_dims = (0, 0, None if shared_input else 0)
        return vmap(call, in_dims=in_dims)(self.parameters(), self.buffers, x)

    @contextlib.contextmanager
    def _seeded_rng(self) -> Iterator[None]:
        """torch's global RNG seeded from the member's seed, epoch and step, and put back
        afterwards, around the forward of a population of one: a user's network that
        draws random numbers itself (F.dropout, torch.rand: refused under vmap, so only
        ever alone) draws the same ones on every run, and the caller's RNG is untouched."""
        member = self.members[0]
        key = rng.derive_int_key(member.seed, _FORWARD, member.epoch, self.step_in_epoch)
        cuda = []
        if self.device.type == "cuda":
            index = self.device.index
            cuda = [torch.cuda.current_device() if index is None else index]
        with torch.random.fork_rng(devices=cuda):
            torch.default_generator.manual_seed(key)
            for index in cuda:  # that device's generator, not the current device's
                torch.cuda.default_generators[index].manual_seed(key)
            yield

    def begin_epoch(self) -> None:
        """Draw each member's data order for its current epoch (cut into minibatches)."""
        seeds = torch.tensor([m.seed for m in self.members], dtype=torch.int64)
        epochs = torch.tensor([m.epoch for m in self.members], dtype=torch.int64)
        keys = rng.derive_key(seeds, _DATA_ORDER, epochs)
        order = rng.permutation(keys, len(self.x_train)).to(self.device)
        self._batches = _batches(order, self.batch_size)
        self.step_in_epoch = 0
        self._epoch_loss = torch.zeros(len(self.members), device=self.device)
        self._refresh_hparams()
        self._set_mode(training=True)

    def step(self) -> Tensor:
        """One minibatch step of every member; returns the members' batch losses [K]."""
        assert self._batches is not None, "begin_epoch() first"
        index = self._batches[self.step_in_epoch]
        x, y = _rows(index, self.x_train, self.y_train)
        if self.augment is not None:
            x = self.augment(x, self._augment_keys())
        # The hand-written backward needs no autograd at all: inference mode also skips the
        # version counters and autograd metadata that no_grad keeps. Autograd's route turns
        # grad on inside (`_autograd`), which inference mode would not allow.
        by_hand = self._backward_by_hand
        with torch.inference_mode() if by_hand else torch.no_grad():
            losses, grads = self._loss_and_gradients(x, y)
            self._update(grads, losses, x, y)
            self._epoch_loss.add_(losses, alpha=index.shape[1])
        self.step_in_epoch += 1
        return losses

    def _loss_and_gradients(self, x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Losses [K] and the trained parameters' gradients [K, …] (`_trained_only`) at
        the current parameters, by hand or autograd."""
        return self._backprop(x, y) if self._backward_by_hand else self._autograd(x, y)

    def _backprop(self, x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Losses [K] and gradients [K, …] of a plain MLP by `stacked`'s hand-written
        backward; the weight penalty's gradient is added in closed form (its value is
        not needed: `step` reports the losses alone)."""
        losses, named = self._plan.loss_and_gradients(self.parameters(), x, y, self.loss_each)
        grads = [named[name] for name in self.names]
        if self._penalty_gradient is not None:
            rows = self._weight_rows
            self._penalty_gradient([self.params[i] for i in rows], [grads[i] for i in rows])
        return losses, self._trained_only(grads)

    def _autograd(self, x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Losses [K] and gradients [K, …] by autograd through `forward` (any module)."""
        with torch.enable_grad():
            losses = stacked.member_means(self.loss_each, self.forward(x), y)
            for p in self._leaves:
                p.grad = None
            self._objective(losses).sum().backward()
        return losses.detach(), self._gradients()

    def _update(self, grads: list[Tensor], losses: Tensor, x: Tensor, y: Tensor) -> None:
        """Each optimizer's block of rows takes its update rule's step, in place. A rule
        that evaluates again as it goes (L-BFGS, `EVALUATES`) also gets its rows'
        objective (loss plus weight penalty, what it minimizes) and a way to evaluate
        both again on the batch (x, y): every member is evaluated, the block's rows kept."""
        trained = self._trained_only(self.params)  # `grads` are theirs already
        for name, first, end in self.groups:
            whole = first == 0 and end == len(self.members)
            block_grads = grads if whole else [g[first:end] for g in grads]
            params = trained if whole else [p[first:end] for p in trained]
            if name not in _EVALUATING:
                RULES[name].update(block_grads, self.states[name], params, self._hparams[name])
                continue
            rows = slice(first, end)

            def again(counted: Tensor, rows: slice = rows) -> tuple[Tensor, list[Tensor]]:
                with self._buffers_kept_but(rows, counted):
                    fresh_losses, fresh_grads = self._loss_and_gradients(x, y)
                return self._objective(fresh_losses)[rows], [g[rows] for g in fresh_grads]

            RULES[name].update(
                block_grads,
                self.states[name],
                params,
                self._hparams[name],
                self._objective(losses)[rows],
                again,
            )

    @contextlib.contextmanager
    def _buffers_kept_but(self, rows: slice, counted: Tensor) -> Iterator[None]:
        """Every member's buffers as they were, after the block, except those of the
        `counted` rows of `rows`. A rule's extra evaluation (L-BFGS) runs the whole
        population in train mode, which moves batch-norm statistics and dropout
        counters; a member outside the block, or one that stopped iterating, would not
        have evaluated alone."""
        if not self.buffers:
            yield
            return
        kept = {name: buffer.clone() for name, buffer in self.buffers.items()}
        yield
        moved = torch.zeros(len(self.members), dtype=torch.bool, device=self.device)
        moved[rows] = counted
        for name, buffer in self.buffers.items():
            rows_of = moved.view(-1, *([1] * (buffer.dim() - 1)))
            buffer.copy_(torch.where(rows_of, buffer, kept[name]))

    def _objective(self, losses: Tensor) -> Tensor:
        """Each member's loss plus its weight penalty [K]."""
        penalties = self._penalties()
        return losses if penalties is None else losses + penalties

    def end_epoch(self) -> Tensor:
        """Close the epoch: each member's epoch count advances. Returns each member's
        training loss [K], averaged over the epoch's batches as they went by (in train
        mode, with dropout: the figure the optimizer saw)."""
        assert self.step_in_epoch == self.steps_per_epoch, "the epoch is not finished"
        for member in self.members:
            member.epoch += 1
        self.drop_epoch()
        return self._epoch_loss / self._examples_per_epoch

    @property
    def in_epoch(self) -> bool:
        """Whether an epoch has begun and not ended (members may not join then)."""
        return self._batches is not None

    def drop_epoch(self) -> None:
        """Forget the current epoch's data order (`end_epoch` does; a throughput probe
        drops an unfinished epoch so that more members may join)."""
        self._batches = None

    def run_epoch(self) -> Tensor:
        """All steps of one epoch; returns each member's mean training loss [K]."""
        with self.intra_op_threads():
            self.begin_epoch()
            for _ in range(self.steps_per_epoch):
                self.step()
            return self.end_epoch()

    @contextlib.contextmanager
    def intra_op_threads(self, examples: int | None = None) -> Iterator[None]:
        """Inside the block torch runs one thread a CPU op when the population's forward
        on `examples` each (a minibatch by default) is below `ONE_THREAD_BELOW` FLOPs, else
        the thread count in force (the process's, or what an enclosing block set).

        Small ops gain nothing from a second thread and pay for waking it; on a machine
        where another process keeps a core busy they wait for it to be scheduled: a step
        of 2 iris MLPs (8 hidden units) took 32 ms against 0.1 ms on one thread. The
        choice depends on K and the network alone, never on timing, so a seeded run
        repeats (batch norm's statistics round differently on 1 and 2 threads)."""
        if self.device.type != "cpu":
            yield
            return
        work = len(self.members) * self.forward_flops * (examples or self.batch_size)
        previous = torch.get_num_threads()
        if work >= ONE_THREAD_BELOW or previous == 1:
            # untouched: setting the count, even to itself, cost a CNN population of 16
            # a fifth of its time (torch resets its thread pools on every call)
            yield
            return
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(previous)

    def _set_mode(self, training: bool) -> None:
        for module in (self.base, self._live):
            if module is not None:
                module.train(training)

    def _penalties(self) -> Tensor | None:
        """Ω per member [K] on the weights (`weight_penalty`); None when it is zero."""
        if self._penalty is None:
            return None
        return self._penalty([self.params[i] for i in self._weight_rows])

    def _augment_keys(self) -> Tensor:
        seeds = torch.tensor([m.seed for m in self.members], dtype=torch.int64)
        epochs = torch.tensor([m.epoch for m in self.members], dtype=torch.int64)
        return rng.derive_key(seeds, _AUGMENT, epochs, self.step_in_epoch).to(self.device)

    # ----- evaluation -------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(
        self, x: Tensor, y: Tensor, chunk: int = EVALUATION_CHUNK, dead_units: bool = True
    ) -> Evaluation:
        """Loss and metric of every member on a whole split, in eval mode (no dropout,
        BatchNorm running statistics); with `dead_units`, the fraction of hidden units
        that are ≤ 0 for every example of the first chunk (same forward pass)."""
        with self.intra_op_threads(examples=min(len(x), chunk)):
            return self._evaluate(x, y, chunk, dead_units)

    def _evaluate(self, x: Tensor, y: Tensor, chunk: int, dead_units: bool) -> Evaluation:
        self._set_mode(training=False)
        x, y = as_input(x, self.dtype).to(self.device), y.to(self.device)
        hidden_too = dead_units and self.returns_hidden
        outputs, dead = [], None
        for start in range(0, len(x), chunk):
            result = self.forward(
                x[start : start + chunk],
                shared_input=True,
                **({"return_hidden": True} if hidden_too else {}),
            )
            if hidden_too:
                result, hidden = result
                if start == 0 and hidden:
                    dead = vmap(dead_fraction)(hidden)
            outputs.append(result)
        # Contiguous once for both the loss and the metric (each flattens it to rows).
        output = torch.cat(outputs, dim=1) if len(outputs) > 1 else outputs[0].contiguous()
        targets = y.expand(len(self.members), *y.shape)
        loss = stacked.member_means(self.loss_each, output, targets)
        metric = self.metric_finish(stacked.member_means(self.metric_each, output, targets))
        # A member whose loss is NaN or infinite has no metric either: the argmax of NaN
        # outputs is class 0, whose share of the split read as its accuracy.
        metric = torch.where(loss.isfinite(), metric, torch.nan)
        return Evaluation(loss=loss, metric=metric, dead_fraction=dead)

    # ----- export -----------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Members, parameters, buffers and optimizer state (between epochs only)."""
        if self.in_epoch:
            raise RuntimeError("a population is saved between epochs, not in one")
        return {
            "members": self.members,
            "params": [p.detach().clone() for p in self.params],
            "buffers": {name: b.clone() for name, b in self.buffers.items()},
            "states": self.states,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()`'s output (same architecture)."""
        self.members = list(state["members"])
        self.states = state["states"]
        self._store(
            [p.to(self.device) for p in state["params"]],
            {name: b.to(self.device) for name, b in state["buffers"].items()},
        )

    def member_state(self, row: int) -> dict[str, Tensor]:
        """Member `row`'s parameters and buffers as a state_dict for a standalone module."""
        state = {name: p[row].detach().clone() for name, p in zip(self.names, self.params)}
        state.update({name: b[row].clone() for name, b in self.buffers.items()})
        state.update({alias: state[name] for alias, name in self._aliases.items()})
        return state

    def member_module(self, row: int) -> nn.Module:
        """A standalone nn.Module holding member `row`'s current weights."""
        module = build_aside(self.make_module).to(self.device)
        module.load_state_dict(self.member_state(row))
        return module


# Leaves whose parameters do no matrix products (their FLOPs are negligible here).
_ELEMENTWISE_PARAMETERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def _forward_footprint(module: nn.Module, examples: Tensor) -> tuple[float, float]:
    """FLOPs of the linear and convolution layers and bytes of every layer's output, of
    one member's forward, per example: counted by forward hooks on the network's leaf
    modules during a forward of `examples` in eval mode (on a copy the caller gives: a
    forward may make state). Not by the meta device or a dispatch mode, whose first use
    in a process costs 0.75 s of imports (a 1-second run was 1.8 s).

    Where a parameter lies outside Linear, Conv and normalisation layers (a user's
    functional `x @ self.w`, attention, an LSTM), the hooks cannot see its products: the
    FLOPs are unknown, counted as infinite (the step keeps the process's threads). A
    dropout layer, the identity in eval mode, counts twice its output (its mask and
    result in training). A forward that fails counts as infinite and holding nothing."""
    flops, outputs = 0.0, 0.0

    def count(layer: nn.Module, inputs: Any, output: Any) -> None:
        nonlocal flops, outputs
        if not isinstance(output, Tensor):
            return
        size = output.numel() * output.element_size()
        storage = output.untyped_storage().data_ptr()
        if isinstance(layer, DROPOUTS):
            outputs += 2 * size
        elif all(
            not isinstance(x, Tensor) or x.untyped_storage().data_ptr() != storage for x in inputs
        ):
            outputs += size  # not a view (Flatten's) nor in place (ReLU(inplace=True))
        if isinstance(layer, nn.Linear):
            flops += 2.0 * layer.in_features * output.numel()
        elif isinstance(layer, nn.modules.conv._ConvNd):
            flops += 2.0 * output.numel() * layer.weight[0].numel()

    leaves = [m for m in module.modules() if not any(True for _ in m.children())]
    counted = (nn.Linear, nn.modules.conv._ConvNd, *_ELEMENTWISE_PARAMETERS)
    seen = {id(p) for leaf in leaves if isinstance(leaf, counted) for p in leaf.parameters()}
    unseen = any(id(p) not in seen for p in module.parameters())
    hooks = [leaf.register_forward_hook(count) for leaf in leaves]
    device = next(module.parameters(), examples).device  # a factory may build on a GPU
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            module.eval()(examples.to(device))
    except Exception:  # the user's code on two examples: whatever fails is no error here
        return math.inf, 0.0
    finally:
        for hook in hooks:
            hook.remove()
    return math.inf if unseen else flops / len(examples), outputs / len(examples)


def build_aside(make_module: Callable[[], nn.Module]) -> nn.Module:
    """make_module() with torch's CPU RNG put back afterwards: building draws the initial
    weights from the global RNG, which is the caller's (a notebook's next torch.rand
    must not depend on whether steepest built a network)."""
    with torch.random.fork_rng(devices=[]):
        return make_module()


def as_input(x: Tensor, dtype: torch.dtype) -> Tensor:
    """Inputs in the network's dtype (data sets are float32; a network built under
    torch.set_default_dtype(torch.float64) is not); integer inputs (token ids) as
    they are."""
    return x.to(dtype) if x.is_floating_point() else x


def _aliases(module: nn.Module) -> dict[str, str]:
    """{second name: first name} of each parameter or buffer the module holds under two
    names (tied weights); named_parameters() lists such a tensor once, by its first."""
    aliases: dict[str, str] = {}
    for named in (module.named_parameters, module.named_buffers):
        first: dict[int, str] = {}
        for name, tensor in named(remove_duplicate=False):
            if id(tensor) in first:
                aliases[name] = first[id(tensor)]
            else:
                first[id(tensor)] = name
    return aliases


def normalizes_batches(module: nn.Module) -> bool:
    """Whether `module` has a batch-norm layer (which needs two examples a batch): any
    of torch's, their lazy forms and subclasses included, all of which derive from
    `_BatchNorm` (instance and layer norm, which work on one example, do not)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def _member_layout(stacked: Tensor, transposed: bool) -> Tensor:
    """A stacked parameter [K, ...] in the memory layout its gradient will arrive in:
    contiguous, or a 2-D weight [K, out, in] kept as [K, in, out] memory (`transposed`).

    Under vmap, a Linear weight's gradient comes out of bmm as [K, in, out] memory viewed
    as [K, out, in]; PyTorch's AccumulateGrad takes a gradient without copying only when
    its strides match the leaf's, so under vmap (K > 1) every 2-D weight lives transposed
    (the forward's W^T is then contiguous too). The hand-written backward forms each
    gradient in whichever layout its parameter has, and the population picks the faster
    one (`stacked.stores_transposed`). A population of one calls the module itself and gets
    ordinary contiguous gradients.
    """
    if transposed:
        return stacked.transpose(1, 2).contiguous().transpose(1, 2)
    return stacked.contiguous()


def _state_layout(state: dict, transposed: list[bool]) -> dict:
    """Optimizer state in its parameters' layouts (elementwise ops on mixed layouts run
    several times slower than on matching ones); `transposed` is per parameter."""
    return {
        name: [_member_layout(t, tr) for t, tr in zip(value, transposed, strict=True)]
        if isinstance(value, list)
        else value
        for name, value in state.items()
    }


def _batches(order: Tensor, size: int) -> list[Tensor]:
    """An epoch's order [K, N] cut into its minibatches' indices, [K, b] each and
    contiguous: slicing [K, N] at every step would copy the slice every step; this is one
    copy an epoch."""
    k, n = order.shape
    full = n // size
    whole = order[:, : full * size].view(k, full, size).transpose(0, 1).contiguous()
    last = [order[:, full * size :].contiguous()] if n % size else []
    return [*whole.unbind(0), *last]


def _rows(index: Tensor, *tensors: Tensor) -> list[Tensor]:
    """t[index] of each tensor for an index [K, B]: [K, B, ...]. index_select on the
    flattened index copies rows as memcpy; advanced indexing takes 118 µs against 25 µs
    for the digits batch of K=56 members."""
    flat = index.reshape(-1)
    return [t.index_select(0, flat).view(*index.shape, *t.shape[1:]) for t in tensors]


def _unsqueeze_tree(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.unsqueeze(0)
    if isinstance(value, (tuple, list)):
        return type(value)(_unsqueeze_tree(v) for v in value)
    return value
