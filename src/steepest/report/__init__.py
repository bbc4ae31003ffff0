"""Seeing the work: PNG plots and a results table of a training run, and one offline HTML
page about a tuning study.

    plot_run(out_dir) -> list[Path]        loss.png, metric.png, hparams.png, dead_relu.png
    results_table(out_dir) -> rich Table   members sorted by validation metric
    write_report(study, path) -> Path      self-contained HTML report of an Optuna study
"""

from steepest.report.html import write_report
from steepest.report.plots import plot_run
from steepest.report.table import results_table

__all__ = ["plot_run", "results_table", "write_report"]
