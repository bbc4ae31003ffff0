"""PNG plots of a training run: one population run (with a diverged member) and one
single-member regression run, each plotted once and inspected by several tests."""

import numpy as np
import pytest
from PIL import Image

from steepest.report import canvas, plots
from steepest.report.plots import plot_run

from .synthetic import edit_history, write_run


def plotted(folder, **run):
    """Plot a synthetic run in ``folder``; return the written paths and, keyed by file
    name, each figure still open for inspection."""
    return plotted_as_is(write_run(folder, **run))


def plotted_as_is(folder):
    """`plotted` for the run already in ``folder``."""
    figures = {}

    def keep(fig, path):
        figures[path.name] = fig
        fig.savefig(path, dpi=40)
        return path

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plots.canvas, "save_png", keep)
        paths = plot_run(folder)
    return paths, figures


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    paths, figures = plotted(
        tmp_path_factory.mktemp("population"), members=40, epochs=20, diverged=0
    )
    yield paths, figures
    for fig in figures.values():
        canvas.plt.close(fig)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    paths, figures = plotted(
        tmp_path_factory.mktemp("single"), members=1, epochs=10, task="regression", dead_relu=False
    )
    yield paths, figures
    for fig in figures.values():
        canvas.plt.close(fig)


def legend_of(ax) -> list[str]:
    """The texts of the legend under ``ax``'s figure."""
    (legend,) = ax.figure.legends
    return [text.get_text() for text in legend.get_texts()]


def test_population_writes_four_pngs_next_to_the_history(population):
    paths, _ = population
    assert [p.name for p in paths] == ["loss.png", "metric.png", "hparams.png", "dead_relu.png"]
    for path in paths:
        assert path.parent.name.startswith("population")
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 200


def test_dead_relu_plot_only_when_recorded(single):
    paths, _ = single
    assert [p.name for p in paths] == ["loss.png", "metric.png", "hparams.png"]


def test_legend_stays_short_for_a_large_population(population):
    _, figures = population
    assert legend_of(figures["loss.png"].axes[0]) == [
        "train (mean over the epoch's batches, training mode) — best: sgd lr=0.4 seed=39",
        "validation (end of epoch, eval mode)",
        "other members (validation)",
    ]
    assert "rank" in figures["loss.png"].axes[1].get_ylabel()


def test_single_member_has_no_rank_colour_bar(single):
    _, figures = single
    assert len(figures["metric.png"].axes) == 1
    train = "train (end of epoch, eval mode, a sample) — sgd lr=0.01 seed=0"
    assert legend_of(figures["metric.png"].axes[0])[0] == train


def test_values_spanning_decades_get_a_log_axis(population):
    _, figures = population
    assert figures["loss.png"].axes[0].get_yscale() == "log"  # loss 2.0 → 0.01
    assert figures["hparams.png"].axes[0].get_yscale() == "log"  # cosine lr → ~0
    assert figures["hparams.png"].axes[1].get_yscale() == "linear"  # momentum 0.9


def test_accuracy_is_in_percent_with_the_overfitting_gap_shaded(population):
    ax = population[1]["metric.png"].axes[0]
    assert ax.get_ylabel() == "accuracy (%)" and ax.get_ylim()[1] > 90
    legend = legend_of(ax)
    assert "gap: validation worse than train" in legend and "best epoch (1)" in legend
    assert "gap: validation better than train" not in legend


def test_diverged_member_does_not_stretch_the_axes(population):
    low, high = population[1]["loss.png"].axes[0].get_ylim()
    assert high < 10  # member 0 reached 1e12 before NaN


def test_a_finite_blow_up_does_not_flatten_the_other_curves(tmp_path):
    _, figures = plotted(tmp_path, members=5, epochs=10, blown_up=1)
    try:
        low, high = figures["loss.png"].axes[0].get_ylim()
        assert high < 10  # member 1's loss reached 3e8 and it finished
        assert not [t for t in legend_of(figures["loss.png"].axes[0]) if "above" in t]
    finally:
        for fig in figures.values():
            canvas.plt.close(fig)


def test_the_legend_names_members_wholly_above_the_axis(tmp_path):
    """A member with 300 times the best's validation loss was left out of view unsaid."""
    folder = write_run(tmp_path, members=4, epochs=6)
    for member in (0, 1):
        edit_history(folder, member, "val_loss", lambda cell: str(300 * float(cell)))
    _, figures = plotted_as_is(folder)
    try:
        ax = figures["loss.png"].axes[0]
        assert ax.get_ylim()[1] < 10
        assert legend_of(ax)[-1] == (
            "2 members above the axis: sgd lr=0.01 seed=0, sgd lr=0.02 seed=1"
        )
        assert not [t for t in legend_of(figures["metric.png"].axes[0]) if "above" in t]
    finally:
        for fig in figures.values():
            canvas.plt.close(fig)


def test_the_rank_bar_label_fits_a_one_panel_figure(population):
    fig = population[1]["dead_relu.png"]
    fig.canvas.draw()
    label = fig.axes[-1].yaxis.label.get_window_extent()
    assert fig.bbox.y0 <= label.y0 and label.y1 <= fig.bbox.y1


def test_regression_shows_rmse_and_the_loss_of_standardised_targets(single, population):
    ax = single[1]["metric.png"].axes[0]
    assert ax.get_ylabel() == "RMSE" and "lower is better" in ax.get_title()
    assert single[1]["loss.png"].axes[0].get_ylabel() == "loss (of standardised targets)"
    assert population[1]["loss.png"].axes[0].get_ylabel() == "loss"


def test_epoch_axes_tick_whole_epochs(population):
    """20 epochs: matplotlib's default ticks would be 2.5, 5, 7.5, …"""
    _, figures = population
    for name in ("loss.png", "metric.png", "hparams.png", "dead_relu.png"):
        for ax in figures[name].axes:
            if ax.get_lines():  # not a colour bar
                ticks = ax.get_xticks()
                assert len(ticks) > 2 and all(t == int(t) for t in ticks), (name, ticks)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, 0.001], True),
        ([1.0, 0.02], False),
        ([0.0, 1e-9, 1.0], False),
        ([np.nan, np.inf, 5.0, 0.01], True),
        ([np.nan], False),
    ],
)
def test_spans_decades(values, expected):
    assert canvas.spans_decades(np.array(values)) is expected


@pytest.mark.parametrize("decades", [2, 8, 12, 28])
def test_a_log_axis_has_labelled_ticks_however_many_decades_it_spans(decades):
    figure = canvas.plt.figure()
    ax = figure.add_subplot()
    ax.plot([0, 1], [10.0**-decades, 1.0])
    canvas.log_scale(ax, "y")
    figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    canvas.plt.close(figure)
    assert 2 <= len(labels) <= 12


def test_the_dead_relu_fraction_axis_starts_at_zero(population):
    assert population[1]["dead_relu.png"].axes[0].get_ylim()[0] == 0


def visible_xticks(ax) -> list[float]:
    low, high = ax.get_xlim()
    return [t for t in ax.get_xticks() if low <= t <= high]


def test_a_one_epoch_run_marks_its_points_on_a_whole_epoch_tick(tmp_path):
    """A line through one point draws nothing: the plots of a 1-epoch run were blank,
    ticked 0.945 … 1.050, with a gap band in the legend that was never drawn."""
    _, figures = plotted(tmp_path, members=2, epochs=1)
    try:
        for name in ("loss.png", "metric.png", "hparams.png", "dead_relu.png"):
            ax = figures[name].axes[0]
            assert visible_xticks(ax) == [0], (name, ax.get_xticks())
            best = [line for line in ax.get_lines() if line.get_linewidth() == 2.4]
            assert best and all(line.get_marker() == "o" for line in best), name
            faint = [line for line in ax.artists + ax.lines if line.get_linestyle() == "None"]
            assert [len(line.get_xdata()) for line in faint] == [1], name
        legend = legend_of(figures["metric.png"].axes[0])
        assert not [text for text in legend if text.startswith("gap")]
    finally:
        for fig in figures.values():
            canvas.plt.close(fig)


def test_a_member_alive_for_one_epoch_is_a_dot_among_lines(tmp_path):
    _, figures = plotted(tmp_path, members=3, epochs=6, diverged=0)
    try:
        # member 0 recorded epochs 0-1 finite, then huge, then NaN: no isolated point
        ax = figures["loss.png"].axes[0]
        assert not [line for line in ax.lines if line.get_linestyle() == "None"]
        assert all(line.get_marker() in ("None", "", None) for line in ax.get_lines())
    finally:
        for fig in figures.values():
            canvas.plt.close(fig)


@pytest.mark.parametrize("members", [2, 4])
def test_the_rank_bar_ticks_whole_ranks(members, tmp_path):
    """K=2 was ticked 1.0, 1.2, …; K=4 1.5, 2.5, 3.5."""
    _, figures = plotted(tmp_path, members=members, epochs=3)
    try:
        bar = figures["loss.png"].axes[-1]
        low, high = sorted(bar.get_ylim())
        ticks = [t for t in bar.get_yticks() if low <= t <= high]
        assert ticks and all(t == int(t) for t in ticks), ticks
    finally:
        for fig in figures.values():
            canvas.plt.close(fig)


def test_the_worst_member_is_visible_and_its_swatch_matches(tmp_path):
    """Drawn in viridis' pale yellow end at alpha 0.35 it all but vanished on white; the
    teal "other members" swatch matched no line of a population of 2."""
    _, figures = plotted(tmp_path, members=2, epochs=3)
    try:
        ax = figures["loss.png"].axes[0]
        (drawn,) = [c for c in ax.collections if len(c.get_segments())]
        color, alpha = drawn.get_colors()[0], drawn.get_alpha()
        assert color[:3] @ [0.2126, 0.7152, 0.0722] < 0.75  # luminance: not pale yellow
        assert alpha >= 0.6
        (swatch,) = [
            h
            for h in figures["loss.png"].legends[0].legend_handles
            if h.get_label() == "other members (validation)"
        ]
        assert np.allclose(canvas.to_rgba_array(swatch.get_color())[0][:3], color[:3])
        assert swatch.get_alpha() == alpha
    finally:
        for fig in figures.values():
            canvas.plt.close(fig)


def test_legends_sit_under_the_axes_not_on_the_curves(population):
    """Placed inside (loc="best"), the long entries ran across the curves."""
    for name, fig in population[1].items():
        fig.canvas.draw()
        (legend,) = fig.legends
        lowest = min(ax.get_window_extent().y0 for ax in fig.axes)
        assert legend.get_window_extent().y1 <= lowest, name
