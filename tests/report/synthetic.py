"""Synthetic inputs for the report tests: training-run folders and Optuna studies shaped
like the trainer's and tuner's output, with known answers built in."""

import csv
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState


def write_run(
    out_dir: Path,
    members: int = 4,
    epochs: int = 12,
    task: str = "classification",
    dead_relu: bool = True,
    diverged: int | None = None,
    blown_up: int | None = None,
) -> Path:
    """A run folder with ``members`` members; member ``members - 1`` learns best (largest
    learning rate that does not diverge), member ``diverged`` blows up after two epochs
    (its loss reaches 1e12, then NaN), member ``blown_up`` too but stays finite (its loss
    reaches 3e8: it finishes)."""
    metric, direction = (
        ("accuracy", "maximize") if task == "classification" else ("rmse", "minimize")
    )
    rows, records = [], []
    for k in range(members):
        lr0 = 0.01 * (k + 1)
        for epoch in range(epochs):
            train_loss = 2.0 * math.exp(-0.4 * (k + 1) * epoch) + 0.01
            val_loss = train_loss + 0.02 * epoch
            if k == diverged and epoch >= 2:
                train_loss = val_loss = 10.0 ** (3 * epoch) if epoch < 5 else math.nan
            if k == blown_up and epoch >= 2:
                train_loss = val_loss = 3e8 * epoch / epochs
            train_metric, val_metric = (
                (1 - train_loss / 3, 1 - val_loss / 3)
                if task == "classification"
                else (train_loss, val_loss)
            )
            row = {
                "member": k,
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "train_metric": train_metric,
                "val_metric": val_metric,
                "seconds": 0.5,
                "lr": lr0 * 0.5 * (1 + math.cos(math.pi * epoch / epochs)),
                "momentum": 0.9,
            }
            if dead_relu:
                row["dead_relu"] = 0.01 * epoch
            rows.append(row)
        records.append(
            {
                "member": k,
                "label": f"sgd lr={lr0:g} seed={k}",
                "hparams": {"lr": lr0},
                "status": "diverged" if k == diverged else "finished",
            }
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "history.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "members.json").write_text(json.dumps(records))
    best = members - 1 if members - 1 != diverged else members - 2
    summary = {"metric": metric, "direction": direction, "task": task, "best_member": best}
    if task == "regression":  # trained on standardised targets, as steepest does
        summary.update(target_mean=150.0, target_sd=75.0)
    (out_dir / "summary.json").write_text(json.dumps(summary))
    return out_dir


def blank_val_metric(out_dir: Path, member: int) -> None:
    """Empty ``member``'s val_metric cells in the history (as if never recorded)."""
    edit_history(out_dir, member, "val_metric", lambda _: "")


def edit_history(out_dir: Path, member: int, column: str, change) -> None:
    """Replace each of ``member``'s ``column`` cells in the history by ``change(cell)``."""
    path = out_dir / "history.csv"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["member"] == str(member):
            row[column] = change(row[column])
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


SPACE = {
    "lr": FloatDistribution(1e-4, 1.0, log=True),
    "momentum": FloatDistribution(0.0, 0.99),
    "width": IntDistribution(16, 256, log=True),
    "optimizer": CategoricalDistribution(["sgd", "adam"]),
}


def _stages() -> list[dict]:
    """Three coarse-to-fine stages, each narrowing the numeric ranges around lr=0.03."""
    bounds = [
        ((1e-4, 1.0), (0.0, 0.99), (16, 256)),
        ((3e-3, 0.3), (0.5, 0.99), (32, 256)),
        ((1e-2, 0.1), (0.8, 0.99), (64, 256)),
    ]
    return [
        {
            "stage": i,
            "space": {
                "lr": {"low": lr[0], "high": lr[1], "log": True},
                "momentum": {"low": mom[0], "high": mom[1], "log": False},
                "width": {"low": width[0], "high": width[1], "log": True},
            },
        }
        for i, (lr, mom, width) in enumerate(bounds)
    ]


def _sample(rng: np.random.Generator, stage: dict) -> dict:
    space = stage["space"]
    lr = math.exp(rng.uniform(math.log(space["lr"]["low"]), math.log(space["lr"]["high"])))
    momentum = rng.uniform(space["momentum"]["low"], space["momentum"]["high"])
    width = int(
        round(
            math.exp(rng.uniform(math.log(space["width"]["low"]), math.log(space["width"]["high"])))
        )
    )
    return {
        "lr": lr,
        "momentum": momentum,
        "width": width,
        "optimizer": str(rng.choice(["sgd", "adam"])),
    }


def make_study(
    n_trials: int = 30,
    epochs: int = 20,
    running: int = 2,
    seed: int = 0,
    storage: optuna.storages.BaseStorage | str | None = None,
    stages: bool = True,
) -> optuna.Study:
    """A maximised ``val_accuracy`` study: accuracy rises towards a ceiling that peaks at
    lr=0.03; every 5th trial fails, trials below the running median are pruned at epoch 5,
    and the last ``running`` trials are still running after 3 epochs."""
    rng = np.random.default_rng(seed)
    study = optuna.create_study(
        direction="maximize", storage=storage, study_name=f"synthetic-{seed}"
    )
    plan = _stages()
    study.set_user_attr("metric", "val_accuracy")
    start = datetime.now(UTC) - timedelta(minutes=n_trials / 10)
    study.set_user_attr("started", start.isoformat())
    if stages:
        study.set_user_attr("stages", plan)
    finished = n_trials - running
    ceilings: list[float] = []
    for number in range(n_trials):
        stage = min(3 * number // max(n_trials, 1), 2) if stages else 0
        params = _sample(rng, plan[stage])
        ceiling = (
            0.97
            - 0.08 * math.log10(params["lr"] / 0.03) ** 2
            - 0.05 * (params["optimizer"] == "sgd") * (0.99 - params["momentum"])
        )
        curve = [
            ceiling * (1 - math.exp(-0.3 * (e + 1))) + rng.normal(0, 0.005) for e in range(epochs)
        ]
        state = TrialState.COMPLETE
        if number >= finished:
            state, curve = TrialState.RUNNING, curve[:3]
        elif number % 5 == 4:
            state, curve = TrialState.FAIL, curve[:2]
        elif len(ceilings) > 3 and ceiling < float(np.median(ceilings)):
            state, curve = TrialState.PRUNED, curve[:5]
        ceilings.append(ceiling)
        attrs = {
            "seed": number,
            "population": number // 8,
            "seconds": 0.4 * len(curve),
            "train_loss": [1 - v + 0.01 for v in curve],
            "val_loss": [1 - v for v in curve],
        }
        if stages:
            attrs["stage"] = stage
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=max(curve) if state == TrialState.COMPLETE else None,
                params=params,
                distributions=SPACE,
                user_attrs=attrs,
                intermediate_values=dict(enumerate(curve)),
            )
        )
    if not running:
        study.set_user_attr("finished", datetime.now(UTC).isoformat())
    return study
