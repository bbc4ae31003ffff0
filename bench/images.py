"""Image loading: first-load decode throughput and cached-load time.

Writes N JPEGs (~64×64, varied sizes) into a temporary class folder layout, then times
decoding them to 32×32 RGB:

- a plain serial Pillow loop (open → RGB → ImageOps.fit → array), what one writes by hand;
- steepest's decoder in one process (draft-mode JPEG decoding, no workers);
- `load_images` on a cold cache (listing, parallel decode on every core, cache write);
- `load_images` again (cache hit).

Usage: python bench/images.py [--images N]   (best of 3 runs each)
"""

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

SIZE = 32


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    n = parser.parse_args().images

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        os.environ["STEEPEST_CACHE_DIR"] = str(cache)
        from steepest.config import DataConfig
        from steepest.data.decode import _decode_chunk, _workers
        from steepest.data.images import load_images

        paths = write_jpegs(Path(tmp) / "photos", n)
        cfg = DataConfig(images=Path(tmp) / "photos", image_size=SIZE)

        def clear() -> None:
            shutil.rmtree(cache, ignore_errors=True)

        plain = best_of(3, lambda: None, lambda: plain_pillow(paths))
        serial = best_of(3, lambda: None, lambda: _decode_chunk(paths, SIZE, False, "crop"))
        first = best_of(3, clear, lambda: load_images(cfg))
        cached = best_of(3, lambda: None, lambda: load_images(cfg))

    print(f"{n} JPEGs ~64×64 → {SIZE}×{SIZE} RGB, {_workers()} cores")
    print(f"plain serial Pillow loop   {n / plain:9.0f} images/s  {plain:7.3f} s")
    print(f"steepest decoder, serial   {n / serial:9.0f} images/s  {serial:7.3f} s")
    print(f"load_images, cold cache    {n / first:9.0f} images/s  {first:7.3f} s")
    print(f"load_images, cached        {n / cached:9.0f} images/s  {cached:7.3f} s")
    print(f"first load vs plain loop: {plain / first:.2f}× faster")
    print(f"first load vs same decoder serial: {serial / first:.2f}× faster (parallel workers)")
    print(f"cached load vs first load: {first / cached:.1f}× faster")


if __name__ == "__main__":
    main()
