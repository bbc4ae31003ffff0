"""Facts drawn from a study: counts, best trial, wall time, axes, importances, stages."""

import math
from datetime import UTC, datetime, timedelta

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from steepest.report.study import param_axes, param_importances, stages, summarize

from .synthetic import make_study


def test_counts_best_and_wall_time_of_a_running_study():
    study = make_study(30, running=2)  # started 3 minutes ago, trials 4, 9, ... 24 fail
    summary = summarize(study)
    assert summary.counts["failed"] == 5 and summary.counts["running"] == 2
    assert sum(summary.counts.values()) == 30 and summary.running
    assert summary.best.number == study.best_trial.number
    assert summary.wall_seconds == pytest.approx(180, abs=5)
    assert summary.trials_per_minute == pytest.approx(28 / 3, rel=0.05)
    assert summary.metric == "val_accuracy" and summary.maximize


def test_finished_study_ends_at_its_finished_attribute():
    study = make_study(10, running=0)
    study.set_user_attr("finished", (datetime.now(UTC) - timedelta(seconds=30)).isoformat())
    summary = summarize(study)
    assert not summary.running
    assert summary.wall_seconds == pytest.approx(30, abs=5)


def test_study_without_attributes_or_trials():
    summary = summarize(optuna.create_study())
    assert summary.best is None and summary.wall_seconds is None
    assert summary.trials_per_minute is None and summary.metric == "objective"
    assert not summary.maximize


def test_multi_objective_study_is_refused_by_name():
    study = optuna.create_study(directions=["minimize", "maximize"], study_name="pareto")
    with pytest.raises(ValueError, match="'pareto' has 2 objectives"):
        summarize(study)


def test_axes_span_every_stage_and_map_to_the_unit_interval():
    axes = param_axes(make_study(30).get_trials())
    assert list(axes) == ["lr", "momentum", "optimizer", "width"]
    lr = axes["lr"]
    assert (lr.low, lr.high, lr.log) == (1e-4, 1.0, True)
    assert lr.unit(1e-2) == pytest.approx(0.5)  # halfway in log space
    assert axes["momentum"].unit(0.495) == pytest.approx(0.5)
    assert axes["optimizer"].choices == ("sgd", "adam")
    assert axes["optimizer"].unit("adam") == 1.0 and axes["optimizer"].position("sgd") == 0.0


def test_importances_are_seeded_and_sum_to_one():
    study = make_study(40, running=0)
    first, again = param_importances(study), param_importances(study)
    assert first == again
    assert set(first) == {"lr", "momentum", "optimizer", "width"}
    assert sum(first.values()) == pytest.approx(1.0)
    assert list(first.values()) == sorted(first.values(), reverse=True)


def _single_param_study(values: list[float]) -> optuna.Study:
    study = optuna.create_study()
    for x in values:
        study.add_trial(
            optuna.trial.create_trial(
                value=x * x, params={"x": x}, distributions={"x": FloatDistribution(-1, 1)}
            )
        )
    return study


def test_importance_needs_two_complete_trials():
    assert "at least 2 complete trials" in param_importances(_single_param_study([0.5]))


def test_importance_of_a_single_parameter_is_all_of_it():
    assert param_importances(_single_param_study([0.1, 0.5, -0.3])) == {"x": 1.0}


def test_importance_leaves_fixed_entries_out():
    """A fixed entry is a one-value choice: it would take all the importance of a study
    of one parameter, and beside a searched one it has none to rank."""
    fixed = {"lr": CategoricalDistribution([0.3])}
    only_fixed, both = optuna.create_study(), _single_param_study([0.1, 0.5, -0.3])
    for trial in both.get_trials():
        only_fixed.add_trial(
            optuna.trial.create_trial(value=trial.value, params={"lr": 0.3}, distributions=fixed)
        )
    assert (
        param_importances(only_fixed)
        == "Parameter importance needs a searched parameter that varies."
    )
    mixed = optuna.create_study()
    for trial in both.get_trials():
        mixed.add_trial(
            optuna.trial.create_trial(
                value=trial.value,
                params={**trial.params, "lr": 0.3},
                distributions={**trial.distributions, **fixed},
            )
        )
    assert param_importances(mixed) == {"x": 1.0}


def test_stages_group_trials_and_measure_narrowing():
    study = make_study(30, running=0)
    found = stages(study, maximize=True)
    assert [s.index for s in found] == [0, 1, 2]
    assert sum(len(s.trials) for s in found) == 30
    assert found[2].width_fraction("lr", found[0]) == pytest.approx(0.25)  # 1 of 4 decades
    assert found[1].width_fraction("momentum", found[0]) == pytest.approx(0.49 / 0.99)
    complete = [t.value for t in found[2].trials if t.value is not None]
    assert found[2].best_value == max(complete)


def test_no_stages_without_the_attribute():
    assert stages(make_study(5, stages=False), maximize=True) == []


def test_stage_without_complete_trials_has_no_best_value():
    study = make_study(3, running=3)
    assert all(s.best_value is None for s in stages(study, maximize=True))
    assert not math.isnan(summarize(study).wall_seconds)


def test_a_killed_studys_running_trials_do_not_keep_it_running(tmp_path):
    """Trials of a killed worker stay RUNNING in the storage; the report asks whether
    their worker still runs before it calls the study running (and counts its wall time
    to now)."""
    import optuna

    from steepest.report.study import summarize

    study = optuna.create_study(direction="maximize")
    study.tell(study.ask(), 0.5)
    study.ask().set_user_attr("worker", "host:1:dead")
    assert summarize(study).running
    assert not summarize(study, alive=lambda worker: worker != "host:1:dead").running


def test_trials_cut_short_and_queued_again_are_not_counted_as_failed():
    """As `steepest tune`'s summary counts them (a timeout or a killed worker)."""
    import optuna

    from steepest.report.study import summarize
    from steepest.tune.study import requeue

    study = optuna.create_study(direction="maximize")
    study.tell(study.ask(), 0.5)
    study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    cut = study.ask()
    cut.suggest_float("lr", 0.1, 1.0)
    requeue(study, [cut])
    counts = summarize(study).counts
    assert (counts["complete"], counts["failed"], counts["interrupted"]) == (1, 1, 1)


def test_learning_curves_legend_lists_only_the_kinds_of_trial_the_study_has(monkeypatch):
    from steepest.report import study_figures

    figures = []
    monkeypatch.setattr(study_figures.canvas, "png_data_uri", lambda fig: figures.append(fig))
    for study in (make_study(3, running=0, stages=False), make_study(30, running=2)):
        study_figures.learning_curves(study.trials, summarize(study))
    legends = [[t.get_text() for t in fig.legends[0].get_texts()] for fig in figures]
    assert "complete (colour: value)" in legends[0]
    assert not {"pruned, × where stopped", "running"} & set(legends[0])
    assert {"pruned, × where stopped", "running"} <= set(legends[1])
    for fig in figures:
        study_figures.canvas.plt.close(fig)


def test_one_value_sits_in_the_middle_of_its_colour_bar():
    from steepest.report.study_figures import _value_colors

    study = make_study(1, running=0, stages=False)
    norm = _value_colors([93.7], summarize(study)).norm
    assert (norm.vmin, norm.vmax) == (93.2, 94.2) and norm(93.7) == 0.5


def test_a_blown_up_trial_does_not_flatten_the_learning_curves_and_is_named(monkeypatch):
    """Trial 2's val_loss of 1.15e7 flattened the others into a line at 0."""
    from steepest.report import study_figures

    study = optuna.create_study(direction="minimize")
    study.set_user_attr("metric", "val_loss")
    for curve in ([0.5, 0.3, 0.2], [0.6, 0.4, 0.3], [13.7, 257, 1.15e7]):
        study.add_trial(
            optuna.trial.create_trial(
                value=min(curve), intermediate_values=dict(enumerate(curve, start=1))
            )
        )
    figures = []
    monkeypatch.setattr(study_figures.canvas, "png_data_uri", lambda fig: figures.append(fig))
    study_figures.learning_curves(study.trials, summarize(study))
    ax = figures[0].axes[0]
    assert ax.get_ylim()[1] < 1
    legend = [t.get_text() for t in figures[0].legends[0].get_texts()]
    assert legend[-1] == "1 trial above the axis: trial 2"
    study_figures.canvas.plt.close(figures[0])


def test_a_one_trial_study_has_whole_trial_ticks_and_two_distinct_axis_ends(monkeypatch):
    """Trial ticks read −0.045 … 0.045, the slices' colour bar −0.1 … 0.1 and the
    parallel coordinates' value axis 91.4 at both ends."""
    from steepest.report import study_figures
    from steepest.report.study import param_axes

    def in_view(axis) -> list[float]:
        low, high = sorted(axis.get_view_interval())
        return [t for t in axis.get_majorticklocs() if low <= t <= high]

    study = make_study(1, running=0, stages=False)
    summary, complete = summarize(study), study.trials
    axes = list(param_axes(complete).values())
    figures = []
    monkeypatch.setattr(study_figures.canvas, "png_data_uri", lambda fig: figures.append(fig))
    study_figures.optimisation_history(complete, summary)
    study_figures.slices(complete, axes, summary)
    study_figures.parallel_coordinates(complete, axes, summary)
    history, sliced, parallel = figures
    assert in_view(history.axes[0].xaxis) == [0]
    assert [line.get_marker() for line in history.axes[0].get_lines()] == ["o"]  # best so far
    assert in_view(sliced.axes[-1].yaxis) == [0]
    value = complete[0].value * 100
    ends = [float(t.get_text()) for t in parallel.axes[0].texts[-3:-1]]
    assert ends[0] < value < ends[1]
    for fig in figures:
        study_figures.canvas.plt.close(fig)
