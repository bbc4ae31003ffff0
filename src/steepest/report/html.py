"""One self-contained HTML page about an Optuna study: figures as inline PNG data URIs,
inline style and script, a Content-Security-Policy that forbids any other request.
It opens offline and stays light with hundreds of trials (figures are images whose size
does not grow with the number of trials; only the trials table does)."""

from collections.abc import Callable
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any, NamedTuple

import optuna
from optuna.trial import FrozenTrial, TrialState

from steepest.errors import UserError
from steepest.report import canvas, study_figures
from steepest.report.assets import CONTENT_SECURITY_POLICY, SCRIPT, STYLE
from steepest.report.study import (
    ParamAxis,
    Stage,
    Summary,
    param_axes,
    param_importances,
    stages,
    summarize,
)
from steepest.report.units import format_value

# How to read each figure, and what it says while there is nothing to draw yet.
CAPTIONS = {
    "history": "Each dot is a complete trial's value, each grey cross a pruned trial's last "
    "reported value; the red line is the best value so far.",
    "curves": "The value each trial reported per epoch. Complete trials are coloured by their "
    "final value (darker is better), pruned ones grey with a red × where they were "
    "stopped, running ones blue; the best trial is thick red.",
    "parallel": "Each line is a complete trial, through its parameter values (each axis spans "
    "the search range) to its value on the last axis; darker is better, the best "
    "trial is red.",
    "slices": "Each complete trial's value against one parameter at a time, coloured by when "
    "it ran (later is darker); the red star is the best trial.",
    "importance": "How much of the variation in value each parameter explains (fANOVA with a "
    "fixed seed, over the complete trials).",
    "stages": "Each stage searched a narrower range than the one before. Bars: the range; "
    "dots: the trials of that stage (blue complete, grey pruned, failed or running).",
}
EMPTY = {
    "history": "No trial has completed or been pruned yet.",
    "curves": "No trial has reported a value per epoch yet.",
    "parallel": "Parallel coordinates need a complete trial.",
    "slices": "Slice plots need a complete trial.",
    "stages": "No trial has sampled these ranges yet.",
}

# The trials table's columns of trial attributes, and their headers. "population" is the
# index of the population a trial trained in: headed so it does not read as a size.
ATTR_HEADERS = {
    "status": "status",
    "seconds": "seconds",
    "population": "population #",
    "population_size": "trials in population",
    "seed": "seed",
    "stage": "stage",
}


def _text(value) -> str:
    """A parameter or attribute value as short escaped text (floats to 4 digits)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return escape("—" if value is None else str(value))


def _duration(seconds: float | None) -> str:
    """``seconds`` as ``0.048 s``, ``12.3 s``, ``20.0 min`` or ``2.5 h``: under a minute to
    three significant digits (a short study's 0.048 s read "0.0 s")."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def _figure(key: str, uri: str | None) -> str:
    """An inline image under its caption, or a sentence saying why there is none yet."""
    if uri is None:
        return f'<p class="note">{escape(EMPTY[key])}</p>'
    return f'<p class="caption">{escape(CAPTIONS[key])}</p><img src="{uri}" alt="{key}">'


class Section(NamedTuple):
    """One titled part of the page; ``anchor`` is its id for the navigation bar."""

    anchor: str
    title: str
    body: str

    def html(self) -> str:
        return f'<section id="{self.anchor}"><h2>{escape(self.title)}</h2>{self.body}</section>'


def _summary_section(summary: Summary) -> Section:
    best = summary.best
    tiles = [
        (count, f"{key} trials", "")
        for key, count in summary.counts.items()
        if count or key != "interrupted"  # shown when a study has any
    ]
    tiles += [
        (
            format_value(best.value if best else None, summary.metric),
            f"best {summary.metric}" + (f" (trial {best.number})" if best else ""),
            "best",
        ),
        (_duration(summary.wall_seconds), "wall time", ""),
        (
            "—" if summary.trials_per_minute is None else f"{summary.trials_per_minute:.1f}",
            "finished trials / minute",
            "",
        ),
    ]
    body = (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile {kind}"><b>{escape(str(value))}</b>'
            f"<span>{escape(label)}</span></div>"
            for value, label, kind in tiles
        )
        + "</div>"
    )
    if best:
        rows = "".join(
            f"<tr><th>{escape(name)}</th><td>{_text(value)}</td></tr>"
            for name, value in best.params.items()
        )
        body += f'<h3>Best parameters</h3><table class="compact">{rows}</table>'
    return Section("summary", "Summary", body)


def _importance_section(study: optuna.Study) -> Section:
    scores = param_importances(study)
    if isinstance(scores, str):
        return Section("importance", "Parameter importance", f'<p class="note">{scores}</p>')
    return Section(
        "importance",
        "Parameter importance",
        _figure("importance", study_figures.importances(scores)),
    )


def _stages_section(found: list[Stage], axes: dict[str, ParamAxis], summary: Summary) -> Section:
    names = list(found[0].space)
    head = "".join(
        f"<th>{escape(n)}</th>"
        for n in ["stage", "trials", "complete", f"best {summary.metric}", *names]
    )
    rows = []
    for stage in found:
        cells = [
            str(stage.index),
            str(len(stage.trials)),
            str(sum(t.state == TrialState.COMPLETE for t in stage.trials)),
            format_value(stage.best_value, summary.metric),
        ]
        for name in names:
            bounds = stage.space[name]
            cells.append(
                f"{_text(float(bounds['low']))} – {_text(float(bounds['high']))}"
                f"{' (log)' if bounds.get('log') else ''}, "
                f"{stage.width_fraction(name, found[0]):.0%} of stage {found[0].index}"
            )
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    figure = _figure("stages", study_figures.stage_ranges(found, axes))
    return Section("stages", "Coarse-to-fine stages", figure + table)


def _trial_row(
    trial: FrozenTrial, names: list[str], columns: list[str], best: int | None, metric: str
) -> str:
    """One row of the trials table; ``data-sort`` holds the raw value to sort by."""

    def cell(text: str, raw: Any) -> str:
        """A cell sorted by `raw`, right-aligned as a number unless `raw` is text."""
        sort = "" if raw is None else escape(str(raw))
        numeric = not isinstance(raw, str)
        return f'<td class="{"num" if numeric else ""}" data-sort="{sort}">{text}</td>'

    attrs = trial.user_attrs
    epochs = _epochs_trained(trial)
    cells = [
        cell(str(trial.number), trial.number),
        cell(
            f'<span class="state state-{trial.state.name}">{trial.state.name.lower()}</span>',
            trial.state.name,
        ),
        cell(format_value(trial.value, metric), trial.value),
    ]
    for name in names:
        value = trial.params.get(name)
        cells.append(cell(_text(value), value))
    cells.append(cell(str(epochs), epochs))
    cells += [cell(_text(value), value) for value in (attrs.get(c) for c in columns)]
    return f"<tr{' class=best' if trial.number == best else ''}>{''.join(cells)}</tr>"


def _epochs_trained(trial: FrozenTrial) -> int:
    """Epochs ``trial`` trained: those it reported, or more where its recorded losses say
    so (a trial that diverged in its first epoch reports none, yet records one)."""
    return max(len(trial.intermediate_values), len(trial.user_attrs.get("train_loss", [])))


def _trials_section(trials: list[FrozenTrial], names: list[str], summary: Summary) -> Section:
    columns = [  # a searched seed is already a param column: the one it trained with
        c for c in ATTR_HEADERS if any(c in t.user_attrs for t in trials) and c not in names
    ]
    headers = [
        "trial",
        "state",
        summary.metric,
        *names,
        "epochs trained",
        *(ATTR_HEADERS[c] for c in columns),
    ]
    head = "".join(f"<th><button>{escape(h)}</button></th>" for h in headers)
    best = summary.best.number if summary.best else None
    rows = "".join(_trial_row(t, names, columns, best, summary.metric) for t in trials)
    return Section(
        "trials",
        "The one trial" if len(trials) == 1 else f"All {len(trials)} trials",
        '<p class="note">Click a column header to sort.</p>'
        f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr>'
        f"</thead><tbody>{rows}</tbody></table></div>",
    )


@canvas.house_style
def _sections(study: optuna.Study, trials: list[FrozenTrial], summary: Summary) -> list[Section]:
    """The page's sections, in reading order."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    axes = param_axes(trials)
    found = stages(study, summary.maximize, trials)
    figures = {
        "history": ("Optimisation history", study_figures.optimisation_history(trials, summary)),
        "curves": ("Learning curves", study_figures.learning_curves(trials, summary)),
        "parallel": (
            "Parallel coordinates",
            study_figures.parallel_coordinates(complete, list(axes.values()), summary),
        ),
        "slices": ("Slices", study_figures.slices(complete, list(axes.values()), summary)),
    }
    sections = [_summary_section(summary)]
    sections += [Section(key, title, _figure(key, uri)) for key, (title, uri) in figures.items()]
    sections.append(_importance_section(study))
    if found:
        sections.append(_stages_section(found, axes, summary))
    sections.append(_trials_section(trials, list(axes), summary))
    return sections


def write_report(
    study: optuna.Study, path: Path, alive: Callable[[str], bool] = lambda worker: True
) -> Path:
    """Write the HTML report of ``study`` to ``path`` (one file, no external resources;
    missing parent folders are made) and return ``path``. The study may still be
    running: ``alive(worker)`` tells whether a RUNNING trial's worker still runs
    (`summarize`)."""
    trials = study.get_trials(deepcopy=False)  # one snapshot for every section
    summary = summarize(study, trials, alive)
    sections = _sections(study, trials, summary)
    anchors = "".join(f'<a href="#{s.anchor}">{escape(s.title)}</a>' for s in sections)
    status = ' <span class="badge">running</span>' if summary.running else ""
    direction = "maximise" if summary.maximize else "minimise"
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(summary.name)} — steepest study report</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>Study {escape(summary.name)}{status}</h1>
<p>{direction} {escape(summary.metric)} · report written {datetime.now():%Y-%m-%d %H:%M}</p>
<nav>{anchors}</nav>
</header>
<main>
{"".join(s.html() for s in sections)}
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as error:  # a folder, /proc, no permission, a full disk
        raise UserError(f"{path}: cannot write the report ({error.strerror})") from None
    return path
