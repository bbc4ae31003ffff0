"""A killed `steepest train` resumes from its checkpoint and ends as if never stopped."""

import pytest
import torch

from steepest.config import expand_grid
from steepest.errors import UserError
from steepest.training import CHECKPOINT, train


def experiments(out):
    return expand_grid(
        {
            "data": {"name": "iris"},
            "model": {"hidden": [[8], [8, 8]], "dropout": 0.1},
            "train": {"epochs": 5, "lr": [0.1, 0.02], "out": str(out), "population": 1},
        }
    )


def test_resumed_run_equals_an_uninterrupted_one(tmp_path, checkpoint_interrupts):
    clean = train(experiments(tmp_path / "clean"), write=False)
    checkpoint_interrupts.arm(after=7)  # inside the second structure group
    with pytest.raises(KeyboardInterrupt):
        train(experiments(tmp_path / "run"), write=False)
    assert (tmp_path / "run" / CHECKPOINT).is_file()
    checkpoint_interrupts.disarm()
    resumed = train(experiments(tmp_path / "run"), write=False, resume=True)
    assert not (tmp_path / "run" / CHECKPOINT).exists()
    assert [r.member.id for r in resumed.results] == [r.member.id for r in clean.results]
    for a, b in zip(resumed.results, clean.results):
        assert [row["val_loss"] for row in a.history] == pytest.approx(
            [row["val_loss"] for row in b.history], rel=1e-6
        )
        for name, tensor in a.best_state.items():
            torch.testing.assert_close(tensor, b.best_state[name])


def test_resume_needs_a_checkpoint_of_the_same_experiment(tmp_path, checkpoint_interrupts):
    with pytest.raises(UserError, match="no checkpoint.pt"):
        train(experiments(tmp_path), write=False, resume=True)
    checkpoint_interrupts.arm()
    with pytest.raises(KeyboardInterrupt):
        train(experiments(tmp_path), write=False)
    checkpoint_interrupts.disarm()
    other = expand_grid({"data": {"name": "iris"}, "train": {"epochs": 2, "out": str(tmp_path)}})
    with pytest.raises(UserError, match="written by a different experiment"):
        train(other, write=False, resume=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"garbage", "is not a readable checkpoint"), (None, "is not a steepest checkpoint")],
)
def test_a_checkpoint_that_is_none_of_ours_is_one_line(tmp_path, content, message):
    tmp_path.mkdir(exist_ok=True)
    if content is None:
        torch.save({"something": 1}, tmp_path / CHECKPOINT)
    else:
        (tmp_path / CHECKPOINT).write_bytes(content)
    with pytest.raises(UserError, match=message) as caught:
        train(experiments(tmp_path), write=False, resume=True)
    assert "\n" not in str(caught.value)


def test_resume_on_changed_data_is_refused(tmp_path, checkpoint_interrupts):
    """Rows added to a CSV reshuffle the seeded split: going on would train on examples
    that were validation examples before."""
    table = tmp_path / "t.csv"
    rows = [f"{i % 7},{i % 3},{'abc'[i % 3]}" for i in range(60)]
    table.write_text("a,b,t\n" + "\n".join(rows) + "\n")
    runs = expand_grid(
        {"data": {"csv": str(table), "target": "t"}, "train": {"epochs": 3, "out": str(tmp_path)}}
    )
    checkpoint_interrupts.arm()
    with pytest.raises(KeyboardInterrupt):
        train(runs, write=False)
    checkpoint_interrupts.disarm()
    table.write_text("a,b,t\n" + "\n".join([*rows, "3,1,b", "4,2,c"]) + "\n")
    with pytest.raises(UserError, match="written for other data"):
        train(runs, write=False, resume=True)
    table.write_text("a,b,t\n" + "\n".join(rows) + "\n")  # as it was: the run goes on
    assert len(train(runs, write=False, resume=True).results) == 1


def test_the_same_run_resumes_with_out_written_otherwise_or_device_named(
    tmp_path, monkeypatch, checkpoint_interrupts
):
    """`--out` as an absolute path, or `--device cpu` where auto meant the CPU: where a
    run goes and runs are not its values."""
    monkeypatch.chdir(tmp_path)
    runs = expand_grid({"data": {"name": "iris"}, "train": {"epochs": 3, "out": "o"}})
    checkpoint_interrupts.arm()
    with pytest.raises(KeyboardInterrupt):
        train(runs, write=False)
    checkpoint_interrupts.disarm()
    elsewhere = {"out": tmp_path / "o", "device": "cpu"}
    same = [e.model_copy(update={"train": e.train.model_copy(update=elsewhere)}) for e in runs]
    assert len(train(same, write=False, resume=True).results[0].history) == 3
