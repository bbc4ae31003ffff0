"""Population training vs the same trials one at a time in a plain PyTorch loop.

(a) Wall time of K digits MLPs (64→128→10, 20 epochs, batch 32, SGD momentum, a
    different lr/momentum/seed each) trained as one population vs sequentially.
(b) Achieved GFLOP/s of the population step (K=64, hidden 512) vs the machine's measured
    fp32 GEMM rate (torch.mm on 2048×2048).
(c) Memory per member, from the population's own tensors (parameters, gradients,
    optimizer state, buffers) and from the peak RSS of fresh processes training K=16
    and K=256 (the difference over 240 members: activations and temporaries included).
"""

import subprocess
import sys
from pathlib import Path

import torch

from common import digits, plain_trial, population_run, seconds
from steepest.config import validate
from steepest.population import Population
from steepest.training import build_population, make_member, task_for

EPOCHS = 20


def experiments(k: int, hidden: int = 128, batch: int = 32):
    return [
        validate(
            {
                "data": {"name": "digits"},
                "model": {"hidden": [hidden]},
                "train": {
                    "optimizer": "momentum",
                    "lr": 0.01 + 0.1 * i / k,
                    "momentum": 0.5 + 0.4 * i / k,
                    "seed": i,
                    "epochs": EPOCHS,
                    "batch_size": batch,
                },
            }
        )
        for i in range(k)
    ]


def filled_population(data, exps) -> Population:
    """One population holding every experiment's member (one structure)."""
    population = build_population(exps[0], data, task_for(exps[0], data), torch.device("cpu"))
    population.add([make_member(e, i) for i, e in enumerate(exps)])
    return population


def sequential_run(data, exps) -> None:
    for e in exps:
        plain_trial(data, e.train.lr, e.train.momentum, 0.0, EPOCHS, e.train.seed)


def gemm_gflops() -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    return 2 * 2048**3 / seconds(lambda: torch.mm(a, b), repeat=5) / 1e9


def step_gflops(data, k: int, hidden: int, batch: int) -> float:
    population = filled_population(data, experiments(k, hidden, batch))
    population.begin_epoch()
    population.step()
    steps = min(10, population.steps_per_epoch - 1)

    def run() -> None:
        population.step_in_epoch = 0
        for _ in range(steps):
            population.step()

    elapsed = seconds(run, repeat=3)
    inputs, outputs = data.x_train.shape[1], len(data.class_names)
    flops_per_member_step = 6 * batch * (inputs * hidden + hidden * outputs)  # fwd + 2× bwd
    return flops_per_member_step * k * steps / elapsed / 1e9


def tensor_bytes_per_member(data, k: int) -> float:
    """Parameters, gradients, optimizer state and buffers of a K population, over K."""
    population = filled_population(data, experiments(k))
    flat = population.flat
    tensors = 2 * flat.numel() * flat.element_size()  # parameters + gradients
    for state in population.states.values():
        for value in state.values():
            for t in value if isinstance(value, list) else [value]:
                tensors += t.numel() * t.element_size()
    tensors += sum(b.numel() * b.element_size() for b in population.buffers.values())
    return tensors / k


def peak_rss_bytes(k: int, runs: int = 3) -> int:
    """Peak RSS of a fresh process that loads digits and trains a K population one epoch;
    the least of `runs`, since the allocator's timing adds noise of tens of MB."""
    command = [sys.executable, __file__, "--peak-rss", str(k)]
    outputs = [
        subprocess.run(command, capture_output=True, text=True, check=True).stdout
        for _ in range(runs)
    ]
    return min(int(output.split()[-1]) for output in outputs)


def print_peak_rss(k: int) -> None:
    """Prints this process's VmHWM after one epoch. Not getrusage's ru_maxrss: Linux
    carries that across fork and exec, so a child would report its parent's peak."""
    data = digits()
    population = filled_population(data, experiments(k))
    population.run_epoch()
    status = Path("/proc/self/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    print(int(kib) * 1024)


def main() -> None:
    data = digits()
    sizes = [int(a) for a in sys.argv[1:]] or [32, 128]
    print(f"(a) digits MLP hidden 128, {EPOCHS} epochs, batch 32, SGD momentum")
    for k in sizes:
        exps = experiments(k)
        together = seconds(lambda exps=exps: population_run(data, exps))
        alone = seconds(lambda exps=exps: sequential_run(data, exps))
        print(
            f"    K={k:4d}: population {together:6.2f} s, sequential plain loop {alone:6.2f} s,"
            f" speedup {alone / together:5.1f}x  (target >= 8x at K=32)"
        )
    peak = gemm_gflops()
    print(f"(b) fp32 GEMM 2048^2: {peak:.1f} GFLOP/s")
    for batch in (32, 128):
        rate = step_gflops(data, 64, 512, batch)
        print(
            f"    population step K=64 hidden 512 batch {batch}: {rate:.1f} GFLOP/s = "
            f"{100 * rate / peak:.0f}% of GEMM  (target >= 50%)"
        )
    small, large = 16, 256
    peak_per_member = (peak_rss_bytes(large) - peak_rss_bytes(small)) / (large - small)
    print(
        f"(c) per member (hidden 128, batch 32): "
        f"{tensor_bytes_per_member(data, large) / 1024:.0f} KiB in tensors; peak RSS of an "
        f"epoch grows {peak_per_member / 1024:.0f} KiB a member from K={small} to K={large}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peak-rss"]:
        print_peak_rss(int(sys.argv[2]))
    else:
        main()
