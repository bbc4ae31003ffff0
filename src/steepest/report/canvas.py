"""Matplotlib plumbing shared by the run plots and the study report: the headless Agg
backend, one house style, and the two ways a figure leaves us (PNG file, data URI)."""

import base64
import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import ListedColormap, to_rgba_array  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)

BEST = "#d62728"
TRAIN = "#1f77b4"
VAL = "#ff7f0e"
MUTED = "#9aa0a6"
# viridis without its last fifth: its pale yellow end (#fde725) all but vanished on white
# as a thin translucent line, and it is the colour of the worst-ranked member
RANKS = ListedColormap(matplotlib.colormaps["viridis"](np.linspace(0, 0.8, 256)), "ranks")
BLOW_UP = 100.0  # `within_reach`
NAMED_ABOVE = 3  # `note_above` names this many curves, then "…"
CHARS_PER_INCH = 11  # of legend text at the house font size (`legend_below`)
LEGEND_ROW = 0.25  # inches a legend row takes

STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titleweight": "bold",
    "font.size": 10,
    "legend.frameon": False,
}


# Decorate a function that builds and saves figures with ``@house_style``: the style
# then holds while it runs, without changing matplotlib's global settings for the user.
house_style = matplotlib.rc_context(STYLE)


def new_figure(
    width: float, height: float, rows: int = 1, cols: int = 1
) -> tuple[Figure, np.ndarray]:
    """A figure and its axes as a 2-D array of shape [rows, cols]."""
    return plt.subplots(rows, cols, figsize=(width, height), squeeze=False, layout="constrained")


def count_axis(ax: Axes, label: str) -> None:
    """Label the x axis of a count (epochs, trial numbers): whole-number ticks only, where
    matplotlib's default would mark epoch 2.5 on a short run."""
    ax.set_xlabel(label)
    whole_ticks(ax.xaxis)


def whole_ticks(axis: Axis) -> None:
    """Ticks at whole numbers only (counts, ranks, trial numbers), even with a single one
    in view: MaxNLocator's default wants two, else it marks 0.945 … 1.050."""
    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def legend_below(fig: Figure, handles: list) -> None:
    """The legend under the axes, in as many columns as its longest entry allows, the
    figure grown by its height: placed inside (``loc="best"``), its long entries hid
    curves."""
    longest = max(len(h.get_label()) for h in handles) + 6  # and the swatch
    ncols = max(1, min(len(handles), int(fig.get_figwidth() * CHARS_PER_INCH) // longest))
    fig.set_figheight(fig.get_figheight() + LEGEND_ROW * -(-len(handles) // ncols))
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols)


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as a PNG and release its memory."""
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def png_data_uri(fig: Figure) -> str:
    """``fig`` as a ``data:image/png;base64,...`` URI (for self-contained HTML); frees it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def spans_decades(values: np.ndarray, decades: float = 2.0) -> bool:
    """True when the positive finite ``values`` cover more than ``decades`` powers of ten
    (then a log axis shows them better); False when any value is zero or negative."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.min() <= 0:
        return False
    return bool(np.log10(finite.max() / finite.min()) > decades)


def draw_faint_lines(
    ax: Axes,
    curves: Sequence[tuple[np.ndarray, np.ndarray]],
    colors: Sequence | str,
    alpha: float = 0.35,
    width: float = 0.8,
    stretch: Sequence[bool] | None = None,
) -> None:
    """Many thin translucent (x, y) lines at once: one LineCollection stays fast with
    hundreds of curves where one ``ax.plot`` per curve would not. A curve whose
    ``stretch`` is False is drawn but does not stretch the axes (it ran off to huge
    values: `within_reach`)."""
    rgba = np.broadcast_to(to_rgba_array(colors), (len(curves), 4))
    keep = np.ones(len(curves), bool) if stretch is None else np.asarray(stretch, bool)
    for autolim in (True, False):
        chosen = np.flatnonzero(keep == autolim)
        segments = [np.column_stack(curves[i]) for i in chosen]
        lines = LineCollection(segments, colors=rgba[chosen], linewidths=width, alpha=alpha)
        ax.add_collection(lines, autolim=autolim)
        for i in chosen:
            _mark_isolated(ax, *curves[i], rgba[i], alpha, 2 + width, autolim)
    ax.autoscale_view()


def _mark_isolated(
    ax: Axes, x: np.ndarray, y: np.ndarray, color, alpha: float, size: float, autolim: bool
) -> None:
    """A dot on each `isolated` point of one faint curve (its line shows nothing there)."""
    lone = isolated(y)
    if lone.any():
        dots = Line2D(x[lone], y[lone], linestyle="none", marker="o", markersize=size)
        dots.set(color=color, alpha=alpha)
        if autolim:
            ax.add_line(dots)
        else:  # drawn, but not counted in the data limits
            ax.add_artist(dots)


def _largest(values: np.ndarray) -> float:
    """The largest finite |value|; 0 when there is none."""
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size else 0.0


def within_reach(curves: Sequence[np.ndarray], reference: np.ndarray) -> list[bool]:
    """Whether each curve may stretch the axes: False once its largest finite |value|
    goes past `BLOW_UP` times the ``reference`` curve's (the best member's or trial's).
    One member's loss of 3e8, or a trial's of 1e7, flattened every other curve into a
    line at 0."""
    limit = BLOW_UP * _largest(reference)
    return [not _largest(y) > limit > 0 for y in curves]


def note_above(ax: Axes, curves: dict[str, np.ndarray], noun: str) -> Line2D | None:
    """A legend entry naming the ``curves`` (name → y values) whose every finite value
    lies above ``ax``'s y axis as it now stands (call it once the limits and scale are
    final), or None when all can be seen: a curve kept out of view (`within_reach`)
    must not vanish unannounced."""
    top = ax.get_ylim()[1]
    above = [name for name, y in curves.items() if (f := y[np.isfinite(y)]).size and f.min() > top]
    if not above:
        return None
    names = ", ".join(above[:NAMED_ABOVE]) + (", …" if len(above) > NAMED_ABOVE else "")
    count = f"{len(above)} {noun}{'s' if len(above) > 1 else ''}"
    return Line2D(
        [], [], linestyle="none", marker="^", color=MUTED, label=f"{count} above the axis: {names}"
    )


def isolated(y: np.ndarray) -> np.ndarray:
    """Mask of the finite values of ``y`` with no finite neighbour: a line draws nothing
    through them (a one-epoch run, a member that diverged at its second epoch), so they
    need a marker to be seen."""
    finite = np.isfinite(y)
    return finite & ~np.r_[False, finite[:-1]] & ~np.r_[finite[1:], False]


def plot_line(ax: Axes, x: np.ndarray, y: np.ndarray, **style) -> None:
    """``ax.plot`` of one curve, with a marker on each `isolated` point (and so in its
    legend entry only when it has one)."""
    lone = isolated(np.asarray(y))
    ax.plot(x, y, **style, **({"marker": "o", "markevery": lone} if lone.any() else {}))


class _OneTwoFiveLocator(LogLocator):
    """Ticks at 1, 2 and 5 times powers of ten; at the powers alone when matplotlib's
    LogLocator, asked for 1-2-5 over more than about eight decades, returns none."""

    def __init__(self) -> None:
        super().__init__(subs=(1.0, 2.0, 5.0))

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        ticks = super().tick_values(vmin, vmax)
        return ticks if len(ticks) else LogLocator().tick_values(vmin, vmax)


def log_scale(ax: Axes, which: str) -> None:
    """Make the ``which`` (``"x"`` or ``"y"``) axis logarithmic with ticks at 1, 2 and 5
    times powers of ten, labelled in plain numbers (``0.02`` rather than ``2×10⁻²``);
    over more than two decades only the powers of ten are labelled, so labels never crowd."""
    getattr(ax, f"set_{which}scale")("log")
    axis = ax.xaxis if which == "x" else ax.yaxis

    def label(value: float, _position: int) -> str:
        low, high = sorted(axis.get_view_interval())
        mantissa = value / 10 ** math.floor(math.log10(value))
        crowded = low > 0 and math.log10(high / low) > 2
        return "" if crowded and round(mantissa) != 1 else f"{value:g}"

    axis.set_major_locator(_OneTwoFiveLocator())
    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(NullFormatter())
