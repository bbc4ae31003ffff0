"""Search spaces: `[tune.space]` → Optuna suggestions → concrete experiments.

Any key of ``[model]``, ``[train]`` or ``[data.augment]`` may be searched. Values Optuna
cannot store as a categorical (lists such as ``hidden = [[64], [128, 64]]``) travel as
their JSON text. Augmentation settings, like layer widths, are structure: each distinct
setting trains in its own population, so search them with a few choice values.
"""

import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_distribution_compatibility,
)

from steepest.config import (
    RUN_KEYS,
    AugmentConfig,
    ModelConfig,
    ParamSpec,
    TrainConfig,
    validate,
)
from steepest.errors import UserError

# The table path of every searchable key in an experiment file.
SECTION_OF = (
    {name: ("model",) for name in ModelConfig.model_fields}
    | {name: ("train",) for name in TrainConfig.model_fields}
    | {name: ("data", "augment") for name in AugmentConfig.model_fields}
)
_NOT_SEARCHABLE = {*RUN_KEYS, "schedule"}
_PRIMITIVE = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class Range:
    """A numeric interval searched in linear or log space; `step`: its grid's spacing
    (values low + k·step), None for a continuous one (an integer's default is 1)."""

    low: float
    high: float
    log: bool
    integer: bool
    step: float | None = None


class SearchSpace:
    """An ordered set of hyperparameters to draw; conditions refer to earlier entries."""

    def __init__(self, params: dict[str, ParamSpec]) -> None:
        if not params:
            raise UserError("[tune.space]: empty; list at least one key to search")
        for name, spec in params.items():
            if name not in SECTION_OF or name in _NOT_SEARCHABLE:
                raise UserError(
                    f"[tune.space] {name}: not a searchable key of [model], [train] "
                    "or [data.augment]"
                )
            _check_range(name, spec)
            for other, allowed in (spec.when or {}).items():
                if other not in params or list(params).index(other) > list(params).index(name):
                    raise UserError(
                        f"[tune.space] {name}.when: {other!r} must be a parameter listed before it"
                    )
                _check_condition(name, other, allowed, params[other])
        self.params = params

    def applies(self, name: str, chosen: dict[str, Any]) -> bool:
        """Whether a conditional parameter is active given the values chosen so far."""
        for other, allowed in (self.params[name].when or {}).items():
            options = allowed if isinstance(allowed, list) else [allowed]
            if other not in chosen or chosen[other] not in options:
                return False
        return True

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Draw every active parameter through the trial (so the sampler sees it)."""
        chosen: dict[str, Any] = {}
        for name, spec in self.params.items():
            if self.applies(name, chosen):
                chosen[name] = _suggest_one(trial, name, spec)
        return chosen

    def offered(self, name: str) -> list[Any]:
        """The values a choice or fixed entry offers ([] when `name` is not one)."""
        spec = self.params.get(name)
        if spec is None or spec.type not in ("choice", "fixed"):
            return []
        return list(spec.values or []) if spec.type == "choice" else [spec.value]

    def may_take(self, name: str, default: Any) -> list[Any] | None:
        """The values `name` takes in some trial: those a choice or fixed entry offers,
        and `default` (the experiment's own) where a trial may keep it (the key is not
        searched, or only under a `when`); None for a searched range."""
        spec = self.params.get(name)
        if spec is None:
            return [default]
        if spec.type not in ("choice", "fixed"):
            return None
        return self.offered(name) + ([default] if spec.when else [])

    def largest(self, name: str, default: float) -> Any:
        """The largest value `name` takes in a trial: the most the space offers, and
        `default` (the experiment's own) only where a trial may keep it (the key is not
        searched, or only under a `when`). Hyperband sizes its brackets by the largest
        epochs: a file's epochs = 40 beside a searched 3–4 made them ten times too big."""
        taken = self.may_take(name, default)
        if taken is None:  # a range: its top, and the default where a `when` keeps it
            spec = self.params[name]
            taken = [spec.high, *([default] if spec.when else [])]
        return max(taken)

    def ranges(self) -> dict[str, Range]:
        """The numeric parameters' intervals."""
        return {
            name: Range(
                spec.low,
                spec.high,
                spec.log or spec.type == "loguniform",
                spec.type == "int",
                spec.step,
            )
            for name, spec in self.params.items()
            if spec.type in ("uniform", "loguniform", "int")
        }

    def with_ranges(self, ranges: dict[str, Range]) -> "SearchSpace":
        """The same space with some numeric intervals replaced."""
        params = dict(self.params)
        for name, interval in ranges.items():
            params[name] = params[name].model_copy(
                update={"low": interval.low, "high": interval.high}
            )
        return SearchSpace(params)

    def grid_points(self) -> list[dict[str, Any]]:
        """Every combination of the listed values, as Optuna params (lists JSON-encoded),
        in file order; a conditional parameter appears only where it applies, so no
        point repeats. Used with `enqueue_trial`: Optuna's GridSampler stops the study
        itself, which the ask/tell interface does not allow."""
        names = list(self.params)
        points: list[dict[str, Any]] = []
        for values in itertools.product(*self.grid().values()):
            chosen = {}
            for name, value in zip(names, values):
                if self.applies(name, {k: _decode(v) for k, v in chosen.items()}):
                    chosen[name] = value
            if chosen not in points:
                points.append(chosen)
        return points

    def grid(self) -> dict[str, list[Any]]:
        """The values of every parameter; each must be listed (choice, int or fixed)."""
        grid = {}
        for name, spec in self.params.items():
            if spec.type == "choice":
                grid[name] = [_encode(v) for v in spec.values]
            elif spec.type == "int" and not spec.log:
                grid[name] = list(range(int(spec.low), int(spec.high) + 1, int(spec.step or 1)))
            elif spec.type == "fixed":
                grid[name] = [_encode(spec.value)]
            else:
                raise UserError(
                    f"[tune.space] {name}: sampler 'grid' needs choice values "
                    f'(got {spec.type}; write type = "choice", values = [...])'
                )
        return grid

    def refuse_changes_to(self, study: optuna.Study, where: str) -> None:
        """A one-line error, before anything is asked, when the study (`where` names it)
        drew a parameter from another kind of distribution or other choices than this
        space: Optuna keeps both fixed for the life of a study and would fail deep in
        its sampler, once per rerun, leaving a broken trial each time. Ranges may move
        (coarse-to-fine narrows them); kind, log scale and choices may not."""
        recorded: dict[str, BaseDistribution] = {}
        for trial in study.get_trials(deepcopy=False):
            for name, distribution in trial.distributions.items():
                recorded.setdefault(name, distribution)
        for name, spec in self.params.items():
            if name not in recorded:
                continue
            new = _distribution(spec)
            try:
                check_distribution_compatibility(recorded[name], new)
            except ValueError:
                raise UserError(
                    f"[tune.space] {name}: study {where} drew it from "
                    f"{_describe(recorded[name])}, this file from {_describe(new)}; a study "
                    "keeps a parameter's kind and choices: restore them or name a new "
                    "study ([tune] study = ...)"
                ) from None

    def check_against(self, raw: dict[str, Any]) -> None:
        """Validate every bound and choice against the config schema up front, so a bad
        range fails before any training, with the config's own message."""
        for name, spec in self.params.items():
            candidates = {
                "choice": spec.values or [],
                "fixed": [spec.value],
            }.get(spec.type, [spec.low, spec.high])
            for value in candidates:
                if spec.type == "int":
                    value = int(value)
                try:
                    validate(apply_params(raw, {name: value}))
                except UserError as error:
                    raise UserError(f"[tune.space] {name} = {value!r}: {error}") from None


def _check_range(name: str, spec: ParamSpec) -> None:
    """Refuse a numeric range Optuna would refuse mid-study (leaving a trial RUNNING) or
    quietly change: a step that is not positive, a step on a log scale, int bounds or
    steps that are not whole numbers (Optuna truncates them), a step wider than the
    range (which leaves one value)."""
    if spec.type not in ("uniform", "loguniform", "int"):
        return
    where = f"[tune.space] {name}"
    log = spec.log or spec.type == "loguniform"
    if spec.step is not None and spec.step <= 0:
        raise UserError(f"{where}: step = {spec.step:g}: expected a step > 0")
    if spec.type == "int":
        for key, value in (("low", spec.low), ("high", spec.high), ("step", spec.step)):
            if value is not None and value != int(value):
                raise UserError(f"{where}: {key} = {value:g}: an int range needs whole numbers")
    unit_int_step = spec.type == "int" and spec.step == 1  # Optuna's own for log ints
    if log and spec.step is not None and not unit_int_step:
        raise UserError(f"{where}: step = {spec.step:g}: a log-scaled range takes no step")
    if spec.step is not None and spec.step > spec.high - spec.low:
        raise UserError(
            f"{where}: step = {spec.step:g} is wider than the range {spec.low:g} to {spec.high:g}"
        )


def _check_condition(name: str, other: str, allowed: Any, parent: ParamSpec) -> None:
    """Refuse a `when` value the parameter `other` can never take (or takes with
    probability 0: one value of a continuous range): the entry would never be searched."""
    if parent.type in ("uniform", "loguniform"):
        raise UserError(
            f"[tune.space] {name}.when: {other} is drawn from a continuous range, so it "
            "never equals one value; condition on a choice or int entry"
        )
    for value in allowed if isinstance(allowed, list) else [allowed]:
        if parent.type == "choice":
            takes, offered = value in parent.values, f"one of {parent.values}"
            if isinstance(allowed, list) and allowed in parent.values:  # a list-valued choice
                offered += (
                    f"; to require the value {allowed}, write when = {{ {other} = [{allowed}] }}"
                )
        elif parent.type == "fixed":
            takes, offered = value == parent.value, f"only {parent.value!r}"
        else:
            number = isinstance(value, int | float) and not isinstance(value, bool)
            step = parent.step or 1  # an int entry's values: low, low + step, … ≤ high
            takes = number and parent.low <= value <= parent.high
            takes = takes and (value - parent.low) % step == 0
            offered = f"values from {parent.low:g} to {parent.high:g}"
            if step != 1:
                offered += f" in steps of {step:g}"
        if not takes:
            raise UserError(
                f"[tune.space] {name}.when: {other} = {value!r} never happens ({other} takes "
                f"{offered})"
            )


def apply_params(raw: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A copy of the raw experiment with searched values written into their tables (every
    table on the way copied: `raw` itself never changes)."""
    concrete = {s: dict(v) if isinstance(v, dict) else v for s, v in raw.items()}
    concrete.pop("tune", None)
    for name, value in params.items():
        table = concrete
        for key in SECTION_OF[name]:
            table[key] = dict(table.get(key, {}))
            table = table[key]
        table[name] = value
    return concrete


def narrow(ranges: dict[str, Range], best: list[dict[str, Any]], margin: float) -> dict[str, Range]:
    """Coarse-to-fine: each range shrinks to the span of the best trials' values, widened by
    `margin`·span on each side (log space for log ranges), clipped to the old range.

    With a single best value (or equal ones) the span is `margin` of the old range,
    centred on it, then widened the same way: (margin + 2·margin²) of the old range in
    all, where margin alone twice would leave 2·margin² (2 % at margin 0.1, and 0.04 %
    a stage later: the search frozen on one point).
    """
    narrowed = {}
    for name, old in ranges.items():
        values = [trial[name] for trial in best if name in trial]
        if not values:
            narrowed[name] = old
            continue
        to = math.log if old.log else float
        lo, hi = to(min(values)), to(max(values))
        if lo == hi:
            half = margin * (to(old.high) - to(old.low)) / 2
            lo, hi = lo - half, hi + half
        span = hi - lo
        back = math.exp if old.log else float
        low = max(old.low, back(lo - margin * span))
        high = min(old.high, back(hi + margin * span))
        if old.integer or old.step is not None:
            low, high = _on_grid(low, high, old)
        narrowed[name] = Range(low, high, old.log, old.integer, old.step)
    return narrowed


def _on_grid(low: float, high: float, old: Range) -> tuple[float, float]:
    """`low` down and `high` up to the nearest points of `old`'s grid (old.low + k·step),
    at least a step apart inside `old`: Optuna draws a stepped range only on its grid,
    from its low, so a narrowed range off the grid would move every value it can draw
    (and could lose the best ones). Values are rounded to 12 digits, so that Optuna finds
    the range a whole number of steps."""
    step = old.step or 1
    points = math.floor((old.high - old.low) / step + 1e-9)  # the grid's last point's k
    k_low = math.floor((low - old.low) / step + 1e-9)
    k_high = min(points, math.ceil((high - old.low) / step - 1e-9))
    if k_high <= k_low:
        k_low, k_high = (k_low, k_low + 1) if k_low < points else (points - 1, points)

    def point(k: int) -> float:
        value = float(f"{old.low + k * step:.12g}")
        return int(value) if old.integer else value

    return point(k_low), point(k_high)


def _distribution(spec: ParamSpec) -> BaseDistribution:
    """The Optuna distribution `spec` is drawn from (`_suggest_one`), and that a resumed
    study checks against what it drew before (`refuse_changes_to`)."""
    if spec.type in ("fixed", "choice"):
        values = [spec.value] if spec.type == "fixed" else spec.values or []
        return CategoricalDistribution([_encode(v) for v in values])
    if spec.type == "int":
        step = int(spec.step or 1)
        return IntDistribution(int(spec.low), int(spec.high), step=step, log=spec.log)
    log = spec.log or spec.type == "loguniform"
    return FloatDistribution(spec.low, spec.high, log=log, step=spec.step)


def _describe(distribution: BaseDistribution) -> str:
    if isinstance(distribution, CategoricalDistribution):
        return f"the choices {list(distribution.choices)}"
    kind = "integers" if isinstance(distribution, IntDistribution) else "numbers"
    scale = "log-scaled " if distribution.log else ""
    return f"{scale}{kind} in [{distribution.low:g}, {distribution.high:g}]"


def _suggest_one(trial: optuna.Trial, name: str, spec: ParamSpec) -> Any:
    """One parameter drawn through `trial` from `_distribution(spec)`. A fixed value is
    a one-value choice, so the trial's params hold it: --final, the summary, the report
    and Optuna's dashboard read a trial's values from there."""
    drawn = _distribution(spec)
    if isinstance(drawn, CategoricalDistribution):
        return _decode(trial.suggest_categorical(name, drawn.choices))
    if isinstance(drawn, IntDistribution):
        return trial.suggest_int(name, drawn.low, drawn.high, step=drawn.step, log=drawn.log)
    return trial.suggest_float(name, drawn.low, drawn.high, step=drawn.step, log=drawn.log)


def _encode(value: Any) -> Any:
    return value if isinstance(value, _PRIMITIVE) else json.dumps(value)


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    return value


def decode_params(params: dict[str, Any]) -> dict[str, Any]:
    """A trial's stored params back as config values (JSON-encoded lists decoded)."""
    return {name: _decode(value) for name, value in params.items()}
