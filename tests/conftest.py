"""Fixtures for every test: a private image cache, and the digits as PNG class folders."""

import pytest


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Every test gets its own image cache instead of ~/.cache/steepest."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("STEEPEST_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory):
    """scikit-learn's digits as PNG class folders, written once (1797 files take seconds)."""
    from steepest.data.images import write_digits_pngs

    return write_digits_pngs(tmp_path_factory.mktemp("digits"))
