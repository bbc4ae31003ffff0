"""The strong Wolfe line search of torch.optim.LBFGS (``line_search_fn="strong_wolfe"``,
after Nocedal & Wright's Algorithms 3.5 and 3.6), run for every member of a population
at once.

Along d from w, with f(t) = loss(w + t·d) and f'(t) = ∇loss(w + t·d)ᵀd, it looks for a
step t with

    f(t) ≤ f(0) + c₁·t·f'(0)        (sufficient decrease, c₁ = 1e-4)
    |f'(t)| ≤ −c₂·f'(0)             (curvature, c₂ = 0.9)

first widening [t_prev, t] by cubic interpolation until it brackets such a step, then
zooming into the bracket, at most MAX_EVALUATIONS evaluations in all. Each member is a
row of a small state machine (bracketing, zooming, finished); a round evaluates every
member at once, each at its own t, and only the members in a phase that needed the
evaluation take it. The branches are torch's, kept in its order, so a member searches
as torch's would alone.
"""

from collections.abc import Callable

import torch
from torch import Tensor

SUFFICIENT_DECREASE = 1e-4
CURVATURE = 0.9
MAX_EVALUATIONS = 25
TOLERANCE_CHANGE = 1e-9

# f and ∇f (flattened, [K, P]) of every member at w + t·d for the given t [K]
Probe = Callable[[Tensor], tuple[Tensor, Tensor]]


def strong_wolfe(
    probe: Probe, t: Tensor, d: Tensor, f: Tensor, g: Tensor, gtd: Tensor, searching: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(t, f(t), ∇f(t), evaluations) [K], [K], [K, P], [K] for the `searching` members
    from step t, direction d, f(0), ∇f(0) and f'(0) = gtd; the others' rows are left
    as given (t, f, g) with 0 evaluations."""
    members = torch.arange(len(t), device=t.device)
    d_norm = d.abs().amax(1)
    f_new, g_new = probe(t * searching)
    gtd_new = (g_new * d).sum(1)
    evaluations = searching.long()
    t_prev, f_prev, g_prev, gtd_prev = torch.zeros_like(t), f, g, gtd
    # bracket ends 0 and 1: step, f, ∇f, f'; `low` is the end with the lower f
    ends_t = torch.stack([t_prev, t], 1)
    ends_f = torch.stack([f, f_new], 1)
    ends_g = torch.stack([g, g_new], 1)
    ends_gtd = torch.stack([gtd, gtd_new], 1)
    bracketing, zooming = searching.clone(), torch.zeros_like(searching)
    done = torch.zeros_like(searching)
    tries = torch.zeros_like(evaluations)  # torch's ls_iter

    while bracketing.any():
        too_high = (f_new > f + SUFFICIENT_DECREASE * t * gtd) | ((tries > 1) & (f_new >= f_prev))
        flat_enough = gtd_new.abs() <= -CURVATURE * gtd
        found = bracketing & ~too_high & flat_enough
        brackets = bracketing & (too_high | (~flat_enough & (gtd_new >= 0)))
        _set(ends_t, brackets, t_prev, t)
        _set(ends_f, brackets, f_prev, f_new)
        _set(ends_g, brackets, g_prev, g_new)
        _set(ends_gtd, brackets, gtd_prev, gtd_new)
        _set(ends_t, found, t, t)
        _set(ends_f, found, f_new, f_new)
        _set(ends_g, found, g_new, g_new)
        done |= found
        zooming |= brackets
        widen = bracketing & ~found & ~brackets
        bracketing = widen
        if not widen.any():
            break
        lowest, highest = t + 0.01 * (t - t_prev), t * 10
        t_next = cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, lowest, highest)
        t_prev, f_prev = _where(widen, t, t_prev), _where(widen, f_new, f_prev)
        g_prev, gtd_prev = _where(widen, g_new, g_prev), _where(widen, gtd_new, gtd_prev)
        t = _where(widen, t_next, t)
        f_new, g_new, gtd_new = _probe_where(probe, widen, t, d, f_new, g_new, gtd_new)
        evaluations += widen
        tries += widen
        spent = widen & (tries == MAX_EVALUATIONS)  # no bracket found: [0, t]
        _set(ends_t, spent, torch.zeros_like(t), t)
        _set(ends_f, spent, f, f_new)
        _set(ends_g, spent, g, g_new)
        bracketing &= ~spent
        zooming |= spent

    low = (ends_f[:, 0] > ends_f[:, 1]).long()
    stuck = torch.zeros_like(searching)  # torch's insuf_progress
    while True:
        zoom = zooming & ~done & (tries < MAX_EVALUATIONS)
        zoom &= (ends_t[:, 1] - ends_t[:, 0]).abs() * d_norm >= TOLERANCE_CHANGE
        if not zoom.any():
            break
        high = 1 - low
        t_low, t_high = ends_t[members, low], ends_t[members, high]
        left, right = ends_t.amin(1), ends_t.amax(1)
        t_next = cubic_minimum(
            ends_t[:, 0],
            ends_f[:, 0],
            ends_gtd[:, 0],
            ends_t[:, 1],
            ends_f[:, 1],
            ends_gtd[:, 1],
            left,
            right,
        )
        margin = 0.1 * (right - left)
        near_end = torch.minimum(right - t_next, t_next - left) < margin
        move = near_end & (stuck | (t_next >= right) | (t_next <= left))
        nearer_right = (t_next - right).abs() < (t_next - left).abs()
        t_next = torch.where(move, torch.where(nearer_right, right - margin, left + margin), t_next)
        stuck = torch.where(zoom, near_end & ~move, stuck)
        t = _where(zoom, t_next, t)
        f_new, g_new, gtd_new = _probe_where(probe, zoom, t, d, f_new, g_new, gtd_new)
        evaluations += zoom
        tries += zoom
        f_low = ends_f[members, low]
        worse = zoom & ((f_new > f + SUFFICIENT_DECREASE * t * gtd) | (f_new >= f_low))
        _set_end(ends_t, ends_f, ends_g, ends_gtd, worse, high, t, f_new, g_new, gtd_new)
        low = torch.where(worse, (ends_f[:, 0] > ends_f[:, 1]).long(), low)
        better = zoom & ~worse
        done |= better & (gtd_new.abs() <= -CURVATURE * gtd)
        flip = better & ~done & (gtd_new * (t_high - t_low) >= 0)
        _set_end(
            ends_t,
            ends_f,
            ends_g,
            ends_gtd,
            flip,
            high,
            ends_t[members, low],
            ends_f[members, low],
            ends_g[members, low],
            ends_gtd[members, low],
        )
        _set_end(ends_t, ends_f, ends_g, ends_gtd, better, low, t, f_new, g_new, gtd_new)

    step = _where(searching, ends_t[members, low], t)
    value = _where(searching, ends_f[members, low], f)
    gradient = _where(searching, ends_g[members, low], g)
    return step, value, gradient, evaluations


def cubic_minimum(
    t1: Tensor,
    f1: Tensor,
    g1: Tensor,
    t2: Tensor,
    f2: Tensor,
    g2: Tensor,
    lowest: Tensor,
    highest: Tensor,
) -> Tensor:
    """The minimum of the cubic through (t1, f1) and (t2, f2) with slopes g1, g2, clipped
    to [lowest, highest]; their midpoint when the cubic has none (torch's
    _cubic_interpolate, per member)."""
    d1 = g1 + g2 - 3 * (f1 - f2) / (t1 - t2)
    d2_square = d1**2 - g1 * g2
    d2 = d2_square.clamp(min=0).sqrt()
    ascending = t1 <= t2
    minimum = torch.where(
        ascending,
        t2 - (t2 - t1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
        t1 - (t1 - t2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)),
    )
    clipped = torch.minimum(torch.maximum(minimum, lowest), highest)
    return torch.where(d2_square >= 0, clipped, (lowest + highest) / 2)


def _probe_where(
    probe: Probe, rows: Tensor, t: Tensor, d: Tensor, f: Tensor, g: Tensor, gtd: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """f, ∇f and f' at t for `rows` (the others keep theirs)."""
    f_new, g_new = probe(t * rows)
    gtd_new = (g_new * d).sum(1)
    return _where(rows, f_new, f), _where(rows, g_new, g), _where(rows, gtd_new, gtd)


def _where(rows: Tensor, new: Tensor, old: Tensor) -> Tensor:
    return torch.where(rows.view(-1, *([1] * (new.dim() - 1))), new, old)


def _set(ends: Tensor, rows: Tensor, first: Tensor, second: Tensor) -> None:
    """ends[k] ← (first[k], second[k]) where rows[k]."""
    ends.copy_(_where(rows, torch.stack([first, second], 1), ends))


def _set_end(
    ends_t: Tensor,
    ends_f: Tensor,
    ends_g: Tensor,
    ends_gtd: Tensor,
    rows: Tensor,
    end: Tensor,
    t: Tensor,
    f: Tensor,
    g: Tensor,
    gtd: Tensor,
) -> None:
    """End `end[k]` (0 or 1) of member k's bracket ← (t, f, ∇f, f') where rows[k]."""
    members = rows.nonzero().squeeze(1)
    chosen = end[members]
    ends_t[members, chosen] = t[members]
    ends_f[members, chosen] = f[members]
    ends_g[members, chosen] = g[members]
    ends_gtd[members, chosen] = gtd[members]
