"""Schedules: the value of a hyperparameter at a member's epoch t (0-based).

    constant      base
    step          base·factor^⌊t/every⌋                            (StepLR, γ = factor)
    exponential   base·e^(−k·t)                                     (ExponentialLR, γ = e^(−k))
    inverse_time  base/(1 + k·t)
    cosine        m + (base − m)·(1 + cos(π·min(t, T)/T))/2         (CosineAnnealingLR; held
                                                                     at m = min_value after T)
    linear        s + (e − s)·min(t/T, 1),  s = start or base, e = end or base
    warmup        base·min(1, f + (1 − f)·t/T),  f = factor         (LinearLR to 1)

with T = epochs. `linear` ramps the value itself: momentum 0.5 → 0.99 is
``linear(start=0.5, end=0.99)`` whatever the base; with only `end` it ramps from the base.

A list is a chain: each schedule maps the value the one before it produced, starting from
the base. For the multiplicative kinds (step, exponential, inverse_time, warmup) that is
the product of their factors, as torch's ChainedScheduler; a cosine anneals the value it
is given toward min_value. A `linear` with both start and end ignores its input, so it may
only open a chain (later schedules then scale the ramp).

Any hyperparameter can be scheduled. `base` and `t` may be floats or tensors of shape [K]
(one per member: members join at different times), giving a tensor for K members at once.
"""

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from steepest.config import ScheduleConfig
from steepest.errors import UserError

Value = float | Tensor


def _apply(spec: ScheduleConfig, value: Tensor, t: Tensor) -> Tensor:
    """One schedule of the table above, on tensors."""
    match spec.kind:
        case "constant":
            return value
        case "step":
            return value * spec.factor ** torch.floor(t / spec.every)
        case "exponential":
            return value * torch.exp(-spec.k * t)
        case "inverse_time":
            return value / (1 + spec.k * t)
        case "cosine":
            progress = t.clamp(max=spec.epochs) / spec.epochs
            cosine = (1 + torch.cos(math.pi * progress)) / 2
            return spec.min_value + (value - spec.min_value) * cosine
        case "linear":
            start = value if spec.start is None else spec.start
            end = value if spec.end is None else spec.end
            return start + (end - start) * (t / spec.epochs).clamp(max=1)
        case "warmup":
            return value * (spec.factor + (1 - spec.factor) * t / spec.epochs).clamp(max=1)
    raise AssertionError(spec.kind)  # unreachable: ScheduleConfig validates kind


@dataclass(frozen=True)
class Schedule:
    """A chain of schedules; ``schedule(base, t)`` is the value at epoch t."""

    specs: tuple[ScheduleConfig, ...]

    @property
    def ignores_base(self) -> bool:
        """Whether the value never depends on the base: a chain a `linear` with both start
        and end opens (a searched base would then change nothing)."""
        first = self.specs[0]
        return first.kind == "linear" and first.start is not None and first.end is not None

    def __call__(self, base: Value, t: int | Tensor) -> Value:
        """The value at epoch t: a float for float inputs, else a tensor like `base`/`t`."""
        scalar = not isinstance(base, Tensor) and not isinstance(t, Tensor)
        like = base if isinstance(base, Tensor) else t
        dtype = base.dtype if isinstance(base, Tensor) else torch.float64
        device = like.device if isinstance(like, Tensor) else None
        value = torch.as_tensor(base, dtype=dtype, device=device)
        epoch = torch.as_tensor(t, device=device).to(dtype)
        for spec in self.specs:
            value = _apply(spec, value, epoch)
        if scalar:
            return value.item()
        # a chain of constants leaves the base as it is: one value for every epoch asked
        return value.expand(torch.broadcast_shapes(value.shape, epoch.shape))


def values_over(schedule: Schedule, base: float, epochs: int) -> Tensor:
    """The value at each epoch t = 0 … epochs − 1 of a member with this base value [epochs]."""
    return schedule(torch.tensor(base, dtype=torch.float64), torch.arange(epochs))


# The settings each kind reads (the table above); any other set beside it is refused.
_READS = {
    "constant": set(),
    "step": {"every", "factor"},
    "exponential": {"k"},
    "inverse_time": {"k"},
    "cosine": {"epochs", "min_value"},
    "linear": {"start", "end", "epochs"},
    "warmup": {"factor", "epochs"},
}


def _check(spec: ScheduleConfig, position: int) -> None:
    """UserError for settings the table above gives no meaning."""
    where = f"schedule {spec.kind}" + (f" (chain position {position})" if position else "")
    unread = sorted(spec.model_fields_set - _READS[spec.kind] - {"kind", "start", "end"})
    if unread:
        reads = ", ".join(sorted(_READS[spec.kind])) or "nothing"
        verb = "is" if len(unread) == 1 else "are"
        raise UserError(
            f"{where}: {', '.join(unread)} {verb} not read by this kind (it reads {reads})"
        )
    if spec.kind != "linear" and (spec.start is not None or spec.end is not None):
        hint = " (a warmup starts at factor)" if spec.kind == "warmup" else ""
        raise UserError(f"{where}: start/end belong to kind linear{hint}")
    if spec.kind == "linear" and spec.start is None and spec.end is None:
        raise UserError(f"{where}: give start, end or both (the values to ramp between)")
    if spec.kind == "linear" and position > 0 and None not in (spec.start, spec.end):
        raise UserError(f"{where}: a linear with both start and end sets the value; put it first")
    if spec.kind == "warmup" and spec.factor > 1:
        raise UserError(f"{where}: factor = {spec.factor}: expected a starting fraction <= 1")


def build(spec: ScheduleConfig | list[ScheduleConfig], run_epochs: int | None = None) -> Schedule:
    """The schedule a config describes (a list is a chain, applied in order). With
    `run_epochs`, a schedule that sets no length T runs over the whole run: a cosine then
    anneals to its floor at the run's end rather than after 10 epochs, holding lr at 0
    for the rest of a longer run."""
    specs = tuple(spec) if isinstance(spec, list) else (spec,)
    if run_epochs is not None:
        length = {"epochs": run_epochs}
        specs = tuple(
            one
            if "epochs" in one.model_fields_set or "epochs" not in _READS[one.kind]
            else one.model_copy(update=length)
            for one in specs
        )
    if not specs:
        raise UserError("schedule = []: give at least one schedule")
    for position, one in enumerate(specs):
        _check(one, position)
    return Schedule(specs)
