"""Fixtures shared by the report tests."""

import os

import optuna
import pytest

from .chromium import find_chromium, install_chromium


@pytest.fixture(autouse=True, scope="session")
def quiet_optuna():
    """Optuna logs every added trial at INFO; the tests add hundreds."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(verbosity)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless Chromium. Installed with apt-get when missing or when running in
    CI (CI=true); the test is skipped, saying why, only where that is impossible."""
    problem = ""
    if find_chromium() is None or os.environ.get("CI") == "true":
        problem = install_chromium()
    binary = find_chromium()
    if binary is None:
        pytest.skip(f"headless Chromium is not installed and could not be: {problem}")
    return binary
