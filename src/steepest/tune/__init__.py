"""Hyperparameter tuning: Optuna studies whose trials train in populations (`run`),
their search spaces (`space`), storage and recovery (`study`, `journal`, `lease`) and
the pruners' verdicts (`pruning`)."""
