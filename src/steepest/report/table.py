"""The members of a training run as a rich table, best first."""

from pathlib import Path

from rich.table import Table

from steepest.report.runfiles import read_run
from steepest.report.units import format_value

STATUS_STYLES = {"finished": "green", "early_stopped": "cyan", "pruned": "yellow",
                 "diverged": "red"}


def results_table(out_dir: Path) -> Table:
    """One row per member of the run in ``out_dir`` (label, status, best epoch, best
    validation metric), sorted from best to worst metric; the best member in bold."""
    run = read_run(out_dir)
    better = "higher" if run.maximize else "lower"
    table = Table(title=f"{len(run.members)} member(s), sorted by validation {run.metric} "
                        f"({better} is better)")
    for header in ("rank", "member", "label", "status"):
        table.add_column(header, justify="right" if header in ("rank", "member") else "left")
    table.add_column("best epoch", justify="right")
    table.add_column(f"best val {run.metric}", justify="right")
    for rank, member in enumerate(run.ranked_members(), start=1):
        status = member.get("status", "")
        table.add_row(
            str(rank), str(member["member"]), member.get("label", ""),
            f"[{STATUS_STYLES.get(status, 'default')}]{status}[/]",
            str(member.get("best_epoch", "—")),
            format_value(member.get("best_val_metric"), run.metric),
            style="bold" if member["member"] == run.best_member else None,
        )
    return table
