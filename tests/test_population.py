"""The population invariant: member k trains exactly like the same trial alone."""

import math

import pytest
import torch

from steepest.config import ModelConfig
from steepest.errors import UserError
from steepest.fit import MemberList, Monitor, PopulationTrainer, fit
from steepest.nn.init import initialize_
from steepest.nn.layers import build_model
from steepest.nn.losses import make_loss
from steepest.nn.metrics import correct_each
from steepest.population import Member, Population

N, FEATURES, CLASSES = 96, 12, 4


def data(images: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    shape = (N, 1, 6, 6) if images else (N, FEATURES)
    x = torch.randn(shape, generator=g)
    y = torch.randint(0, CLASSES, (N,), generator=g)
    return x, y


def factory(cfg: ModelConfig, images: bool = False, dropout: bool = False):
    shape = (1, 6, 6) if images else (FEATURES,)

    def make():
        module = build_model(cfg, shape, CLASSES, dropout)
        initialize_(module, cfg.init)
        return module

    return make


def population(make, images=False, batch=16) -> Population:
    x, y = data(images)
    loss = make_loss("cross_entropy", per_example=True)
    return Population(make, loss, correct_each, x, y, batch)


def members(k: int, optimizers=("momentum",)) -> list[Member]:
    return [
        Member(
            id=i,
            seed=100 + i,
            optimizer=optimizers[i % len(optimizers)],
            hparams={
                "lr": 0.02 * (i + 1),
                "momentum": 0.5 + 0.05 * i,
                "dropout": 0.1 * (i % 4),
                "l2": 1e-3 * (i % 3),
            },
            epochs=3,
        )
        for i in range(k)
    ]


def train_losses(pop: Population, epochs: int) -> list[torch.Tensor]:
    return [pop.run_epoch() for _ in range(epochs)]


CASES = {
    "mlp-stacked": (ModelConfig(hidden=[16, 16]), False, False),
    "maxout-stacked": (ModelConfig(hidden=[16], activation="maxout"), False, False),
    "mlp-dropout": (ModelConfig(hidden=[16, 16]), False, True),
    "mlp-batchnorm": (ModelConfig(hidden=[16], batch_norm=True), False, False),
    "cnn": (ModelConfig(kind="cnn", channels=[4, 6], batch_norm=True), True, True),
}


@pytest.mark.parametrize("case", CASES)
def test_member_trains_as_it_would_alone(case):
    cfg, images, dropout = CASES[case]
    make = factory(cfg, images, dropout)
    together = population(make, images)
    together.add(members(8))
    losses = torch.stack(train_losses(together, 3), 1)
    for k, member in enumerate(members(8)):
        alone = population(make, images)
        alone.add([member])
        alone_losses = torch.stack(train_losses(alone, 3), 1)[0]
        torch.testing.assert_close(losses[k], alone_losses, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(together.flat[k], alone.flat[0], rtol=1e-5, atol=1e-5)
        for name, buffer in together.buffers.items():
            torch.testing.assert_close(buffer[k], alone.buffers[name][0], rtol=1e-5, atol=1e-5)


def test_adam_members_step_in_float32_as_alone():
    """Adam's bias corrections for a population are computed in float64 and rounded once,
    as one member's are: from float32 betas, 1 − 0.999 is off by 1.3e-5, and after ten
    epochs members drifted 2e-5 from themselves alone."""
    make = factory(ModelConfig(hidden=[16]))

    def adam() -> list[Member]:
        return [
            Member(id=i, seed=30 + i, optimizer="adam", hparams={"lr": 0.01 * (i + 1)}, epochs=10)
            for i in range(3)
        ]

    together = population(make)
    together.add(adam())
    train_losses(together, 10)
    for row, member in enumerate(together.members):
        alone = population(make)
        alone.add([adam()[member.id]])
        train_losses(alone, 10)
        torch.testing.assert_close(together.flat[row], alone.flat[0], rtol=0, atol=1e-6)


def test_batch_norm_leaves_out_a_last_batch_of_one_example():
    """N = 96 at batch 19 leaves one example over: batch norm cannot normalise it, so an
    epoch is the 5 full batches (their mean loss), as DataLoader(drop_last=True) runs it;
    a network without batch norm takes the sixth batch of one."""
    make = factory(ModelConfig(hidden=[16], batch_norm=True))
    pop = population(make, batch=19)
    pop.add(members(2))
    assert pop.steps_per_epoch == 5
    pop.begin_epoch()
    losses = [pop.step() for _ in range(5)]
    torch.testing.assert_close(pop.end_epoch(), torch.stack(losses).mean(0))
    assert population(factory(ModelConfig(hidden=[16])), batch=19).steps_per_epoch == 6
    with pytest.raises(UserError, match="at least 2 examples"):
        population(make, batch=1)


def test_every_batch_norm_needs_two_examples_and_no_other_norm_does():
    from torch import nn

    from steepest.population import normalizes_batches

    class Scaled(nn.BatchNorm1d):
        """A user's subclass of torch's batch norm."""

    for module in (nn.BatchNorm2d(3), nn.LazyBatchNorm1d(), Scaled(4), nn.SyncBatchNorm(2)):
        assert normalizes_batches(nn.Sequential(nn.Identity(), module))
    for module in (nn.LayerNorm(4), nn.InstanceNorm1d(4), nn.GroupNorm(2, 4)):
        assert not normalizes_batches(nn.Sequential(module))


def test_hand_written_backward_trains_as_autograd_does():
    """A plain MLP's population steps by `stacked`'s hand-written backward; the same
    population on autograd ends with the same weights, per-member L1, L2 and elastic-net
    penalties and two update rules included."""
    make = factory(ModelConfig(hidden=[16, 16], activation="leaky_relu"))

    def penalized() -> list[Member]:
        return [
            Member(
                id=i,
                seed=100 + i,
                optimizer=("momentum", "adam")[i % 2],
                hparams={
                    "lr": 0.01 * (i + 1),
                    "l1": 1e-3 * (i % 3),
                    "l2": 1e-2 * (i % 2),
                    "elastic_net": 2e-3 * (i % 4),
                    "elastic_alpha": 0.2 * (i + 1),
                },
                epochs=2,
            )
            for i in range(4)
        ]

    by_hand, by_autograd = population(make), population(make)
    by_autograd._backward_by_hand = False
    for pop in (by_hand, by_autograd):
        pop.add(penalized())
    torch.testing.assert_close(
        torch.stack(train_losses(by_hand, 2)), torch.stack(train_losses(by_autograd, 2))
    )
    torch.testing.assert_close(by_hand.flat, by_autograd.flat)


def test_members_differ_from_each_other():
    """Guards the invariant test against a population whose members are all the same."""
    pop = population(factory(ModelConfig(hidden=[16]), dropout=True))
    pop.add(members(3))
    pop.run_epoch()
    assert not torch.allclose(pop.flat[0], pop.flat[1])


def test_mixed_optimizers_share_a_population():
    make = factory(ModelConfig(hidden=[16]))
    mixed = members(6, optimizers=("momentum", "adam", "sgd"))
    together = population(make)
    together.add(mixed)
    losses = torch.stack(train_losses(together, 2), 1)
    assert [name for name, _, _ in together.groups] == ["momentum", "adam", "sgd"]
    for row, member in enumerate(together.members):
        alone = population(make)
        alone.add([members(6, optimizers=("momentum", "adam", "sgd"))[member.id]])
        torch.testing.assert_close(losses[row], torch.stack(train_losses(alone, 2), 1)[0])


def test_leaving_mid_epoch_leaves_the_others_unchanged():
    make = factory(ModelConfig(hidden=[16]), dropout=True)
    full, compacted = population(make), population(make)
    full.add(members(8))
    compacted.add(members(8))
    for pop in (full, compacted):
        pop.begin_epoch()
        for _ in range(3):
            pop.step()
    compacted.remove([2, 5])
    for pop in (full, compacted):
        while pop.step_in_epoch < pop.steps_per_epoch:
            pop.step()
        pop.end_epoch()
        pop.run_epoch()
    kept = [0, 1, 3, 4, 6, 7]
    assert [m.id for m in compacted.members] == kept
    torch.testing.assert_close(compacted.flat, full.flat[kept])


def test_member_joining_later_trains_as_if_alone():
    make = factory(ModelConfig(hidden=[16]), dropout=True)
    newcomer = members(4)[3]
    pop = population(make)
    pop.add(members(3))
    pop.run_epoch()
    pop.add([newcomer])
    pop.run_epoch()
    pop.run_epoch()
    alone = population(make)
    alone.add([members(4)[3]])
    alone.run_epoch()
    alone.run_epoch()
    torch.testing.assert_close(pop.flat[-1], alone.flat[0], rtol=1e-5, atol=1e-5)


def test_diverging_member_fails_alone():
    make = factory(ModelConfig(hidden=[16]))
    healthy = members(3)
    wild = Member(
        id=9, seed=7, optimizer="momentum", hparams={"lr": 1e12, "momentum": 0.9}, epochs=3
    )
    x_val, y_val = data()
    source = MemberList([*healthy[:2], wild, healthy[2]])
    fit(PopulationTrainer(population(make), source, 4, x_val, y_val, Monitor("val_metric", True)))
    status = {r.member.id: r.status for r in source.results}
    assert status[9] == "diverged"
    assert all(status[i] == "finished" for i in range(3))
    # no accuracy for NaN outputs (their argmax, class 0, read as one), train or validation
    (wild_row,) = next(r for r in source.results if r.member.id == 9).history
    assert math.isnan(wild_row["val_loss"]) and math.isnan(wild_row["val_metric"])
    assert math.isnan(wild_row["train_metric"])
    clean = MemberList(members(3))
    fit(PopulationTrainer(population(make), clean, 4, x_val, y_val, Monitor("val_metric", True)))
    for with_wild, without in zip(
        sorted(source.results, key=lambda r: r.member.id)[:3], clean.results
    ):
        assert all(math.isfinite(row["train_loss"]) for row in with_wild.history)
        assert [r["train_loss"] for r in with_wild.history] == pytest.approx(
            [r["train_loss"] for r in without.history], rel=1e-5
        )


def two_members_fitted(**trainer_options):
    """The results of two members (hidden 16) fitted by a PopulationTrainer given
    `trainer_options`, in member order."""
    x_val, y_val = data()
    source = MemberList(members(2))
    make = factory(ModelConfig(hidden=[16]))
    monitor = Monitor("val_metric", True)
    fit(PopulationTrainer(population(make), source, 2, x_val, y_val, monitor, **trainer_options))
    return sorted(source.results, key=lambda r: r.member.id)


def test_an_unwatched_trainer_skips_the_train_metric_and_dead_units_only():
    histories = {
        watched: [r.history for r in two_members_fitted(watched=watched)]
        for watched in (True, False)
    }
    for watched_rows, unwatched_rows in zip(histories[True], histories[False]):
        for seen, unseen in zip(watched_rows, unwatched_rows, strict=True):
            assert {"train_metric", "dead_relu"} <= set(seen)
            assert set(seen) - set(unseen) == {"train_metric", "dead_relu"}
            assert {k: seen[k] for k in unseen if k != "seconds"} == {
                k: v for k, v in unseen.items() if k != "seconds"
            }


def test_best_weights_are_kept_only_when_asked():
    """Without `keep_best_weights` (the tuner) the best epoch and value are still tracked,
    but no weights are copied."""
    results = {keep: two_members_fitted(keep_best_weights=keep) for keep in (True, False)}
    for kept, skipped in zip(results[True], results[False], strict=True):
        assert kept.best_state is not None and skipped.best_state is None
        assert (kept.best_epoch, kept.best_value) == (skipped.best_epoch, skipped.best_value)


def test_a_verdict_at_the_last_epoch_prunes_the_member():
    """Optuna's loop asks should_prune after every report, the last included: a member
    its source prunes at its final epoch leaves pruned, not finished (it counted as
    COMPLETE, and so in the median later trials were judged by)."""

    class PruneAtTheEnd(MemberList):
        def report(self, rows):
            return {m.id for m, row in rows if m.id == 1 and row["epoch"] == m.epochs}

    x_val, y_val = data()
    source = PruneAtTheEnd(members(2))
    fit(
        PopulationTrainer(
            population(factory(ModelConfig(hidden=[8]))),
            source,
            2,
            x_val,
            y_val,
            Monitor("val_metric", True),
        )
    )
    statuses = {r.member.id: (r.status, len(r.history)) for r in source.results}
    assert statuses == {0: ("finished", 3), 1: ("pruned", 3)}


def test_the_best_weights_kept_are_those_of_the_best_epoch():
    make = factory(ModelConfig(hidden=[16]))
    x_val, y_val = data()
    pop = population(make)
    at_epoch_end = {}
    end_epoch = pop.end_epoch

    def end_epoch_and_snapshot():
        losses = end_epoch()
        for row, member in enumerate(pop.members):
            at_epoch_end[member.id, member.epoch] = pop.member_state(row)
        return losses

    pop.end_epoch = end_epoch_and_snapshot
    source = MemberList(members(4))
    fit(PopulationTrainer(pop, source, 4, x_val, y_val, Monitor("val_metric", True)))
    assert any(r.best_epoch < r.member.epochs for r in source.results)  # not all at the end
    for result in source.results:
        kept = at_epoch_end[result.member.id, result.best_epoch]
        for name, value in result.best_state.items():
            torch.testing.assert_close(value, kept[name], rtol=0, atol=0)


def test_a_small_step_runs_on_one_thread_and_a_large_one_on_the_process_count():
    """Threads by the step's forward FLOPs (K members on one batch), never by timing."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        small = population(factory(ModelConfig(hidden=[8])))
        small.add(members(2))
        large = population(factory(ModelConfig(hidden=[4096])), batch=64)
        large.add(members(4))
        seen = {}
        for name, pop in (("small", small), ("large", large)):
            with pop.intra_op_threads():
                seen[name] = torch.get_num_threads()
            assert torch.get_num_threads() == 2  # put back
        assert seen == {"small": 1, "large": 2}
        with small.intra_op_threads(examples=10**5):  # a whole split at once: large
            assert torch.get_num_threads() == 2
        torch.set_num_threads(1)  # the count in force, not the one at construction
        with large.intra_op_threads():
            assert torch.get_num_threads() == 1
        assert small.forward_flops == 2 * (FEATURES * 8 + 8 * CLASSES)  # a multiply-add: 2
    finally:
        torch.set_num_threads(previous)
