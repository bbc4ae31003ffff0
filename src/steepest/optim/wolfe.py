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

# f and ∇f (flattened, [K, P]) of every member at w + t·d for the given t [K]; the mask
# [K] says whose evaluation counts (the members probing this round)
Probe = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
# A point of every member's line: t, f(t), ∇f(t), f'(t), [K], [K], [K, P], [K]
Point = tuple[Tensor, Tensor, Tensor, Tensor]


def strong_wolfe(
    probe: Probe, t: Tensor, d: Tensor, f: Tensor, g: Tensor, gtd: Tensor, searching: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(t, f(t), ∇f(t), evaluations) [K], [K], [K, P], [K] for the `searching` members
    from step t, direction d, f(0), ∇f(0) and f'(0) = gtd; the others' rows are left
    as given (t, f, g) with 0 evaluations."""
    d_norm = d.abs().amax(1)
    f_new, g_new = probe(t * searching, searching)
    gtd_new = (g_new * d).sum(1)
    evaluations = searching.long()
    origin = (torch.zeros_like(t), f, g, gtd)
    previous = origin
    bracket = _Bracket(origin, (t, f_new, g_new, gtd_new))
    bracketing, zooming = searching.clone(), torch.zeros_like(searching)
    done = torch.zeros_like(searching)
    tries = torch.zeros_like(evaluations)  # torch's ls_iter

    while bracketing.any():
        latest = (t, f_new, g_new, gtd_new)
        t_prev, f_prev, _, gtd_prev = previous
        too_high = (f_new > f + SUFFICIENT_DECREASE * t * gtd) | ((tries > 1) & (f_new >= f_prev))
        flat_enough = gtd_new.abs() <= -CURVATURE * gtd
        found = bracketing & ~too_high & flat_enough
        brackets = bracketing & (too_high | (~flat_enough & (gtd_new >= 0)))
        bracket.set(brackets, previous, latest)
        bracket.set(found, latest, latest)
        done |= found
        zooming |= brackets
        bracketing &= ~found & ~brackets
        if not bracketing.any():
            break
        lowest, highest = t + 0.01 * (t - t_prev), t * 10
        t_next = cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, lowest, highest)
        previous = tuple(where_rows(bracketing, new, old) for new, old in zip(latest, previous))
        t = where_rows(bracketing, t_next, t)
        f_new, g_new, gtd_new = _probe_where(probe, bracketing, t, d, f_new, g_new, gtd_new)
        evaluations += bracketing
        tries += bracketing
        spent = bracketing & (tries == MAX_EVALUATIONS)  # no bracket found: [0, t]
        bracket.set(spent, origin, (t, f_new, g_new, gtd_new))
        bracketing &= ~spent
        zooming |= spent

    low = bracket.lower()
    stuck = torch.zeros_like(searching)  # torch's insuf_progress
    while True:
        t0, f0, _, gtd0 = bracket.column(0)
        t1, f1, _, gtd1 = bracket.column(1)
        zoom = zooming & ~done & (tries < MAX_EVALUATIONS)
        zoom &= (t1 - t0).abs() * d_norm >= TOLERANCE_CHANGE
        if not zoom.any():
            break
        high = 1 - low
        t_low, f_low, _, _ = bracket.end(low)
        t_high = bracket.end(high)[0]
        left, right = torch.minimum(t0, t1), torch.maximum(t0, t1)
        t_next = cubic_minimum(t0, f0, gtd0, t1, f1, gtd1, left, right)
        margin = 0.1 * (right - left)
        near_end = torch.minimum(right - t_next, t_next - left) < margin
        move = near_end & (stuck | (t_next >= right) | (t_next <= left))
        nearer_right = (t_next - right).abs() < (t_next - left).abs()
        t_next = torch.where(move, torch.where(nearer_right, right - margin, left + margin), t_next)
        stuck = torch.where(zoom, near_end & ~move, stuck)
        t = where_rows(zoom, t_next, t)
        f_new, g_new, gtd_new = _probe_where(probe, zoom, t, d, f_new, g_new, gtd_new)
        evaluations += zoom
        tries += zoom
        latest = (t, f_new, g_new, gtd_new)
        worse = zoom & ((f_new > f + SUFFICIENT_DECREASE * t * gtd) | (f_new >= f_low))
        bracket.set_end(worse, high, latest)
        low = torch.where(worse, bracket.lower(), low)
        better = zoom & ~worse
        done |= better & (gtd_new.abs() <= -CURVATURE * gtd)
        flip = better & ~done & (gtd_new * (t_high - t_low) >= 0)
        bracket.set_end(flip, high, bracket.end(low))
        bracket.set_end(better, low, latest)

    t_low, f_low, g_low, _ = bracket.end(low)
    return (
        where_rows(searching, t_low, t),
        where_rows(searching, f_low, f),
        where_rows(searching, g_low, g),
        evaluations,
    )


class _Bracket:
    """Every member's bracket: two points of its line, ends 0 and 1, each quantity
    stacked [K, 2, …]."""

    def __init__(self, first: Point, second: Point) -> None:
        self.ends = [torch.stack([a, b], 1) for a, b in zip(first, second, strict=True)]

    def column(self, end: int) -> Point:
        """End `end` of every member's bracket."""
        return tuple(quantity[:, end] for quantity in self.ends)

    def end(self, ends: Tensor) -> Point:
        """End `ends[k]` (0 or 1) of member k's bracket."""
        members = torch.arange(len(ends), device=ends.device)
        return tuple(quantity[members, ends] for quantity in self.ends)

    def lower(self) -> Tensor:
        """The end with the lower f, the first on a tie [K] (torch's low_pos)."""
        f = self.ends[1]
        return (f[:, 0] > f[:, 1]).long()

    def set(self, rows: Tensor, first: Point, second: Point) -> None:
        """Member k's bracket ← [first[k], second[k]] where rows[k]."""
        for quantity, a, b in zip(self.ends, first, second, strict=True):
            quantity.copy_(where_rows(rows, torch.stack([a, b], 1), quantity))

    def set_end(self, rows: Tensor, ends: Tensor, point: Point) -> None:
        """End `ends[k]` of member k's bracket ← point[k] where rows[k]."""
        members = rows.nonzero().squeeze(1)
        chosen = ends[members]
        for quantity, value in zip(self.ends, point, strict=True):
            quantity[members, chosen] = value[members]


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
    f_new, g_new = probe(t * rows, rows)
    gtd_new = (g_new * d).sum(1)
    return where_rows(rows, f_new, f), where_rows(rows, g_new, g), where_rows(rows, gtd_new, gtd)


def where_rows(rows: Tensor, new: Tensor, old: Tensor) -> Tensor:
    """new[k] where rows[k], else old[k], for tensors [K, …] and a mask [K]."""
    return torch.where(rows.view(-1, *([1] * (new.dim() - 1))), new, old)
