"""PNG plots of one training run, written next to its ``history.csv``.

Every plot overlays all members of the population: the best member thick and labelled,
the others thin, translucent and coloured by their rank (a colour bar, not a legend
entry per member, keeps it readable for any population size). Members that diverged are
drawn but do not stretch the axes, nor, in the loss and metric plots, members that blew up
while staying finite (`canvas.within_reach`); the legend names those left wholly above the
axis.
"""

from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from steepest.report import canvas
from steepest.report.runfiles import (
    DEAD_RELU,
    DEAD_RELU_PNG,
    HPARAMS_PNG,
    LOSS_PNG,
    METRIC_PNG,
    PLOTS,
    Run,
    read_run,
)
from steepest.report.units import is_accuracy, metric_label, percent_scale

AXIS_LABELS = {DEAD_RELU: "dead ReLU units (fraction)"}
FAINT_OPACITY = 4.0  # summed over the population (`_faint_alpha`)


def _faint_alpha(run: Run) -> float:
    """Opacity of the other members' lines: a few can be near solid, hundreds must let
    each other show through."""
    return float(np.clip(FAINT_OPACITY / len(run.history), 0.35, 0.8))


def _rank_colors(run: Run, members: list[int]) -> list:
    """One colour per member id, from the rank colour map (best = first colour)."""
    ranks = {member: rank for rank, member in enumerate(run.ranked_members())}
    worst = max(len(ranks) - 1, 1)
    return [canvas.RANKS(ranks[m] / worst) for m in members]


def _draw_others(ax: Axes, run: Run, column: str, scale: float, tame: bool = False) -> None:
    """``column`` of every member but the best as faint lines coloured by rank; diverged
    members, and with `tame` blown-up ones (module doc), do not stretch the axes."""
    diverged = {m["member"] for m in run.members if m.get("status") == "diverged"}
    others = _others(run)
    curves = [(run.history[m]["epoch"], run.history[m][column] * scale) for m in others]
    stretch = [m not in diverged for m in others]
    if tame:
        best = run.history[run.best_member][column] * scale
        reach = canvas.within_reach([y for _, y in curves], best)
        stretch = [s and r for s, r in zip(stretch, reach, strict=True)]
    canvas.draw_faint_lines(
        ax, curves, _rank_colors(run, others), alpha=_faint_alpha(run), stretch=stretch
    )


def _others(run: Run) -> list[int]:
    """Every member but the best, the ones drawn faint."""
    return [m for m in run.history if m != run.best_member]


def _draw_best(ax: Axes, run: Run, column: str, scale: float, color: str, label: str) -> None:
    """``column`` of the best member as a thick labelled line."""
    best = run.history[run.best_member]
    canvas.plot_line(
        ax, best["epoch"], best[column] * scale, color=color, linewidth=2.4, label=label
    )


def _best_label(run: Run) -> str:
    """The best member's label, prefixed so the legend says why this line is thick."""
    name = run.label(run.best_member)
    return f"best: {name}" if len(run.history) > 1 else name


def _legend(ax: Axes, run: Run, faint: str, above: Line2D | None = None) -> None:
    """Legend of the labelled lines plus, for a population, one entry for all faint ones
    and the note of those ``above`` the axis (`canvas.note_above`)."""
    handles, _ = ax.get_legend_handles_labels()
    if len(run.history) > 1:  # drawn as the middle-ranked of them is (the only one of K=2)
        ranked = [m for m in run.ranked_members() if m != run.best_member]
        (color,) = _rank_colors(run, [ranked[len(ranked) // 2]])
        handles.append(Line2D([], [], color=color, alpha=_faint_alpha(run), label=faint))
    handles += [above] if above else []
    canvas.legend_below(ax.figure, handles)


def _train_val_legend(ax: Axes, run: Run, kind: str, scale: float) -> None:
    """The legend of the ``kind`` plot once its axes are final, naming the members whose
    validation curve lies wholly above them."""
    curves = {run.label(m): run.history[m][f"val_{kind}"] * scale for m in _others(run)}
    _legend(ax, run, "other members (validation)", canvas.note_above(ax, curves, "member"))


def _rank_bar(fig: Figure, axes: list[Axes], run: Run) -> None:
    """For a population, a colour bar beside ``axes`` mapping faint-line colour to rank."""
    if len(run.history) > 1:
        mappable = ScalarMappable(cmap=canvas.RANKS, norm=Normalize(1, len(run.history)))
        bar = fig.colorbar(mappable, ax=axes, pad=0.01, aspect=30)
        bar.set_label(f"member rank by best validation {run.monitored} (1 = best)")
        canvas.whole_ticks(bar.ax.yaxis)  # no rank 1.5
        bar.ax.invert_yaxis()


def _train_val_png(
    run: Run, kind: str, scale: float, title: str, ylabel: str, how: tuple[str, str] = ("", "")
) -> tuple[Figure, Axes]:
    """Train and validation ``kind`` (``loss`` or ``metric``): the best member's pair
    thick, the other members' validation faint; `how` each was measured, for the legend.
    Returns the figure to finish."""
    fig, axes = canvas.new_figure(8, 4.5)
    ax = axes[0, 0]
    _draw_others(ax, run, f"val_{kind}", scale, tame=True)
    train_label = f"train{how[0]} — {_best_label(run)}"
    _draw_best(ax, run, f"train_{kind}", scale, canvas.TRAIN, train_label)
    _draw_best(ax, run, f"val_{kind}", scale, canvas.VAL, f"validation{how[1]}")
    ax.set(title=title, ylabel=ylabel)
    canvas.count_axis(ax, "epoch")
    _rank_bar(fig, [ax], run)
    return fig, ax


def _loss_png(run: Run, out_dir: Path) -> Path:
    """Loss per epoch. The two curves are measured differently, which the figure says:
    the train loss is the mean over the epoch's minibatches as they trained (dropout on,
    weights moving), the validation loss the end-of-epoch model's in eval mode; a gap
    between them is not all over-fitting."""
    how = (" (mean over the epoch's batches, training mode)", " (end of epoch, eval mode)")
    ylabel = "loss (of standardised targets)" if "target_sd" in run.summary else "loss"
    fig, ax = _train_val_png(run, "loss", 1.0, "Loss per epoch", ylabel, how)
    best = run.history[run.best_member]
    if canvas.spans_decades(np.concatenate([best["train_loss"], best["val_loss"]])):
        canvas.log_scale(ax, "y")
    _train_val_legend(ax, run, "loss", 1.0)
    return canvas.save_png(fig, out_dir / LOSS_PNG)


def _shade_gap(ax: Axes, run: Run, scale: float) -> None:
    """Shade between the best member's train and validation metric: red where validation
    is worse (over-fitting shows as a widening red band), green where it is better. A band
    needs two epochs: one epoch's would be drawn as nothing, yet listed in the legend."""
    best = run.history[run.best_member]
    epochs, train, val = best["epoch"], best["train_metric"] * scale, best["val_metric"] * scale
    if len(epochs) < 2:
        return
    lower, higher = val < train, val > train
    worse, better = (lower, higher) if run.maximize else (higher, lower)
    for where, color, label in (
        (worse, canvas.BEST, "gap: validation worse than train"),
        (better, "#2ca02c", "gap: validation better than train"),
    ):
        if where.any():
            ax.fill_between(
                epochs,
                train,
                val,
                where=where,
                interpolate=True,
                color=color,
                alpha=0.15,
                linewidth=0,
                label=label,
            )


def _metric_png(run: Run, out_dir: Path) -> Path:
    scale, ylabel = percent_scale(run.metric), metric_label(run.metric)
    name = "Accuracy" if is_accuracy(run.metric) else ylabel
    better = "higher" if run.maximize else "lower"
    how = (" (end of epoch, eval mode, a sample)", " (end of epoch, eval mode)")
    title = f"{name} per epoch ({better} is better)"
    fig, ax = _train_val_png(run, "metric", scale, title, ylabel, how)
    _shade_gap(ax, run, scale)
    best_epoch = run.best_validation(run.best_member)[0]
    if best_epoch is not None:
        ax.axvline(
            best_epoch, color=canvas.MUTED, linestyle=":", label=f"best epoch ({best_epoch})"
        )
    _train_val_legend(ax, run, "metric", scale)
    return canvas.save_png(fig, out_dir / METRIC_PNG)


def _columns_png(run: Run, columns: list[str], title: str, path: Path) -> Path:
    """One panel per history column, stacked over a shared epoch axis."""
    # at least the height of the loss plot: a colour bar's label did not fit one panel's
    fig, axes = canvas.new_figure(8, max(4.5, 1.2 + 2.2 * len(columns)), rows=len(columns))
    fig.suptitle(title, fontweight="bold")
    panels = list(axes[:, 0])
    for ax, column in zip(panels, columns, strict=True):
        _draw_others(ax, run, column, 1.0)
        _draw_best(ax, run, column, 1.0, canvas.BEST, _best_label(run))
        if canvas.spans_decades(np.concatenate([h[column] for h in run.history.values()]), 1.0):
            canvas.log_scale(ax, "y")
        elif column == DEAD_RELU:  # a fraction: no axis below 0 (an all-zero curve had one)
            ax.set_ylim(bottom=0)
        ax.set_ylabel(AXIS_LABELS.get(column, column))
        canvas.count_axis(ax, "epoch" if ax is panels[-1] else "")
    _legend(panels[0], run, "other members")
    _rank_bar(fig, panels, run)
    return canvas.save_png(fig, path)


@canvas.house_style
def plot_run(out_dir: Path) -> list[Path]:
    """Write the plots of the run in ``out_dir`` next to its history and return their paths:
    ``loss.png``, ``metric.png``, ``hparams.png`` (when the history records hyperparameter
    values per epoch) and ``dead_relu.png`` (when it records dead ReLU fractions)."""
    out_dir = Path(out_dir)
    run = read_run(out_dir)
    for plot in PLOTS:  # an earlier run's plots would pass for this one's (this run may
        (out_dir / plot).unlink(missing_ok=True)  # draw fewer, or be interrupted)
    written = [_loss_png(run, out_dir), _metric_png(run, out_dir)]
    if run.hparams:
        written.append(
            _columns_png(run, run.hparams, "Hyperparameters per epoch", out_dir / HPARAMS_PNG)
        )
    if any(DEAD_RELU in h for h in run.history.values()):
        written.append(
            _columns_png(run, [DEAD_RELU], "Dead ReLU units per epoch", out_dir / DEAD_RELU_PNG)
        )
    return written
