"""L-BFGS (Liu & Nocedal 1989) for a population, as torch.optim.LBFGS runs it with
max_iter = 20, history_size = HISTORY and either of its line searches:

    d = −H·g      the two-loop recursion over the newest m pairs (s = t·d, y = Δg) whose
                  curvature sᵀy > 1e-10, from H₀ = γ·I, γ = sᵀy / yᵀy of the newest pair
    w ← w + t·d   t = lr (at a member's very first iteration min(1, 1/‖g‖₁)·lr), or,
                  with ``line_search`` = 1, the strong Wolfe step searched from there
                  (`steepest.optim.wolfe`)

One step runs up to MAX_ITER such iterations on the step's batch, evaluating the loss
and gradient after each (the line search, as it needs), and stops a member early where
torch's would stop: ‖g‖∞ ≤ 1e-7, gᵀd > −1e-9, ‖t·d‖∞ ≤ 1e-9, |Δloss| < 1e-9 or
MAX_EVAL evaluations. With ``batch_size = "full"`` this is the classic full-batch
method; with minibatches each step iterates on its own batch.

Why not torch.optim.LBFGS: it runs one model and calls its closure once per iteration.
Here one evaluation (the population's forward and backward) serves every member, and
each member's history, step size and stopping are rows of [K, …] tensors: histories are
rings of HISTORY slots with per-member write positions and lengths, since members skip
pairs (sᵀy ≤ 1e-10) and stop at different iterations. HISTORY is 10, scipy's default
and within the 3–20 Nocedal & Wright recommend, not torch's 100: each slot holds two
copies of every member's parameters.
"""

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from steepest.optim.foreach import Hyper
from steepest.optim.state import State
from steepest.optim.wolfe import Probe, strong_wolfe, where_rows

DEFAULTS: dict[str, float] = {"lr": 1.0, "line_search": 0.0}  # 1: strong Wolfe
EVALUATES = True  # `update` re-evaluates the loss: the population passes `evaluate`
HISTORY = 10
MAX_ITER = 20
MAX_EVAL = MAX_ITER * 5 // 4  # torch's default: binds only with the line search
TOLERANCE_GRAD = 1e-7
TOLERANCE_CHANGE = 1e-9
CURVATURE = 1e-10

# f and ∇f of every member at the current parameters; the mask [K] says whose evaluation
# counts (the members still iterating): the others' buffers (batch-norm statistics,
# dropout counters) must stay as they would be alone.
Evaluate = Callable[[Tensor], tuple[Tensor, list[Tensor]]]


def init(params: list[Tensor]) -> State:
    """Empty histories; `iterations` counts each member's iterations over all steps."""
    k, size = len(params[0]), sum(p[0].numel() for p in params)
    flat = params[0].new_zeros((k, size))
    return {
        "direction": flat,
        "previous_gradient": flat.clone(),
        "gradient_changes": flat.new_zeros((k, HISTORY, size)),  # y
        "steps": flat.new_zeros((k, HISTORY, size)),  # s
        "inverse_curvatures": flat.new_zeros((k, HISTORY)),  # ρ = 1/sᵀy
        "length": flat.new_zeros(k, dtype=torch.int64),
        "next_slot": flat.new_zeros(k, dtype=torch.int64),
        "scale": flat.new_ones(k),  # γ
        "step_size": flat.new_zeros(k),  # t
        "previous_loss": flat.new_zeros(k),
        "iterations": flat.new_zeros(k, dtype=torch.int64),
    }


def update(
    grads: list[Tensor],
    state: State,
    params: list[Tensor],
    hp: Mapping[str, Hyper],
    loss: Tensor,
    evaluate: Evaluate,
) -> None:
    """Up to MAX_ITER iterations of every member from `loss` [K] and `grads` at the
    current parameters; `evaluate(members)` gives both again after the parameters move
    (`members`: those whose evaluation counts, as they would evaluate alone)."""
    lr = torch.as_tensor(hp["lr"], dtype=loss.dtype, device=loss.device).expand(len(loss))
    searches = _line_search(hp)
    gradient = _flat(grads)
    active = gradient.abs().amax(1) > TOLERANCE_GRAD
    evaluations = torch.ones_like(state["iterations"])  # this step's, torch's current_evals
    for iteration in range(1, MAX_ITER + 1):
        if not active.any():
            return
        state["iterations"] += active
        first = active & (state["iterations"] == 1)
        _remember_pair(state, gradient, active & ~first)
        state["length"].masked_fill_(first, 0)
        state["scale"].masked_fill_(first, 1.0)
        direction = _two_loop(state, gradient)
        _set_rows(state["direction"], active, direction)
        _set_rows(state["previous_gradient"], active, gradient)
        _set_rows(state["previous_loss"], active, loss)
        first_size = torch.clamp(1.0 / gradient.abs().sum(1), max=1.0) * lr
        _set_rows(state["step_size"], active, torch.where(first, first_size, lr))
        slope = (gradient * state["direction"]).sum(1)
        active &= slope <= -TOLERANCE_CHANGE
        if searches and active.any():
            size, loss, gradient, spent = strong_wolfe(
                _prober(params, state["direction"], evaluate),
                state["step_size"],
                state["direction"],
                loss,
                gradient,
                slope,
                active,
            )
            _set_rows(state["step_size"], active, size)
            evaluations += spent
        step = state["direction"] * (state["step_size"] * active).unsqueeze(1)
        _add_flat(params, step)
        if iteration == MAX_ITER or not active.any():
            return
        if not searches:
            new_loss, new_grads = evaluate(active)
            loss = torch.where(active, new_loss, loss)
            gradient = where_rows(active, _flat(new_grads), gradient)
            evaluations += active
        active &= evaluations < MAX_EVAL
        active &= gradient.abs().amax(1) > TOLERANCE_GRAD
        active &= step.abs().amax(1) > TOLERANCE_CHANGE
        active &= (loss - state["previous_loss"]).abs() >= TOLERANCE_CHANGE


def _line_search(hp: Mapping[str, Hyper]) -> bool:
    """Whether the members search by strong Wolfe: one setting for a whole population
    (it is part of the structure key, so a [K] tensor here would be a mix)."""
    setting = hp.get("line_search", 0.0)
    if isinstance(setting, Tensor):
        raise ValueError("line_search must be the same for every member of a population")
    return bool(setting)


def _prober(params: list[Tensor], direction: Tensor, evaluate: Evaluate) -> Probe:
    """f and ∇f of every member at w + t·d (t [K]), the parameters put back at w after,
    as torch's _directional_evaluate does."""

    start = [p.clone() for p in params]

    def probe(step_sizes: Tensor, members: Tensor) -> tuple[Tensor, Tensor]:
        _add_flat(params, direction * step_sizes.unsqueeze(1))
        loss, grads = evaluate(members)
        for p, saved in zip(params, start, strict=True):
            p.copy_(saved)
        return loss, _flat(grads)

    return probe


def _remember_pair(state: State, gradient: Tensor, members: Tensor) -> None:
    """The last iteration's pair (s = t·d, y = g − g_prev) joins the history of `members`
    whose curvature sᵀy exceeds 1e-10 (the oldest pair goes when the ring is full), and
    γ = sᵀy / yᵀy becomes theirs."""
    change = gradient - state["previous_gradient"]
    step = state["direction"] * state["step_size"].unsqueeze(1)
    curvature = (change * step).sum(1)
    keep = members & (curvature > CURVATURE)
    rows = keep.nonzero().squeeze(1)
    if len(rows) == 0:
        return
    slots = state["next_slot"][rows]
    state["gradient_changes"][rows, slots] = change[rows]
    state["steps"][rows, slots] = step[rows]
    state["inverse_curvatures"][rows, slots] = 1.0 / curvature[rows]
    state["next_slot"][rows] = (slots + 1) % HISTORY
    state["length"][rows] = torch.clamp(state["length"][rows] + 1, max=HISTORY)
    scale = curvature / (change * change).sum(1)
    state["scale"][rows] = scale[rows]


def _two_loop(state: State, gradient: Tensor) -> Tensor:
    """−H·g for every member by the two-loop recursion, newest pair first and then oldest
    first; slot j of the newest-first order counts for member k when j < its length.
    Each pair is gathered from the ring when used, in both loops: kept from the first
    loop for the second, the gathered copies would hold 20 more copies of every
    member's parameters at once."""
    members = torch.arange(len(gradient), device=gradient.device)

    def pair(slot: Tensor) -> tuple[Tensor, Tensor]:
        return state["steps"][members, slot], state["gradient_changes"][members, slot]

    q = gradient.neg()
    used = []
    for j in range(int(state["length"].max())):
        slot = (state["next_slot"] - 1 - j) % HISTORY
        s, y = pair(slot)
        rho = state["inverse_curvatures"][members, slot] * (j < state["length"])
        alpha = (s * q).sum(1) * rho
        q.sub_(y * alpha.unsqueeze(1))
        used.append((slot, rho, alpha))
    r = q.mul_(state["scale"].unsqueeze(1))
    for slot, rho, alpha in reversed(used):
        s, y = pair(slot)
        beta = (y * r).sum(1) * rho
        r.add_(s * (alpha - beta).unsqueeze(1))
    return r


def _flat(tensors: list[Tensor]) -> Tensor:
    """[K, P]: each member's tensors flattened in order, in their logical (row-major)
    layout, as torch.optim.LBFGS gathers one model's gradients."""
    return torch.cat([t.reshape(len(t), -1) for t in tensors], 1)


def _add_flat(params: list[Tensor], step: Tensor) -> None:
    """w ← w + step, `step` [K, P] in `_flat`'s order."""
    offset = 0
    for p in params:
        size = p[0].numel()
        p.add_(step[:, offset : offset + size].view(p.shape))
        offset += size


def _set_rows(target: Tensor, rows: Tensor, value: Tensor) -> None:
    """target[k] ← value[k] where rows[k]."""
    target.copy_(where_rows(rows, value, target))
