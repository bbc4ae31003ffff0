"""The members of a training run as a rich table, best first."""

from pathlib import Path

from rich.table import Table

from steepest.report.runfiles import read_run
from steepest.report.units import format_value

STATUS_STYLES = {
    "finished": "green",
    "early_stopped": "cyan",
    "pruned": "yellow",
    "diverged": "red",
}


def results_table(out_dir: Path) -> Table:
    """One row per member of the run in ``out_dir`` (label, status, best epoch, best
    value of the monitored column), sorted from best to worst; the trainer's best member
    in bold. Label and status come from ``members.json``, the rest from the history."""
    run = read_run(out_dir)
    better = "higher" if run.monitor_maximize else "lower"
    table = Table(
        title=f"{len(run.history)} member(s), sorted by validation {run.monitored} "
        f"({better} is better)"
    )
    for header in ("rank", "member", "label", "status"):
        table.add_column(header, justify="right" if header in ("rank", "member") else "left")
    table.add_column("best epoch", justify="right")
    table.add_column(f"best val {run.monitored}", justify="right")
    for rank, member in enumerate(run.ranked_members(), start=1):
        record = run.record(member)
        status = record.get("status", "")
        epoch, value = run.best_validation(member)
        table.add_row(
            str(rank),
            str(member),
            run.label(member),
            f"[{STATUS_STYLES.get(status, 'default')}]{status}[/]",
            "—" if epoch is None else str(epoch),
            format_value(value, run.monitored),
            style="bold" if member == run.best_member else None,
        )
    return table
