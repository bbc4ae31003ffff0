"""`steepest train` epoch time vs a hand-written PyTorch loop and a DataLoader loop.

Same data (digits), same model (64→128→10 ReLU), SGD with momentum, batch 32, one process.
Prints the ratios (target: steepest / hand-written ≤ 1.1).
"""

import torch
from torch.utils.data import DataLoader, TensorDataset

from common import digits, plain_accuracy, plain_epoch, plain_mlp, seconds
from steepest.config import validate
from steepest.fit import MemberList, PopulationTrainer, fit
from steepest.training import build_population, make_member, monitor_for, task_for

EPOCHS = 10


def steepest_epochs(data, experiment) -> None:
    """What `steepest train` runs per epoch: train, validate, history row, best copy."""
    task = task_for(experiment, data)
    population = build_population(experiment, data, task, torch.device("cpu"))
    source = MemberList([make_member(experiment, 0)])
    fit(
        PopulationTrainer(
            population, source, 1, data.x_val, data.y_val, monitor_for(experiment, task)
        )
    )


def hand_written(data) -> dict:
    """The same per epoch by hand: train, train accuracy, validation loss and accuracy,
    keep the best (the history `steepest train` records, minus the dead-ReLU column)."""
    model = plain_mlp(64, 128, 10, 0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, foreach=True)
    best, best_state = 0.0, None
    for epoch in range(EPOCHS):
        plain_epoch(model, opt, data.x_train, data.y_train, 32, epoch)
        with torch.no_grad():
            model.eval()
            out = model(data.x_val)
            torch.nn.functional.cross_entropy(out, data.y_val).item()
            sample = len(data.x_val)  # `steepest train` scores a train sample this size
            plain_accuracy(model, data.x_train[:sample], data.y_train[:sample])
            accuracy = plain_accuracy(model, data.x_val, data.y_val)
        if accuracy > best:
            best = accuracy
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    return best_state


def data_loader(data) -> None:
    model = plain_mlp(64, 128, 10, 0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, foreach=True)
    loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=32, shuffle=True)
    for _ in range(EPOCHS):
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def main() -> None:
    data = digits()
    experiment = validate(
        {
            "data": {"name": "digits"},
            "model": {"hidden": [128]},
            "train": {"optimizer": "momentum", "lr": 0.05, "batch_size": 32, "epochs": EPOCHS},
        }
    )
    ours = seconds(lambda: steepest_epochs(data, experiment), repeat=5)
    plain = seconds(lambda: hand_written(data), repeat=5)
    loader = seconds(lambda: data_loader(data), repeat=5)
    print(f"digits MLP, {EPOCHS} epochs, batch 32, median of 5")
    print(f"ratio steepest / hand-written loop: {ours / plain:.2f}  (target <= 1.1)")
    print(f"ratio steepest / DataLoader loop:   {ours / loader:.2f}")


if __name__ == "__main__":
    main()
