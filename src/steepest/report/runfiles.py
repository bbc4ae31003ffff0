"""Read what a training run leaves in its output folder: ``history.csv`` (one row per
member and epoch), ``members.json`` (one object per member) and ``summary.json``."""

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HISTORY = "history.csv"
MEMBERS = "members.json"
SUMMARY = "summary.json"
# The plots `steepest.report.plots.plot_run` may write beside them (the last two only when
# the history records hyperparameters per epoch, or dead ReLU fractions).
LOSS_PNG, METRIC_PNG, HPARAMS_PNG, DEAD_RELU_PNG = PLOTS = (
    "loss.png",
    "metric.png",
    "hparams.png",
    "dead_relu.png",
)

# Columns every history has; any other column (besides dead_relu) is a hyperparameter.
CORE_COLUMNS = (
    "member",
    "epoch",
    "train_loss",
    "val_loss",
    "train_metric",
    "val_metric",
    "seconds",
)
DEAD_RELU = "dead_relu"


@dataclass(frozen=True)
class Run:
    """One training run (a population of one or more members).

    ``history[member][column]`` is a float array over that member's epochs, in epoch order;
    ``hparams`` names the hyperparameter columns of the history (``lr``, ``momentum`` ...).
    """

    history: dict[int, dict[str, np.ndarray]]
    members: list[dict]
    summary: dict
    hparams: list[str]

    @property
    def metric(self) -> str:
        """The monitored metric's name, ``accuracy`` or ``rmse``."""
        return self.summary.get("metric", "accuracy")

    @property
    def maximize(self) -> bool:
        """Whether a larger metric is better."""
        return self.summary.get("direction", "maximize") == "maximize"

    @property
    def monitor(self) -> str:
        """The history column the trainer picked best epochs and the best member by:
        ``val_metric``, or ``val_loss`` (``[train] monitor``)."""
        return self.summary.get("monitor", "val_metric")

    @property
    def monitored(self) -> str:
        """The monitored quantity's name: the metric's, or ``loss``."""
        return self.metric if self.monitor == "val_metric" else "loss"

    @property
    def monitor_maximize(self) -> bool:
        """Whether a larger monitored value is better (a loss never is)."""
        return self.maximize and self.monitor == "val_metric"

    @property
    def best_member(self) -> int:
        """The id of the member the trainer picked as best (``summary.json``)."""
        return int(self.summary["best_member"])

    def record(self, member: int) -> dict:
        """The ``members.json`` object of ``member`` (empty when it has none)."""
        return next((m for m in self.members if m["member"] == member), {})

    def label(self, member: int) -> str:
        """How figures and tables name ``member``: its ``members.json`` label."""
        return self.record(member).get("label", f"member {member}")

    def best_validation(self, member: int) -> tuple[int | None, float]:
        """(epoch, value) of ``member``'s best value of the monitored column, read from
        the history (the epoch whose weights best.pt would hold); (None, NaN) when the
        member never recorded a finite one."""
        history = self.history[member]
        values = history[self.monitor]
        if not np.isfinite(values).any():
            return None, math.nan
        up = self.monitor_maximize
        finite = np.where(np.isfinite(values), values, -np.inf if up else np.inf)
        index = int(np.argmax(finite) if up else np.argmin(finite))
        return int(history["epoch"][index]), float(values[index])

    def ranked_members(self) -> list[int]:
        """Member ids from best to worst monitored value; members that never recorded
        one (diverged at once) come last."""

        def key(member: int) -> tuple[bool, float]:
            value = self.best_validation(member)[1]
            missing = math.isnan(value)
            return missing, 0.0 if missing else (-value if self.monitor_maximize else value)

        return sorted(self.history, key=key)


def _number(text: str) -> float:
    """A CSV cell as a float; an empty cell (value not recorded) is NaN."""
    return float(text) if text.strip() else math.nan


def _require(path: Path) -> Path:
    """``path`` itself, or FileNotFoundError saying what a run folder should hold."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: a training run's output folder holds "
            f"{HISTORY}, {MEMBERS} and {SUMMARY}"
        )
    return path


def read_run(out_dir: Path) -> Run:
    """Load the run written into ``out_dir``; raise FileNotFoundError naming a missing file
    and ValueError naming a missing history column."""
    out_dir = Path(out_dir)
    members = json.loads(_require(out_dir / MEMBERS).read_text())
    summary = json.loads(_require(out_dir / SUMMARY).read_text())
    path = _require(out_dir / HISTORY)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        missing = [c for c in CORE_COLUMNS if c not in columns]
        if missing:
            raise ValueError(f"{path} lacks the column(s) {missing}; found {columns}")
        rows: dict[int, list[dict[str, float]]] = {}
        for row in reader:
            rows.setdefault(int(row["member"]), []).append(
                {c: _number(row[c]) for c in columns if c != "member"}
            )
    history = {
        member: {
            c: np.array([r[c] for r in sorted(rs, key=lambda r: r["epoch"])])
            for c in columns
            if c != "member"
        }
        for member, rs in rows.items()
    }
    hparams = [c for c in columns if c not in CORE_COLUMNS and c != DEAD_RELU]
    return Run(history=history, members=members, summary=summary, hparams=hparams)
