"""A rich progress bar for a population's epochs (one bar; a population of one reads as
a plain training run: loss, metric, learning rate, speed)."""

import math
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column

from steepest.population import Population


class EpochProgress:
    """Counts member-epochs done out of `total`; shows the newest epoch's figures (for a
    population, the best validation value of any member-epoch so far).

    Use as a context manager and pass the instance as `fit`'s `on_epoch` callback.
    Without a console it shows nothing (the Python API is quiet by default).
    """

    def __init__(
        self,
        total: int,
        members: int,
        metric_name: str,
        maximize: bool,
        console: Console | None = None,
    ) -> None:
        self.members = members
        self.metric_name = metric_name
        self.better = max if maximize else min
        self.best: float | None = None  # over every member-epoch so far
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=None),  # the bar takes what the figures leave of the width
            MofNCompleteColumn(table_column=_whole(2 * len(str(total)) + 1)),
            TextColumn("{task.fields[figures]}"),
            TimeElapsedColumn(table_column=_whole(len("0:00:00"))),
            console=console or Console(stderr=True, quiet=True),
            transient=False,
        )
        unit = "epochs" if members == 1 else "member-epochs"  # K members, E epochs: K·E
        self.task = self.progress.add_task(unit, total=total, figures="")
        self._results = ""  # a population's figures besides how many members train

    def __enter__(self) -> "EpochProgress":
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None and self._results:  # only now: members may wait while none trains
            self.progress.update(self.task, figures=f"all done  {self._results}")
        self.progress.stop()

    def __call__(self, population: Population, rows: list[dict[str, float]]) -> None:
        speed = len(rows) / max(sum(r["seconds"] for r in rows), 1e-9)
        if self.members == 1:
            row = rows[0]
            figures = (
                f"loss {row['train_loss']:.4f}  val {self.metric_name} {row['val_metric']:.4f}"
                + (f"  lr {row['lr']:.3g}" if "lr" in row else "")
                + f"  {speed:.1f} epochs/s"
            )
        else:
            # a member whose loss is NaN has a NaN metric too (`Population.evaluate`)
            seen = [r["val_metric"] for r in rows if math.isfinite(r["val_metric"])]
            if self.best is not None:
                seen.append(self.best)
            self.best = self.better(seen) if seen else None
            best = "—" if self.best is None else f"{self.best:.4f}"
            self._results = f"best val {self.metric_name} {best}  {speed:.1f}/s"
            training = len(population)
            flight = f"{training} member{'' if training == 1 else 's'} in flight"
            figures = f"{flight}  {self._results}"
        self.progress.update(self.task, advance=len(rows), figures=figures)


def _whole(width: int) -> Column:
    """A column that a narrow console never shortens (the figures give way instead): on an
    80-column screen rich otherwise cut the epoch count to "16…" and the time to "0:00…"."""
    return Column(min_width=width, no_wrap=True)
