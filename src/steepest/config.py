"""Experiment files: TOML → validated, concrete `Experiment` objects.

An experiment file has sections ``[data]``, ``[model]``, ``[train]`` and, for tuning,
``[tune]``. In ``[model]`` and ``[train]`` any scalar may be given as a list to compare
values side by side (``lr = [0.3, 0.1]``); `expand_grid` turns a file into the cartesian
product of concrete experiments, each of which validates like a single one.

Every mistake becomes one `UserError` line naming the key, the value and what was expected.
"""

import functools
import itertools
import math
import re
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from steepest.errors import UserError

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "maxout")
INITS = ("small", "lecun", "scaled", "he", "xavier")
LOSSES = ("mse", "l1", "huber", "cross_entropy", "hinge", "logistic")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw", "lbfgs")
BUILTIN_DATASETS = ("digits", "digits_images", "iris", "wine", "breast_cancer", "diabetes")
DEVICES = ("auto", "cpu", "cuda")

SCHEDULABLE = ("lr", "momentum", "weight_decay", "beta1", "beta2", "rho")
# low ≤ value < high at every epoch for a scheduled hyperparameter (an annealed lr may
# reach 0: cosine's min_value is 0 by default).
_SCHEDULED_RANGE = {
    "lr": (0.0, math.inf),
    "weight_decay": (0.0, math.inf),
    **{name: (0.0, 1.0) for name in ("momentum", "beta1", "beta2", "rho")},
}

Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
# A seed torch and NumPy can take (a 64-bit integer).
SEEDS = range(-(2**63), 2**63)
Seed = Annotated[int, Field(ge=SEEDS.start, lt=SEEDS.stop)]


def refuse_bad_seed(seed: int) -> None:
    """A seed given outside a file (--seed, an argument) checked as `Seed` checks one in it."""
    if not SEEDS.start <= seed < SEEDS.stop:  # `in` would scan the range for a NumPy int
        raise UserError(f"seed = {seed}: expected a 64-bit integer")


def _non_empty_path(value: Any) -> Any:
    if value == "":  # Path("") is the current folder: out = "" wrote a run there
        raise ValueError("expected a path, not an empty string")
    return value


# A path from the file's text (TOML has no path type, so lax: text becomes a Path).
FilePath = Annotated[Path, Field(strict=False), BeforeValidator(_non_empty_path)]


class _Section(BaseModel):
    # strict: "0.1" is no number, 1 no boolean, "16" no width (lax pydantic read them so);
    # finite: lr = inf trained to NaN and was blamed on the learning rate.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_truth_values_for_numbers(cls, data: Any) -> Any:
        """Refuse true/false where only a number goes: pydantic's lax mode reads them as
        1 and 0 (`epochs = true` trained one epoch). NumPy scalars, which a Python caller
        builds configs from (`seed = list(np.arange(4))`), are read as Python's own."""
        if isinstance(data, dict):
            data = {name: _plain(value) for name, value in data.items()}
            for name, value in data.items():
                field = cls.model_fields.get(name)
                numeric = field is not None and _numbers_only(field.annotation)
                if isinstance(value, bool) and numeric:
                    lowered = str(value).lower()
                    raise ValueError(f"{name} = {lowered}: expected a number, not {lowered}")
        return data


def _plain(value: Any) -> Any:
    """`value` with NumPy scalars (np.int64, np.bool_, np.float32), in lists too, as the
    Python scalars they hold: strict validation takes only Python's int, float and bool.
    Checked by the type's module, so that reading a TOML file needs no NumPy."""
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        return value.item()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _numbers_only(annotation: Any) -> bool:
    """Whether a field's type takes an int or a float and no bool (nor Any)."""
    kinds: set[Any] = set()

    def collect(kind: Any) -> None:
        if typing.get_origin(kind) in (typing.Union, types.UnionType, Annotated):
            for arg in typing.get_args(kind):
                collect(arg)
        else:
            kinds.add(kind)

    collect(annotation)
    return bool(kinds & {int, float}) and not kinds & {bool, Any}


class AugmentConfig(_Section):
    """Image augmentation drawn per member and per batch (see `steepest.data.augment`)."""

    crop_padding: Annotated[int, Field(ge=0)] = 0
    flip: bool = False
    brightness: NonNegative = 0.0
    contrast: NonNegative = 0.0


class DataConfig(_Section):
    """Where the data comes from, how it is split and how it is preprocessed.

    Exactly one source: ``name`` (built-in set), ``csv`` (a table) or ``images``
    (a folder with one subfolder per class, or a CSV of ``path,label``).
    """

    name: Literal[BUILTIN_DATASETS] | None = None
    csv: FilePath | None = None
    target: str | None = None
    features: list[str] | None = None
    images: FilePath | None = None
    image_size: Annotated[int, Field(ge=4, le=1024)] = 32
    grayscale: bool = False
    fit: Literal["crop", "pad"] = "crop"
    classes: list[str] | None = None
    merge: dict[str, list[str]] | None = None
    path_column: str = "path"
    label_column: str = "label"
    split_column: str | None = None
    val_fraction: Fraction = 0.15
    test_fraction: Fraction = 0.15
    seed: Seed = 0
    preprocess: Literal["none", "center", "standardize", "minmax"] = "standardize"
    pca: Annotated[float, Field(gt=0.0)] | None = None
    scale_target: bool = True  # regression: train on (y − μ)/σ of the training split
    augment: AugmentConfig = AugmentConfig()

    @model_validator(mode="after")
    def _one_source(self) -> "DataConfig":
        sources = [k for k in ("name", "csv", "images") if getattr(self, k) is not None]
        if len(sources) != 1:
            raise ValueError(
                f"give exactly one of name, csv or images (got {', '.join(sources) or 'none'})"
            )
        if self.csv is not None and self.target is None:
            raise ValueError("csv needs target = the name of the column to predict")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must leave some training data (< 1)")
        return self


class ModelConfig(_Section):
    """An MLP (``hidden`` widths) or a small CNN (``channels`` of conv blocks), or the
    user's own network (``module = "FILE.py:NAME"``, see `steepest.nn.user`), which only
    ``dropout`` applies to."""

    module: str | None = None

    kind: Literal["mlp", "cnn"] = "mlp"
    hidden: list[Annotated[int, Field(gt=0)]] = [128]
    activation: Literal[ACTIVATIONS] = "relu"
    leaky_slope: NonNegative = 0.01
    maxout_pieces: Annotated[int, Field(ge=2)] = 2
    batch_norm: bool = False
    dropout: Fraction = 0.0
    init: Literal[INITS] = "he"
    channels: list[Annotated[int, Field(gt=0)]] = [16, 32]
    kernel: Annotated[int, Field(ge=1)] = 3
    pool: Literal["max", "avg", "none"] = "max"

    @model_validator(mode="after")
    def _own_network_alone(self) -> "ModelConfig":
        if self.module is None:
            return self
        if ":" not in self.module.strip(":"):
            raise ValueError(f"module = {self.module!r}: expected 'FILE.py:NAME' or 'package:NAME'")
        unused = sorted(self.model_fields_set - {"module", "dropout"})
        if unused:
            raise ValueError(f"{', '.join(unused)}: not used with module = {self.module!r}")
        return self


class ScheduleConfig(_Section):
    """How one hyperparameter changes with the epoch t (see `steepest.optim.schedules`)."""

    kind: Literal["constant", "step", "exponential", "inverse_time", "cosine", "linear", "warmup"]
    every: Annotated[int, Field(gt=0)] = 10
    factor: Positive = 0.5
    k: NonNegative = 0.1
    epochs: Annotated[int, Field(gt=0)] = 10  # T; unset in [train]: its epochs (`build`)
    start: float | None = None
    end: float | None = None
    min_value: NonNegative = 0.0


class TrainConfig(_Section):
    """Optimizer, loss, penalties and the training loop."""

    optimizer: Literal[OPTIMIZERS] = "momentum"
    line_search: Literal["none", "strong_wolfe"] = "none"  # lbfgs's; the others ignore it
    lr: Positive = 0.05
    momentum: Fraction = 0.9
    weight_decay: NonNegative = 0.0
    beta1: Fraction = 0.9
    beta2: Fraction = 0.999
    rho: Fraction = 0.99
    eps: Positive | None = None
    loss: Literal[LOSSES] = "cross_entropy"
    huber_delta: Positive = 1.0
    l1: NonNegative = 0.0
    l2: NonNegative = 0.0
    elastic_net: NonNegative = 0.0
    elastic_alpha: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    batch_size: Annotated[int, Field(gt=0)] | Literal["full"] = 32
    epochs: Annotated[int, Field(gt=0, le=1_000_000)] = 20  # a schedule is checked per epoch
    seed: Seed = 0
    patience: Annotated[int, Field(gt=0)] | None = None
    monitor: Literal["val_loss", "val_metric"] = "val_metric"
    schedule: dict[str, ScheduleConfig | list[ScheduleConfig]] = {}
    population: Annotated[int, Field(gt=0)] | Literal["auto"] = "auto"
    device: Literal[DEVICES] = "auto"
    out: FilePath = Path("runs/experiment")

    @model_validator(mode="after")
    def _schedulable(self) -> "TrainConfig":
        """Each schedule is well formed and keeps its hyperparameter in range at every
        epoch (a linear ramp to 1.5 would give momentum 1.5, which `momentum = 1.5` is
        refused for)."""
        from steepest.optim import RULES  # they import this module
        from steepest.optim.schedules import build, values_over

        defaults = RULES[self.optimizer].DEFAULTS  # the hyperparameters this rule reads
        for name, spec in self.schedule.items():
            if name not in SCHEDULABLE:
                raise ValueError(f"schedule.{name}: expected one of {', '.join(SCHEDULABLE)}")
            if name not in defaults:  # refused as unread (`_refuse_unused`), not as reaching
                continue  # 1.08 from [train]'s 0.9 beside sgd, which has no momentum
            base = self._base(name, defaults)
            try:
                values = values_over(build(spec, self.epochs), base, self.epochs)
            except UserError as error:
                raise ValueError(f"schedule.{name}: {error}") from None
            low, high = _SCHEDULED_RANGE[name]
            outside = [(t, v) for t, v in enumerate(values.tolist()) if not low <= v < high]
            if outside:
                t, value = outside[0]
                raise ValueError(
                    f"schedule.{name}: reaches {value:.4g} at epoch {t + 1}; "
                    f"{name} must stay in [{low:g}, {high:g})"
                )
        return self

    def _base(self, name: str, defaults: dict[str, float]) -> float:
        """A scheduled hyperparameter's value before its schedule, as a member starts from
        it (`training.make_member`): the file's when set, and lr always; other keys of the
        rule's `defaults` left unset keep the rule's own (RMSProp's momentum is 0, not
        [train]'s 0.9)."""
        if name == "lr" or name in self.model_fields_set:
            return getattr(self, name)
        return defaults[name]


class ParamSpec(_Section):
    """One searched hyperparameter: how to draw it and, optionally, when it applies.

    ``when = {optimizer = "sgd"}`` (or a list of allowed values) suggests it only for
    trials whose earlier parameter matches; other trials never see it (no orphans).
    """

    type: Literal["uniform", "loguniform", "int", "choice", "fixed"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    values: list[Any] | None = None
    value: Any = None
    when: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _complete(self) -> "ParamSpec":
        if self.type in ("uniform", "loguniform", "int"):
            if self.low is None or self.high is None or not self.low < self.high:
                raise ValueError(f"{self.type} needs low < high")
            if self.type == "loguniform" and self.low <= 0:
                raise ValueError("loguniform needs low > 0")
            if self.log and self.low <= 0:
                raise ValueError(f"{self.type} with log = true needs low > 0")
        if self.type == "choice" and not self.values:
            raise ValueError("choice needs a non-empty values list")
        if self.type == "fixed" and self.value is None:
            raise ValueError("fixed needs value")
        unread = sorted(self.model_fields_set - _SPEC_KEYS[self.type])
        if unread:  # a `values` beside uniform would be ignored, the range drawn all the same
            raise ValueError(f"{unread[0]} does not apply to type = {self.type!r}")
        if self.type == "loguniform" and "log" in self.model_fields_set and not self.log:
            raise ValueError("loguniform is log-scaled: drop log = false, or use uniform")
        return self


# The keys each type of `ParamSpec` reads.
_RANGE_KEYS = {"type", "low", "high", "log", "step", "when"}
_SPEC_KEYS = {
    "uniform": _RANGE_KEYS,
    "loguniform": _RANGE_KEYS,
    "int": _RANGE_KEYS,
    "choice": {"type", "values", "when"},
    "fixed": {"type", "value", "when"},
}


class CoarseToFineConfig(_Section):
    """Staged random search: after each stage every numeric range narrows to the span of
    the best `top` fraction of that stage's trials, widened by `margin` of that span on
    each side (in log space for log-scaled ranges), clipped to the previous range."""

    stages: Annotated[int, Field(ge=2)] = 3
    top: Annotated[float, Field(gt=0.0, le=1.0)] = 0.2
    margin: NonNegative = 0.1


class TuneConfig(_Section):
    """A study: search space, sampler, pruner, budget and where results live."""

    study: str | None = None
    sampler: Literal["grid", "random", "tpe", "qmc", "coarse_to_fine"] = "tpe"
    pruner: Literal["none", "median", "asha", "hyperband"] = "median"
    trials: Annotated[int, Field(gt=0)] = 32
    timeout: Positive | None = None
    monitor: Literal["val_loss", "val_metric"] | None = None
    storage: str | None = None
    seed: Seed | None = None
    population: Annotated[int, Field(gt=0)] | Literal["auto"] = "auto"
    startup_trials: Annotated[int, Field(ge=0)] = 8
    warmup_epochs: Annotated[int, Field(ge=0)] = 2  # epochs the median pruner never judges
    coarse_to_fine: CoarseToFineConfig = CoarseToFineConfig()
    space: dict[str, ParamSpec]

    @model_validator(mode="after")
    def _stages_need_their_sampler(self) -> "TuneConfig":
        if "coarse_to_fine" in self.model_fields_set and self.sampler != "coarse_to_fine":
            raise ValueError(
                f"coarse_to_fine: applies to sampler = 'coarse_to_fine', not {self.sampler!r}"
            )
        return self


class Experiment(_Section):
    """One concrete experiment: every value a scalar, ready to train."""

    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    tune: TuneConfig | None = None

    @model_validator(mode="after")
    def _batch_norm_batches(self) -> "Experiment":
        if self.model.batch_norm and self.train.batch_size == 1:
            raise ValueError(ONE_EXAMPLE_BATCHES)
        return self


ONE_EXAMPLE_BATCHES = (
    "[train] batch_size = 1: batch norm needs at least 2 examples a batch "
    "(its variance of one example is 0/0)"
)


# [train] keys that set up a run rather than a member (which validation column picks the
# best member, how many train at once, where, and where the files go): one value a run,
# never compared as a list nor searched.
RUN_KEYS = ("monitor", "population", "device", "out")

# [model]/[train] fields whose valid value is itself a list: a sweep over them is a list
# of lists.
_LIST_FIELDS = {"hidden", "channels"}


def sweep_axes(raw: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
    """(section, key, values) for every value in [model]/[train] given as a list to compare."""
    axes = []
    for section, fields in (
        ("model", ModelConfig.model_fields),
        ("train", TrainConfig.model_fields),
    ):
        table = raw.get(section, {})
        if not isinstance(table, dict):  # a Python caller's "model": "mlp"
            raise UserError(f"[{section}] = {table!r}: expected a table (a dict of its keys)")
        for key, value in table.items():
            is_sweep = (
                key in fields
                and isinstance(value, list)
                and (key not in _LIST_FIELDS or (value and isinstance(value[0], list)))
            )
            if is_sweep:
                if not value:
                    raise UserError(f"[{section}] {key} = []: give at least one value")
                axes.append((section, key, value))
    return axes


def _key_path(loc: tuple) -> list[str]:
    """An error's location as the user's keys: without the names pydantic gives the
    branches of a union ('constrained-int', "literal['full']", 'ScheduleConfig', …) or
    its validators ('function-after[…]'), none of which a user wrote."""
    parts = [str(p) for p in loc]
    return [p for p in parts if not ("[" in p or "-" in p or p[:1].isupper())]


def _format_error(error: ValidationError) -> str:
    """The first pydantic error as one line: `[section] key = value: what was expected`.
    A value that fits no branch of a union (`batch_size = "all"`) lists what each branch
    expected: "expected a valid integer or 'full'"."""
    errors = error.errors()
    # an unknown key first: it is often the misspelling of a missing one ([tune.spac])
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = _key_path(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    branches = [e["msg"] for e in errors if _key_path(e["loc"]) == loc]
    if len(branches) > 1 and all(b.startswith("Input should be ") for b in branches):
        message = "Input should be " + " or ".join(
            b.removeprefix("Input should be ").split(",")[0] for b in branches
        )
    message = message.replace("Input should be", "expected")
    # pydantic's names for what a user wrote as a TOML table and as text
    message = re.sub(r"a valid dictionary( or instance of \w+)?", "a table", message)
    message = re.sub(r"Input is not a valid path for .*", "expected a path (text)", message)
    if not loc:
        return message
    where = f"[{loc[0]}] " + ".".join(loc[1:]) if len(loc) > 1 else f"[{loc[0]}]"
    if first["type"] == "missing":  # its input is the enclosing table, not a value
        return f"{where}: missing, and it has no default"
    if "input" in first and len(loc) > 1 and not isinstance(first["input"], dict):
        return f"{where} = {first['input']!r}: {message}"  # a table's check names its keys
    if len(loc) == 1:  # a section's own check: its message names the keys it is about
        return f"{where} {message}"
    if re.match(r"\w+ = ", message):  # a nested table's check naming its key: one path
        return f"{where}.{message}"
    return f"{where}: {message}"


def validate(raw: dict[str, Any]) -> Experiment:
    """One concrete experiment from a dict, or a `UserError` naming the first problem."""
    try:
        return Experiment.model_validate(raw)
    except ValidationError as error:
        raise UserError(_format_error(error)) from None


def expand_grid(raw: dict[str, Any]) -> list[Experiment]:
    """All combinations of the values given as lists in [model] and [train], in file order.

    ``lr = [0.1, 0.01]`` with ``seed = [0, 1]`` gives four experiments.
    """
    axes = sweep_axes(raw)
    experiments = []
    for values in itertools.product(*(vals for _, _, vals in axes)):
        concrete = {s: dict(v) if isinstance(v, dict) else v for s, v in raw.items()}
        for (section, key, _), value in zip(axes, values, strict=True):
            concrete[section][key] = value
        experiments.append(validate(concrete))
    _refuse_unused(raw, experiments)
    return experiments


@dataclass(frozen=True)
class _ReadBy:
    """Who reads a key that only some members read: the settings of its section that
    decide, whether a member's section (with them) reads it, and whom it applies to."""

    deciders: tuple[str, ...]
    reads: Callable[[Any], bool]
    applies_to: str


def _one_of(decider: str, *readers: str) -> _ReadBy:
    return _ReadBy(
        (decider,),
        lambda table: getattr(table, decider) in readers,
        f"{decider} = {', '.join(repr(r) for r in readers)}",
    )


# Keys that only some members read: (section, key) → who reads them; `_read_only_by` adds
# the optimizers' keys.
def _has_layers(model: Any) -> bool:
    """Whether the network has hidden layers or conv blocks, which activation and batch
    norm act in (a user's module counts: its [model] keeps the default hidden)."""
    return bool(model.hidden) if model.kind == "mlp" else bool(model.channels)


_LAYERS = ("kind", "hidden", "channels")
_IN_LAYERS = "a network with hidden layers or conv blocks"


def _of_activation(activation: str) -> _ReadBy:
    """Read where the hidden layers' activation is `activation`."""
    return _ReadBy(
        ("activation", *_LAYERS),
        lambda m: m.activation == activation and _has_layers(m),
        f"activation = {activation!r} in {_IN_LAYERS}",
    )


_IN_CONV_BLOCKS = _ReadBy(
    _LAYERS, lambda m: m.kind == "cnn" and _has_layers(m), "a CNN with conv blocks"
)
_READ_ONLY_BY = {
    ("model", "hidden"): _one_of("kind", "mlp"),
    ("model", "channels"): _one_of("kind", "cnn"),
    ("model", "kernel"): _IN_CONV_BLOCKS,
    ("model", "pool"): _IN_CONV_BLOCKS,
    ("model", "activation"): _ReadBy(_LAYERS, _has_layers, _IN_LAYERS),
    ("model", "batch_norm"): _ReadBy(_LAYERS, _has_layers, _IN_LAYERS),
    ("model", "maxout_pieces"): _of_activation("maxout"),
    ("model", "leaky_slope"): _of_activation("leaky_relu"),
    ("model", "dropout"): _ReadBy(  # a user's network (module) reads it: its hidden is [128]
        ("kind", "hidden"),
        lambda model: model.kind == "cnn" or bool(model.hidden),
        "a CNN, or an MLP with a hidden layer: dropout drops hidden units, never the inputs",
    ),
    ("train", "huber_delta"): _one_of("loss", "huber"),
    ("train", "elastic_alpha"): _ReadBy(
        ("elastic_net",), lambda t: t.elastic_net > 0, "elastic_net > 0, whose L1 share it sets"
    ),
}


@functools.cache
def _read_only_by() -> dict[tuple[str, str], _ReadBy]:
    """`_READ_ONLY_BY` and each optimizer key that some update rules read and others do
    not (momentum: momentum, nesterov, rmsprop; weight_decay: all but lbfgs; ...), from
    the rules' own hyperparameters (their `DEFAULTS`): torch.optim.SGD(momentum=0.9) is
    heavy-ball SGD, and optimizer = "sgd" beside momentum = 0.9 trained plain SGD under
    a momentum = 0.9 label."""
    from steepest.optim import RULES  # it imports torch: only when a file is checked

    keys = {key for rule in RULES.values() for key in rule.DEFAULTS}
    by_optimizer = {}
    for key in sorted(keys):
        readers = [name for name, rule in RULES.items() if key in rule.DEFAULTS]
        if len(readers) < len(RULES):
            by_optimizer[("train", key)] = _one_of("optimizer", *readers)
    return {**_READ_ONLY_BY, **by_optimizer}


def deciders_of(section: str, key: str) -> tuple[str, ...]:
    """The settings of `section` that decide whether a member reads `key` (none when
    every member does)."""
    rule = _read_only_by().get((section, key))
    return () if rule is None else rule.deciders


def unread(section: str, key: str, tables: list[Any]) -> str | None:
    """Why no member reads `key`, given each member's `section` table ("activation =
    'relu'; it applies to activation = 'leaky_relu'"); None when one does."""
    rule = _read_only_by().get((section, key))
    if rule is None or any(rule.reads(table) for table in tables):
        return None
    chosen = []
    for decider in rule.deciders:
        if unread(section, decider, tables) is not None:
            continue  # not worth naming: a CNN's hidden widths, an MLP's channels
        values = {repr(getattr(table, decider)): None for table in tables}  # lists: by text
        chosen.append(f"{decider} = {', '.join(sorted(values))}")
    return f"{'; '.join(chosen)}; it applies to {rule.applies_to}"


def _refuse_unused(raw: dict[str, Any], experiments: list[Experiment]) -> None:
    """A key the file sets (or schedules) that no member reads is refused, not silently
    ignored (`hidden` beside kind = "cnn", `momentum` beside optimizer = "sgd"). One
    member reading it is enough: a grid of kind = ["mlp", "cnn"] sets both `hidden` and
    `channels`."""
    for (section, key), where in set_keys(raw).items():
        reason = unread(section, key, [getattr(e, section) for e in experiments])
        if reason is not None:
            raise UserError(f"{where}: no member reads it ({reason})")


def set_keys(raw: dict[str, Any]) -> dict[tuple[str, str], str]:
    """The (section, key) pairs a file sets or schedules that only some members read
    (`_read_only_by`), each with where the file sets it ("[train] momentum", or
    "[train.schedule.momentum] momentum" for a schedule alone)."""
    found = {}
    for section, key in _read_only_by():
        table = raw.get(section)
        if isinstance(table, dict) and key in table:
            found[(section, key)] = f"[{section}] {key}"
        schedules = table.get("schedule") if isinstance(table, dict) else None
        if isinstance(schedules, dict) and key in schedules:
            found.setdefault((section, key), f"[{section}.schedule.{key}] {key}")
    return found


def read_toml(path: str | Path) -> dict[str, Any]:
    """The raw dict of a TOML file, with a one-line error for a missing or malformed file."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: a folder, not an experiment file")
    if not path.is_file():
        raise UserError(f"{path}: no such experiment file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))  # TOML is UTF-8, whatever the locale
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML ({error})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text (TOML files are UTF-8)") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read it ({error.strerror})") from None
    if "data" not in raw:
        raise UserError(f"{path}: missing [data] section")
    for section, value in raw.items():  # `data = 5`, `[[train]]`: not a table of keys
        if section in Experiment.model_fields and not isinstance(value, dict):
            raise UserError(f"{path}: {section} = {value!r}: expected a [{section}] table")
    _resolve_paths(raw, path.parent)
    return raw


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Data paths and a network's file are relative to the experiment file; the data
    paths must exist up front."""
    data = raw.get("data", {})
    for key in ("csv", "images"):
        if isinstance(data.get(key), str):
            resolved = (base / data[key]).resolve()
            if not resolved.exists():
                raise UserError(f"[data] {key} = {data[key]!r}: no such file or folder")
            data[key] = str(resolved)
    model = raw.get("model", {})
    if isinstance(model.get("module"), str) and ".py:" in model["module"]:
        file, _, name = model["module"].rpartition(":")
        model["module"] = f"{(base / file).resolve()}:{name}"


def load_experiments(path: str | Path) -> list[Experiment]:
    """Every concrete experiment a TOML file describes (one unless it lists values)."""
    return expand_grid(read_toml(path))
