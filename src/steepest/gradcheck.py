"""Gradient check: backprop's gradient a against a centred finite difference n.

    nᵢ = (f(w + h·eᵢ) − f(w − h·eᵢ)) / 2h
    relᵢ = max(|aᵢ − nᵢ| − rᵢ, 0) / max(|aᵢ|, |nᵢ|)   (0 where both are 0)

f is the training objective on a small batch — loss(model(x), y) + Ω(w) — computed on a
CPU float64 copy of the model. rᵢ = 4ε·max|f(w ± h·eᵢ)|/h is the round-off nᵢ carries
(ε: float64's machine epsilon; about 1e-10 for f ≈ 1, h = 1e-5): without it, a correct
gradient entry of 1e-7 would look wrong by about 1e-3 from round-off in f alone.
Per parameter tensor the verdict is from the largest relᵢ: below 1e-7 fine, below 1e-4
suspicious, otherwise wrong. A tensor with more than `max_elements` entries is checked on
a seeded random sample of them.

Steps too small. A comparison can only call out an error that the step shows. An element
is unresolved when its allowance rᵢ exceeds 1e-7 of the gradient's scale, the larger of
|nᵢ| and the largest |a| over all parameters (f's change over the step is lost in
rounding), or when w ± h does not move w by h to within 1e-7 of h (h below w's float64
spacing, w + h = w at worst; the half-ulp rounding at the default step, about 1e-12 of
h, biases nᵢ by no more). A tensor none of whose compared elements is resolved is
inconclusive, whatever its errors read: rounding, not the gradient, sets them. So is a
tensor most of whose steps crossed kinks (below) and whose other elements disagree (or
that has no others): its pre-activations are smaller than h (a net initialised at
0.01·randn), and those few are likelier kinks the test missed than a wrong gradient; a
smaller step resolves them.

Steps too large. nᵢ's own error, h²f‴/6, grows with h. Where an element disagrees, it
is estimated from the third difference of f along the step, Δ₊ − Δ₋ ≈ 2h³f‴ (second
differences below), and four times it, |Δ₊ − Δ₋|/3h, joins rᵢ; an element whose
allowance for it exceeds 1e-7 of the gradient's scale is unresolved as well, and its
tensor inconclusive whatever its other elements show: the allowance could hide a wrong
gradient there (a smaller step resolves it).

Kinks. ReLU, leaky ReLU, Maxout, the hinge and L1 have kinks where the slope jumps; a
step that crosses one spoils nᵢ without any bug. Take the second differences at w and
one step to either side, Δ₀ = f(w+h) − 2f(w) + f(w−h), Δ₋ = f(w) − 2f(w−h) + f(w−2h) and
Δ₊ = f(w+2h) − 2f(w+h) + f(w). For a smooth f they lie on a line: Δ ≈ h²f″ + (±h³f‴),
and their bend Δ₊ − 2Δ₀ + Δ₋ ≈ h⁴f⁗ is of a higher order than their slope Δ₊ − Δ₋ ≈
2h³f‴ and than Δ₀ ≈ h²f″ (where f‴ vanishes, f″ seldom does too). A slope jump J crossed
at distance c ∈ (0, h) from w adds (0, J(h − c), J·c) to them: a bend of J·|3c − 2h|,
their spread at least J·h/2, and at most J/2 to nᵢ. So an element whose relᵢ is not fine
is counted as a kink, and left out of the verdict, when the second differences bend (by
more than round-off and a quarter of their slope and of Δ₀) and spread by at least h·|aᵢ
− nᵢ|/2. A jump crossed near c = 2h/3 bends them too little to tell: it reads as a large
f‴, whose allowance makes the tensor inconclusive.

Mode. The module runs in training mode, as backprop in training sees it: BatchNorm
normalises with the batch's statistics (differentiable, and what training
differentiates); dropout stays on with fixed masks, because every evaluation starts
from the same buffers (our `Dropout`'s counters) and the same torch RNG state.
"""

import argparse
import copy
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich import box
from rich.console import Console
from rich.table import Table
from torch import Tensor, nn

from steepest import stacked
from steepest.config import Experiment, TrainConfig, load_experiments, refuse_bad_seed
from steepest.errors import UserError
from steepest.nn.regularizers import weight_mask, weight_penalty, weight_penalty_gradient
from steepest.population import normalizes_batches
from steepest.training import PENALTY_KEYS, build_population, load_for, make_member, task_for

FINE = 1e-7
SUSPICIOUS = 1e-4
# Round-off allowance of a spread of second differences, in units of eps·max|f|.
_ROUND_OFF = 1000.0
_EPS = torch.finfo(torch.float64).eps
# Why an element is unresolved (module doc).
ROUNDED_STEP = "w ± h is not h away from w in float64 (h is below w's spacing)"
LOST_IN_ROUND_OFF = f"round-off 4ε·|f|/h exceeds {FINE:g} of the gradient (f's change is lost)"
# Most of a tensor's steps crossed kinks: its pre-activations are smaller than h, and the
# few elements the kink test passed are likelier kinks it missed than a wrong gradient.
MOSTLY_KINKS = "most steps crossed a kink (pre-activations smaller than h)"
TRUNCATED = f"the step is too large: n's own error h²f‴/6 exceeds {FINE:g} of the gradient"

Penalty = Callable[[nn.Module], Tensor]
# Backprop other than autograd's: (module, x, y) → ∂f/∂θ by parameter name.
Gradients = Callable[[nn.Module, Tensor, Tensor], dict[str, Tensor]]


@dataclass(frozen=True)
class ParameterCheck:
    """The comparison for one parameter tensor.

    `checked` elements were compared (all of them, or a sample); `kinks` of those had
    their estimate spoilt by a kink and are left out of `max_error` and `mean_error`;
    `unresolved` of the others had a step too small to show an error, for the reasons
    in `unresolved_because` (module doc). `max_raw_error` is the largest
    |a − n|/max(|a|, |n|) before the round-off allowance (the course's relative error:
    the verdict goes by `max_error`, which a clean check leaves at 0).
    """

    name: str
    shape: tuple[int, ...]
    checked: int
    kinks: int
    max_error: float
    mean_error: float
    unresolved: int = 0
    unresolved_because: tuple[str, ...] = ()
    max_raw_error: float = 0.0

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def verdict(self) -> str:
        """inconclusive when the step resolved no compared element (all unresolved or
        kinks), or was too large for one (its allowance for n's own error could hide a
        wrong gradient however many others it resolved: an input feature that is always
        0 resolves its weights' a = n = 0 and shows nothing of the rest); otherwise fine
        (< 1e-7), suspicious (< 1e-4) or wrong, from the largest relative error."""
        if self.unresolved == self.checked - self.kinks or TRUNCATED in self.unresolved_because:
            return "inconclusive"
        if self.max_error < FINE:
            return "fine"
        return "suspicious" if self.max_error < SUSPICIOUS else "wrong"

    def as_dict(self) -> dict:
        return {**asdict(self), "shape": list(self.shape), "verdict": self.verdict}


def _float64(t: Tensor) -> Tensor:
    return t.double() if t.is_floating_point() else t


def _objective(
    module: nn.Module, loss_fn: Callable, x: Tensor, y: Tensor, penalty: Penalty | None, seed: int
) -> Callable[[], Tensor]:
    """f() = loss_fn(module(x), y) + penalty(module), each call from the same buffers and
    the same CPU RNG state (so dropout masks and BatchNorm statistics do not move)."""
    saved = [(b, b.clone()) for b in module.buffers()]
    rng_state = torch.Generator().manual_seed(seed).get_state()

    def f() -> Tensor:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)
        torch.set_rng_state(rng_state)
        value = loss_fn(module(x), y)
        return value if penalty is None else value + penalty(module)

    return f


def _sample(size: int, max_elements: int, generator: torch.Generator) -> Tensor:
    """All flat indices, or a sorted random sample of `max_elements` of them."""
    if size <= max_elements:
        return torch.arange(size)
    return torch.randperm(size, generator=generator)[:max_elements].sort().values


def _relative(a: float, n: float, round_off: float) -> float:
    """max(|a − n| − r, 0) / max(|a|, |n|), 0 where both are 0."""
    scale = max(abs(a), abs(n))
    return 0.0 if scale == 0.0 else max(abs(a - n) - round_off, 0.0) / scale


def _second_differences(
    at: Callable[[float], float], f0: float, fp: float, fm: float, h: float
) -> tuple[tuple[float, float, float], float]:
    """(Δ₋, Δ₀, Δ₊) (module doc), and their round-off."""
    fpp, fmm = at(2 * h), at(-2 * h)
    seconds = (f0 - 2 * fm + fmm, fp - 2 * f0 + fm, fpp - 2 * fp + f0)
    return seconds, _ROUND_OFF * _EPS * max(abs(v) for v in (f0, fp, fm, fpp, fmm))


def _is_kink(
    seconds: tuple[float, float, float], round_off: float, h: float, a: float, n: float
) -> bool:
    """Do (Δ₋, Δ₀, Δ₊) bend beyond round-off and a quarter of their slope and of Δ₀, and
    spread by at least h·|a − n|/2 (module doc)? Δ₀ ≈ h²f″ keeps a smooth f whose f‴
    vanishes (its slope ≈ 0, its bend ≈ h⁴f⁗) from reading as a kink."""
    minus, centre, plus = seconds
    bend, slope = abs(plus - 2 * centre + minus), abs(plus - minus)
    spread = max(seconds) - min(seconds)
    smooth = 0.25 * max(slope, abs(centre))
    return bend > max(round_off, smooth) and spread >= 0.5 * h * abs(a - n)


def _truncation(seconds: tuple[float, float, float], h: float) -> float:
    """Four times nᵢ's own error h²|f‴|/6, with f‴ ≈ (Δ₊ − Δ₋)/2h³ (module doc)."""
    return abs(seconds[2] - seconds[0]) / (3 * h)


def _unresolved(
    w: float, h: float, n: float, round_off: float, truncation: float, largest: float
) -> set[str]:
    """Why the step at w cannot show an error a fine verdict forbids (module doc; `largest`
    is the largest |a| of all parameters); empty when it can."""
    reasons = set()
    if abs((w + h) - w - h) > FINE * h or abs(w - (w - h) - h) > FINE * h:
        reasons.add(ROUNDED_STEP)
    scale = FINE * max(abs(n), largest)
    if round_off > scale > 0:
        reasons.add(LOST_IN_ROUND_OFF)
    if truncation > scale > 0:
        reasons.add(TRUNCATED)
    return reasons


def _check_tensor(
    name: str,
    p: Tensor,
    grad: Tensor,
    index: Tensor,
    f: Callable[[], Tensor],
    f0: float,
    h: float,
    largest: float,
) -> ParameterCheck:
    flat, analytic = p.detach().view(-1), grad.reshape(-1)
    errors, raw, kinks, unresolved, reasons = [], [], 0, 0, set()
    for i in index.tolist():
        original = flat[i].item()

        def at(offset: float, i: int = i, original: float = original) -> float:
            flat[i] = original + offset
            value = f().item()
            flat[i] = original
            return value

        fp, fm = at(h), at(-h)
        a, n = analytic[i].item(), (fp - fm) / (2 * h)
        round_off = 4 * _EPS * max(abs(fp), abs(fm)) / h
        error, truncation = _relative(a, n, round_off), 0.0
        if error >= FINE:
            seconds, seconds_round_off = _second_differences(at, f0, fp, fm, h)
            if _is_kink(seconds, seconds_round_off, h, a, n):
                kinks += 1
                continue
            truncation = _truncation(seconds, h)
            error = _relative(a, n, round_off + truncation)
        errors.append(error)
        raw.append(_relative(a, n, 0.0))
        why = _unresolved(original, h, n, round_off, truncation, largest)
        unresolved += bool(why)
        reasons |= why
    if 2 * kinks > len(index) and max(errors, default=FINE) >= FINE:
        unresolved, reasons = len(errors), {*reasons, MOSTLY_KINKS}
    return ParameterCheck(
        name=name,
        shape=tuple(p.shape),
        checked=len(index),
        kinks=kinks,
        max_error=max(errors, default=0.0),
        mean_error=sum(errors) / len(errors) if errors else 0.0,
        unresolved=unresolved,
        unresolved_because=tuple(sorted(reasons)),
        max_raw_error=max(raw, default=0.0),
    )


def _check_settings(h: float, max_elements: int) -> None:
    """A positive finite step (an infinite one makes every estimate NaN) and an element."""
    if not (math.isfinite(h) and h > 0):
        raise UserError(f"h = {h!r}: expected a positive finite step")
    if max_elements < 1:
        raise UserError(f"max_elements = {max_elements!r}: expected at least 1")


def gradcheck(
    module: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    penalty: Penalty | None = None,
    h: float = 1e-5,
    max_elements: int = 200,
    seed: int = 0,
    gradients: Gradients | None = None,
) -> list[ParameterCheck]:
    """Compare backprop's gradient of f = loss_fn(module(x), y) [+ penalty(module)] with
    centred differences, for every parameter tensor (see module docstring).

    Works on a CPU float64 copy of `module` in training mode; `x` and floating `y` are
    cast to float64. `seed` fixes the element sample and the RNG state of every evaluation.
    Backprop is autograd's, or `gradients(module, x, y)` (name → ∂f/∂θ) when given: the
    backward a trainer runs instead of autograd, which is what then needs checking.
    """
    _check_settings(h, max_elements)
    if not isinstance(module, nn.Module):  # its class, say, rather than an instance
        raise UserError(f"module = {module!r}: expected an nn.Module instance")
    module = copy.deepcopy(module).to("cpu", torch.float64).train()
    x, y = _float64(x.cpu()), _float64(y.cpu())
    f = _objective(module, loss_fn, x, y, penalty, seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # the caller's RNG state stays as it was
        value = f()
        value.backward()
        f0 = value.item()
        grads = {
            name: torch.zeros_like(p) if p.grad is None else p.grad
            for name, p in module.named_parameters()
        }
        if gradients is not None:
            with torch.no_grad():
                grads = gradients(module, x, y)
        largest = max((g.abs().max().item() for g in grads.values() if g.numel()), default=0.0)
        with torch.no_grad():
            return [
                _check_tensor(
                    name,
                    p,
                    grads[name],
                    _sample(p.numel(), max_elements, generator),
                    f,
                    f0,
                    h,
                    largest,
                )
                for name, p in module.named_parameters()
                if p.requires_grad  # a frozen tensor has no gradient to check
            ]


def config_penalty(train: TrainConfig) -> Penalty | None:
    """Ω(w) = ½λ₂Σw² + λ₁Σ|w| + λ·Σ(α|w| + ½(1−α)w²) over the weights, as training adds it
    (`weight_penalty`; None when every strength is 0)."""
    omega = weight_penalty({key: getattr(train, key) for key in PENALTY_KEYS})
    if omega is None:
        return None

    def penalty(module: nn.Module) -> Tensor:
        is_weight = weight_mask(module)
        rows = [p.unsqueeze(0) for name, p in module.named_parameters() if is_weight[name]]
        return omega(rows).sum()

    return penalty


DEFAULT_BATCH = 16  # training examples checked when no batch is given


@dataclass(frozen=True)
class ExperimentCheck:
    """An experiment's checks, one per parameter tensor, and the examples they took."""

    batch: int
    checks: list[ParameterCheck]


def gradcheck_experiment(
    experiment: str | Path | Experiment,
    batch: int | None = None,
    h: float = 1e-5,
    max_elements: int = 200,
    seed: int = 0,
) -> ExperimentCheck:
    """`gradcheck` of an experiment's model, loss and penalty on its first `batch`
    training examples (`DEFAULT_BATCH`, or the whole training split when it holds fewer);
    the model is built and initialised exactly as training builds member 0 (a file with
    lists of values: its first experiment)."""
    if batch is not None and batch < 1:
        raise UserError(f"batch = {batch!r}: expected at least 1 example")
    refuse_bad_seed(seed)
    _check_settings(h, max_elements)  # before the data set loads
    if not isinstance(experiment, Experiment):
        experiment = load_experiments(experiment)[0]
    dataset = load_for(experiment)
    task = task_for(experiment, dataset)
    with torch.random.fork_rng(devices=[]):
        population = build_population(experiment, dataset, task, torch.device("cpu"))
        population.add([make_member(experiment, 0)])
        module = population.member_module(0)
    if batch is None:
        batch = min(DEFAULT_BATCH, len(dataset.x_train))
    if batch > len(dataset.x_train):
        raise UserError(
            f"batch = {batch}: more than the training split's {len(dataset.x_train)} examples"
        )
    if batch == 1 and normalizes_batches(module):
        raise UserError("batch = 1: batch norm needs at least 2 examples (its variance is 0/0)")
    x, y = dataset.x_train[:batch], dataset.y_train[:batch]
    penalty = config_penalty(experiment.train)
    gradients = None
    if stacked.supports(module):  # training runs the hand-written backward, not autograd
        gradients = _hand_written(task.loss_each, experiment.train)
    checks = gradcheck(module, task.loss, x, y, penalty, h, max_elements, seed, gradients)
    return ExperimentCheck(batch, checks)


def _hand_written(loss_each: Callable[[Tensor, Tensor], Tensor], train: TrainConfig) -> Gradients:
    """∂f/∂θ as a population computes it for a plain MLP: `stacked`'s hand-written
    backward for the loss, plus the penalty's closed-form gradient, for one member."""
    penalty_gradient = weight_penalty_gradient({key: getattr(train, key) for key in PENALTY_KEYS})

    def gradients(module: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        params = {name: p.unsqueeze(0) for name, p in module.named_parameters()}
        _, grads = stacked.Plan(module).loss_and_gradients(params, x[None], y[None], loss_each)
        if penalty_gradient is not None:
            weights = [name for name, is_weight in weight_mask(module).items() if is_weight]
            penalty_gradient([params[n] for n in weights], [grads[n] for n in weights])
        return {name: grad[0] for name, grad in grads.items()}

    return gradients


_STYLE = {"fine": "green", "suspicious": "yellow", "wrong": "bold red", "inconclusive": "magenta"}


def _table(checks: list[ParameterCheck]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True)
    for column in ("parameter", "shape", "checked", "max err", "raw err", "kinks", "verdict"):
        left = column in ("parameter", "verdict")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for c in checks:
        table.add_row(
            c.name,
            "×".join(map(str, c.shape)) or "scalar",
            f"{c.checked}" if c.checked == c.size else f"{c.checked}/{c.size}",
            f"{c.max_error:.1e}",
            f"{c.max_raw_error:.1e}",
            str(c.kinks),
            f"[{_STYLE[c.verdict]}]{c.verdict}[/]",
        )
    return table


def _run(args: argparse.Namespace) -> None:
    experiments = load_experiments(args.experiment)
    run = gradcheck_experiment(experiments[0], args.batch, args.step, args.max_elements, args.seed)
    checks = run.checks
    wrong = any(c.verdict == "wrong" for c in checks)
    inconclusive = [c for c in checks if c.verdict == "inconclusive"]
    if args.json:
        print(
            json.dumps(
                {
                    "batch": run.batch,
                    "h": args.step,
                    "max_elements": args.max_elements,
                    "seed": args.seed,
                    "wrong": wrong,
                    "inconclusive": bool(inconclusive),
                    "checks": [c.as_dict() for c in checks],
                }
            )
        )
    else:
        console = Console()
        console.print(_table(checks))
        notes = [
            f"float64, training mode (dropout masks fixed, BatchNorm batch statistics), "
            f"{run.batch} training examples, centred step h = {args.step:g}",
            "a: the backward training runs (for a plain MLP steepest's hand-written one, "
            "else autograd); n: the centred difference",
            "raw err: the largest |a − n|/max(|a|, |n|); "
            "error: |a − n|/max(|a|, |n|) beyond n's round-off 4ε·|f|/h and own error "
            "h²f‴/6 (f‴ measured where a and n disagree); "
            f"fine < {FINE:g} ≤ suspicious < {SUSPICIOUS:g} ≤ wrong",
            "kinks: elements whose step crossed a kink (ReLU, max, hinge, |w|); "
            "left out of the errors and the verdict",
        ]
        if any(c.checked < c.size for c in checks):
            notes.append(
                f"checked a/b: a random sample of a of the tensor's b elements (seed {args.seed})"
            )
        if len(experiments) > 1:
            notes.append(f"checked the first of the file's {len(experiments)} experiments")
        for note in notes:
            console.print(f"[dim]{note}[/]")
        if inconclusive:
            reasons = sorted({reason for c in inconclusive for reason in c.unresolved_because})
            advice = "a smaller" if {MOSTLY_KINKS, TRUNCATED} & set(reasons) else "a larger"
            # not "resolved no element": a step too large for one element is enough
            console.print(
                f"[magenta]inconclusive: the step cannot judge "
                f"{', '.join(c.name for c in inconclusive)} ({'; '.join(reasons)}), "
                f"whatever their errors read: use {advice} --step (default 1e-5)[/]"
            )
    if wrong or inconclusive:
        raise SystemExit(1)


def add_command(commands: argparse._SubParsersAction) -> None:
    """`steepest gradcheck experiment.toml`: exit status 1 when a gradient is wrong or
    the step was too small to tell (inconclusive): either way it did not pass."""
    command = commands.add_parser(
        "gradcheck",
        help="compare backprop's gradients with centred finite differences",
        description="Compare backprop's gradient of each parameter tensor with centred "
        "finite differences. Verdicts: fine, suspicious, wrong, or inconclusive when the "
        "step is too small for f's change to show. Exit status 0 when every tensor is "
        "fine or suspicious, 1 when one is wrong or inconclusive, 2 for a usage error.",
    )
    command.add_argument("experiment", type=Path)
    command.add_argument(
        "--batch",
        type=int,
        help=f"training examples ({DEFAULT_BATCH}, or all of a smaller training split)",
    )
    command.add_argument("--step", type=float, default=1e-5, help="finite-difference h (1e-5)")
    command.add_argument(
        "--max-elements",
        type=int,
        default=200,
        help="elements checked per tensor, a random sample beyond (200)",
    )
    command.add_argument("--seed", type=int, default=0, help="sample and dropout seed (0)")
    command.add_argument("--json", action="store_true", help="print the checks as JSON")
    command.set_defaults(run=_run)
