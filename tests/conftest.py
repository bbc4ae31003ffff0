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


class CheckpointInterrupts:
    """Ctrl-C as `steepest train` meets it: `arm(n)` makes a KeyboardInterrupt follow the
    n-th checkpoint a run saves; `disarm()` lets runs save normally again."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import steepest.training as training

        self.training, self.monkeypatch = training, monkeypatch
        self.save = training._save_checkpoint

    def arm(self, after: int = 1) -> None:
        saved = []

        def save_then_interrupt(out, state):
            self.save(out, state)
            saved.append(out)
            if len(saved) == after:
                raise KeyboardInterrupt

        self.monkeypatch.setattr(self.training, "_save_checkpoint", save_then_interrupt)

    def disarm(self) -> None:
        self.monkeypatch.setattr(self.training, "_save_checkpoint", self.save)


@pytest.fixture
def checkpoint_interrupts(monkeypatch):
    return CheckpointInterrupts(monkeypatch)
