"""`pruning.verdicts` against Optuna's own `pruner.prune`, trial by trial."""

import math

import optuna
import pytest

from steepest.tune.pruning import verdicts


def _study(pruner: optuna.pruners.BasePruner, direction: str) -> optuna.Study:
    """Six completed trials with values at steps 1–4, then running trials at steps 1 to 4
    (members that joined at different epochs), one of them reporting NaN alone."""
    study = optuna.create_study(
        direction=direction, pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    for i in range(6):
        trial = study.ask()
        for step in range(1, 5):
            trial.report(0.1 * i + 0.01 * step, step)
        study.tell(trial, 0.1 * i)
    for j in range(12):
        trial = study.ask()
        last = 1 + j % 4
        for step in range(1, last + 1):
            value = math.nan if j == 5 else 0.05 * j + 0.01 * step
            trial.report(value, step)
    return study


@pytest.mark.parametrize(
    ("pruner", "direction", "prunes"),
    [
        (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1), "maximize", True),
        (
            optuna.pruners.PercentilePruner(25.0, n_warmup_steps=2, interval_steps=2),
            "minimize",
            True,
        ),
        (optuna.pruners.MedianPruner(n_startup_trials=7), "maximize", False),  # 6 completed
        (optuna.pruners.SuccessiveHalvingPruner(), "maximize", True),
    ],
)
@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")  # Optuna's nanmax, both sides
def test_verdicts_are_the_pruners_own(pruner, direction, prunes):
    study = _study(pruner, direction)
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    expected = {t.number for t in running if pruner.prune(study, t)}
    assert verdicts(study, [t.number for t in running]) == expected
    assert bool(expected) == prunes  # where it prunes, the comparison is not vacuous
