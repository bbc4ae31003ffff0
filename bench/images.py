"""Images: first-load decode throughput, cached-load time, and CNN populations.

(a) Writes N JPEGs (~64×64, varied sizes) into a temporary class folder layout, then times
    decoding them to 32×32 RGB (best of 3 runs each):

    - a plain serial Pillow loop (open → RGB → ImageOps.fit → array), what one writes by hand;
    - steepest's decoder in one process (draft-mode JPEG decoding, no workers);
    - `load_images` on a cold cache (listing, parallel decode on every core, cache write);
    - `load_images` again (cache hit).

(b) The digits written as PNG class folders (8×8 grey), loaded as `steepest train` does;
    T CNN trials (conv 16 → conv 32, each 3×3 + BatchNorm + ReLU + 2×2 max pool, global
    average pool, linear; Adam, a different lr and seed each, batch 32, no augmentation)
    trained as one population vs one after the other in a plain PyTorch loop on the same
    network (torch.optim.Adam, foreach). Both validate after every epoch.

Usage: python bench/images.py [--images N] [--trials T]
"""

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from common import plain_fit, population_run
from steepest.config import DataConfig, Experiment, validate
from steepest.data import Dataset, load_dataset
from steepest.data.decode import _decode_chunk, _workers
from steepest.data.images import load_images, write_digits_pngs

SIZE = 32
CNN_CHANNELS = (16, 32)
CNN_EPOCHS = 10


def write_jpegs(root: Path, n: int) -> list[Path]:
    """n smooth random colour JPEGs, 56–72 px a side, in 4 class folders."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        width, height = rng.integers(56, 73, size=2)
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((int(width), int(height)), Image.Resampling.BICUBIC)
        path = root / f"class{i % 4}" / f"{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=90)
        paths.append(path)
    return paths


def plain_pillow(paths: list[Path]) -> np.ndarray:
    """The hand-written baseline: one file after another, no tricks."""
    images = []
    for path in paths:
        with Image.open(path) as image:
            square = ImageOps.fit(image.convert("RGB"), (SIZE, SIZE), Image.Resampling.BILINEAR)
            images.append(np.asarray(square).transpose(2, 0, 1))
    return np.stack(images)


def best_of(runs: int, setup: Callable[[], None], work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        setup()
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def decode_section(n: int) -> None:
    """(a): decode throughput of a plain Pillow loop, our decoder and `load_images`."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        os.environ["STEEPEST_CACHE_DIR"] = str(cache)
        paths = write_jpegs(Path(tmp) / "photos", n)
        cfg = DataConfig(images=Path(tmp) / "photos", image_size=SIZE)

        def clear() -> None:
            shutil.rmtree(cache, ignore_errors=True)

        plain = best_of(3, lambda: None, lambda: plain_pillow(paths))
        serial = best_of(3, lambda: None, lambda: _decode_chunk(paths, SIZE, False, "crop"))
        first = best_of(3, clear, lambda: load_images(cfg))
        cached = best_of(3, lambda: None, lambda: load_images(cfg))

    print(f"(a) {n} JPEGs ~64×64 → {SIZE}×{SIZE} RGB, {_workers()} cores")
    print(f"    plain serial Pillow loop   {n / plain:9.0f} images/s  {plain:7.3f} s")
    print(f"    steepest decoder, serial   {n / serial:9.0f} images/s  {serial:7.3f} s")
    print(f"    load_images, cold cache    {n / first:9.0f} images/s  {first:7.3f} s")
    print(f"    load_images, cached        {n / cached:9.0f} images/s  {cached:7.3f} s")
    print(f"    first load vs plain loop: {plain / first:.2f}× faster")
    print(f"    first load vs same decoder serial: {serial / first:.2f}× faster (parallel workers)")
    print(f"    cached load vs first load: {first / cached:.1f}× faster")


def cnn_trials(data: dict, trials: int) -> list[Experiment]:
    """`trials` CNN experiments on `data` differing in lr (1e-3 … 1e-2, log-spaced) and seed."""
    return [
        validate(
            {
                "data": data,
                "model": {"kind": "cnn", "channels": list(CNN_CHANNELS), "batch_norm": True},
                "train": {
                    "optimizer": "adam",
                    "lr": 1e-3 * 10 ** (i / max(trials - 1, 1)),
                    "seed": i,
                    "epochs": CNN_EPOCHS,
                    "batch_size": 32,
                },
            }
        )
        for i in range(trials)
    ]


def plain_cnn(classes: int, seed: int) -> nn.Module:
    """The same network as steepest's CNN builder, written out, He-initialised."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for c_in, c_out in zip((1, *CNN_CHANNELS), CNN_CHANNELS):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out)]
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
    model = nn.Sequential(
        *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(CNN_CHANNELS[-1], classes)
    )
    for layer in model:
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)
    return model


def plain_cnn_trials(data: Dataset, exps: list[Experiment]) -> list[float]:
    """The trials one after the other in a plain loop; each one's best validation accuracy."""
    best = []
    for e in exps:
        model = plain_cnn(len(data.class_names), e.train.seed)
        opt = torch.optim.Adam(model.parameters(), lr=e.train.lr, foreach=True)
        best.append(plain_fit(model, opt, data, CNN_EPOCHS, e.train.seed))
    return best


def timed(work: Callable[[], list[float]]) -> tuple[float, list[float]]:
    """(wall seconds, result) of one call."""
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def cnn_section(trials: int) -> None:
    """(b): T CNN trials as one population vs one at a time in a plain loop."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STEEPEST_CACHE_DIR"] = str(Path(tmp) / "cache")
        folder = write_digits_pngs(Path(tmp) / "digits")
        exps = cnn_trials({"images": str(folder), "image_size": 8, "grayscale": True}, trials)
        data = load_dataset(exps[0].data)

    together, ours = timed(lambda: population_run(data, exps))
    alone, theirs = timed(lambda: plain_cnn_trials(data, exps))
    print(
        f"(b) digits as 8×8 PNGs, {trials} CNN trials (channels {list(CNN_CHANNELS)}, "
        f"BatchNorm, Adam lr 1e-3…1e-2), {CNN_EPOCHS} epochs, batch 32, "
        f"torch threads: {torch.get_num_threads()}"
    )
    print(f"    population of {trials:<3d}          {together:7.2f} s")
    print(f"    sequential plain PyTorch   {alone:7.2f} s")
    print(f"    population vs sequential: {alone / together:.2f}× faster")
    print(
        f"    mean best val accuracy: population {sum(ours) / trials:.4f}, "
        f"plain {sum(theirs) / trials:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=16)
    args = parser.parse_args()
    decode_section(args.images)
    cnn_section(args.trials)


if __name__ == "__main__":
    main()
