"""The study report's figures. Each function draws one figure from a study's trials and
returns it as a PNG data URI, or returns None when there is nothing to draw yet.

Colour means the same everywhere: the better a trial's value, the darker its colour
(viridis), the best trial in thick red, pruned trials grey. Values are shown in the unit
of the metric's axis label (accuracy in percent).
"""

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from optuna.trial import FrozenTrial, TrialState

from steepest.report import canvas
from steepest.report.study import ParamAxis, Stage, Summary
from steepest.report.units import metric_label, percent_scale

WIDTH = 11.0  # inches: at 96 dpi the figures fill the page's content column
TICK_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}
CURVE_STYLES = {
    TrialState.PRUNED: {"colors": canvas.MUTED, "alpha": 0.3},
    TrialState.RUNNING: {"colors": canvas.TRAIN, "alpha": 0.8, "width": 1.2},
}


def _short(value: float) -> str:
    """A tick label: three significant digits."""
    return f"{value:.3g}"


def _span(values: Sequence[float]) -> tuple[float, float]:
    """(lowest, highest) of ``values`` for an axis or a colour bar; one value sits in the
    middle of a span of 1, not at both ends (a one-trial study's axes read 91.4 … 91.4,
    or −0.1 … 0.1 for trial 0)."""
    low, high = (min(values), max(values)) if len(values) else (0.0, 1.0)
    return (low - 0.5, low + 0.5) if high <= low else (low, high)


def _value_colors(values: Sequence[float], summary: Summary) -> ScalarMappable:
    """Colour map over ``values`` (metric units): better values darker."""
    cmap = canvas.RANKS.reversed() if summary.maximize else canvas.RANKS
    return ScalarMappable(cmap=cmap, norm=Normalize(*_span(values)))


def _value_bar(ax: Axes, mappable: ScalarMappable, summary: Summary) -> None:
    """A colour bar of the objective beside ``ax``."""
    bar = ax.figure.colorbar(mappable, ax=ax, pad=0.01, aspect=30)
    bar.set_label(metric_label(summary.metric))


def _last_reported(trial: FrozenTrial) -> float | None:
    """The value a trial reported at its last epoch (where a pruned trial stopped)."""
    steps = trial.intermediate_values
    return steps[max(steps)] if steps else None


def optimisation_history(trials: list[FrozenTrial], summary: Summary) -> str | None:
    """Value of each complete trial by trial number, pruned ones at their last reported
    value, and the best value so far as a step line."""
    scale = percent_scale(summary.metric)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [
        (t.number, v)
        for t in trials
        if t.state == TrialState.PRUNED and (v := _last_reported(t)) is not None
    ]
    if not complete and not pruned:
        return None
    fig, axes = canvas.new_figure(WIDTH, 4)
    ax = axes[0, 0]
    if pruned:
        numbers, values = zip(*pruned, strict=True)
        ax.scatter(
            numbers,
            np.array(values) * scale,
            marker="x",
            s=14,
            color=canvas.MUTED,
            label="pruned (last reported value)",
        )
    if complete:
        numbers = [t.number for t in complete]
        values = np.array([t.value for t in complete]) * scale
        ax.scatter(numbers, values, s=16, color=canvas.TRAIN, label="complete")
        running_best = (np.maximum if summary.maximize else np.minimum).accumulate(values)
        canvas.plot_line(
            ax,
            numbers,
            running_best,
            drawstyle="steps-post",
            color=canvas.BEST,
            linewidth=2,
            label="best so far",
        )
        if canvas.spans_decades(values):
            canvas.log_scale(ax, "y")
    ax.set(ylabel=metric_label(summary.metric))
    canvas.count_axis(ax, "trial number")
    canvas.legend_below(fig, ax.get_legend_handles_labels()[0])
    return canvas.png_data_uri(fig)


def learning_curves(trials: list[FrozenTrial], summary: Summary) -> str | None:
    """Reported value per epoch of every trial: complete ones coloured by final value,
    pruned ones grey with a cross where they were stopped, running ones blue. A trial
    that blew up (`canvas.within_reach` of the best trial) does not stretch the axis; the
    legend names those left wholly above it."""
    scale = percent_scale(summary.metric)
    reported = [t for t in trials if t.intermediate_values and t.state != TrialState.FAIL]
    if not reported:
        return None
    curves = {t.number: _curve(t, scale) for t in reported}
    best = curves.get(summary.best.number) if summary.best else None
    reach = canvas.within_reach(
        [y for _, y in curves.values()], np.array([]) if best is None else best[1]
    )
    in_reach = dict(zip(curves, reach, strict=True))

    fig, axes = canvas.new_figure(WIDTH, 4.5)
    ax = axes[0, 0]

    def draw(group: list[FrozenTrial], **style) -> None:
        canvas.draw_faint_lines(
            ax,
            [curves[t.number] for t in group],
            stretch=[in_reach[t.number] for t in group],
            **style,
        )

    for state, style in CURVE_STYLES.items():
        draw([t for t in reported if t.state == state], **style)
    stopped = [
        curves[t.number] for t in reported if t.state == TrialState.PRUNED and in_reach[t.number]
    ]
    if stopped:
        ax.scatter(
            [x[-1] for x, _ in stopped],
            [y[-1] for _, y in stopped],
            marker="x",
            s=16,
            color=canvas.BEST,
            alpha=0.6,
            zorder=3,
        )
    complete = [t for t in reported if t.state == TrialState.COMPLETE]
    mappable = _value_colors([t.value * scale for t in complete], summary)
    draw(complete, colors=[mappable.to_rgba(t.value * scale) for t in complete], alpha=0.6)
    handles = []  # the kinds of line this study has
    if complete:
        handles.append(Line2D([], [], color=canvas.RANKS(0.3), label="complete (colour: value)"))
    if stopped:
        handles.append(
            Line2D(
                [],
                [],
                color=canvas.MUTED,
                marker="x",
                markeredgecolor=canvas.BEST,
                label="pruned, × where stopped",
            )
        )
    if any(t.state == TrialState.RUNNING for t in reported):
        handles.append(Line2D([], [], color=canvas.TRAIN, label="running"))
    if best is not None:
        canvas.plot_line(ax, *best, color=canvas.BEST, linewidth=2.4)
        handles.append(
            Line2D(
                [], [], color=canvas.BEST, linewidth=2.4, label=f"best: trial {summary.best.number}"
            )
        )
    if complete:
        _value_bar(ax, mappable, summary)
    ax.set(ylabel=metric_label(summary.metric))
    canvas.count_axis(ax, "epoch")
    above = canvas.note_above(ax, {f"trial {n}": y for n, (_, y) in curves.items()}, "trial")
    handles += [above] if above else []
    canvas.legend_below(fig, handles)
    return canvas.png_data_uri(fig)


def _curve(trial: FrozenTrial, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values in metric units) a trial reported, in epoch order."""
    steps = sorted(trial.intermediate_values)
    return np.array(steps), np.array([trial.intermediate_values[s] for s in steps]) * scale


def _axis_ticks(ax: Axes, x: float, axis: ParamAxis) -> None:
    """Label a vertical parallel-coordinates axis with its choices or its two ends."""
    if axis.choices:
        for choice in axis.choices:
            ax.text(
                x + 0.03, axis.unit(choice), str(choice), va="center", fontsize=8, bbox=TICK_BOX
            )
    else:
        for value, offset in ((axis.low, -0.03), (axis.high, 1.03)):
            ax.text(x, offset, _short(value), ha="center", va="center", fontsize=8, bbox=TICK_BOX)
    ax.text(
        x,
        -0.1,
        axis.name + (" (log)" if axis.log else ""),
        ha="center",
        va="top",
        fontweight="bold",
    )


def parallel_coordinates(
    complete: list[FrozenTrial], axes: list[ParamAxis], summary: Summary
) -> str | None:
    """Each complete trial as a line through its parameter values (each axis scaled to
    its search range) to its value on the last axis."""
    if not complete or not axes:
        return None
    scale = percent_scale(summary.metric)
    values = np.array([t.value for t in complete]) * scale
    mappable = _value_colors(values, summary)  # the value axis spans its colour bar
    norm = mappable.norm
    objective = ParamAxis(metric_label(summary.metric), low=norm.vmin, high=norm.vmax)
    xs = np.arange(len(axes) + 1)

    def line(trial: FrozenTrial) -> tuple[np.ndarray, np.ndarray]:
        ys = [a.unit(trial.params[a.name]) if a.name in trial.params else np.nan for a in axes]
        return xs, np.array([*ys, objective.unit(trial.value * scale)])

    fig, grid = canvas.new_figure(WIDTH, 4.5)
    ax = grid[0, 0]
    order = np.argsort(values if summary.maximize else -values)  # best drawn last, on top
    canvas.draw_faint_lines(
        ax,
        [line(complete[i]) for i in order],
        [mappable.to_rgba(values[i]) for i in order],
        alpha=0.5,
        width=1,
    )
    ax.plot(*line(summary.best), color=canvas.BEST, linewidth=2.4)
    for x, axis in enumerate([*axes, objective]):
        ax.vlines(x, 0, 1, color="black", linewidth=0.8)
        _axis_ticks(ax, x, axis)
    ax.set(xlim=(-0.3, len(axes) + 0.3), ylim=(-0.15, 1.08))
    ax.set_axis_off()
    _value_bar(ax, mappable, summary)
    return canvas.png_data_uri(fig)


def slices(complete: list[FrozenTrial], axes: list[ParamAxis], summary: Summary) -> str | None:
    """One panel per parameter: value of each complete trial against that parameter,
    coloured by trial number (later trials darker) to show where the search went."""
    if not complete or not axes:
        return None
    scale = percent_scale(summary.metric)
    cols = min(4, len(axes))
    rows = -(-len(axes) // cols)
    fig, grid = canvas.new_figure(WIDTH, 0.4 + 2.8 * rows, rows=rows, cols=cols)
    jitter = np.random.default_rng(0)
    numbers = Normalize(*_span([0, max(t.number for t in complete)]))
    panels = list(grid.flat)
    for ax, axis in zip(panels, axes, strict=False):
        used = [t for t in complete if axis.name in t.params]
        spread = 0.3 if axis.choices else 0.0  # side by side, not all on one vertical line
        ax.scatter(
            [axis.position(t.params[axis.name]) + jitter.uniform(-spread, spread) for t in used],
            [t.value * scale for t in used],
            c=[t.number for t in used],
            s=12,
            cmap=canvas.RANKS.reversed(),
            norm=numbers,
        )
        if axis.name in summary.best.params:
            ax.scatter(
                [axis.position(summary.best.params[axis.name])],
                [summary.best.value * scale],
                marker="*",
                s=160,
                color=canvas.BEST,
                zorder=3,
            )
        if axis.log:
            canvas.log_scale(ax, "x")
        if axis.choices:
            ax.set_xticks(range(len(axis.choices)), [str(c) for c in axis.choices])
            ax.set_xlim(-0.5, len(axis.choices) - 0.5)
        ax.set(xlabel=axis.name, ylabel=metric_label(summary.metric))
    for ax in panels[len(axes) :]:
        ax.set_axis_off()
    bar = fig.colorbar(
        ScalarMappable(cmap=canvas.RANKS.reversed(), norm=numbers), ax=panels, pad=0.01, aspect=40
    )
    bar.set_label("trial number")
    canvas.whole_ticks(bar.ax.yaxis)
    return canvas.png_data_uri(fig)


def importances(scores: dict[str, float]) -> str:
    """Horizontal bars of parameter importance, largest on top."""
    names = list(scores)[::-1]
    fig, axes = canvas.new_figure(WIDTH, 0.8 + 0.45 * len(names))
    ax = axes[0, 0]
    bars = ax.barh(names, [scores[n] for n in names], color=canvas.TRAIN)
    ax.bar_label(bars, [f"{scores[n]:.0%}" for n in names], padding=3)
    ax.set(xlabel="share of the value's variance", xlim=(0, max(scores.values()) * 1.15 or 1))
    return canvas.png_data_uri(fig)


def stage_ranges(found: list[Stage], axes: dict[str, ParamAxis]) -> str | None:
    """For each numeric parameter of the coarse-to-fine search, one bar per stage spanning
    its range, with the values its trials tried (complete dark, others grey)."""
    names = [n for n in found[0].space if n in axes]
    if not names:
        return None
    fig, grid = canvas.new_figure(
        WIDTH, 0.5 + (0.5 + 0.4 * len(found)) * len(names), rows=len(names)
    )
    rng = np.random.default_rng(0)
    for ax, name in zip(grid[:, 0], names, strict=True):
        for stage in found:
            bounds = stage.space[name]
            ax.barh(
                stage.index,
                bounds["high"] - bounds["low"],
                left=bounds["low"],
                height=0.6,
                color=canvas.TRAIN,
                alpha=0.2,
            )
            tried = [t for t in stage.trials if name in t.params]
            ax.scatter(
                [t.params[name] for t in tried],
                stage.index + rng.uniform(-0.2, 0.2, len(tried)),
                s=8,
                c=[canvas.TRAIN if t.state == TrialState.COMPLETE else canvas.MUTED for t in tried],
            )
        if axes[name].log:
            canvas.log_scale(ax, "x")
        ax.set_yticks([s.index for s in found], [f"stage {s.index}" for s in found])
        ax.invert_yaxis()
        ax.set_xlabel(name)
        ax.grid(axis="y", visible=False)
    return canvas.png_data_uri(fig)
