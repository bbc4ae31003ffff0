"""Image files → one uint8 array [N, C, S, S], decoded with Pillow on every core.

Each file: JPEG draft mode (the decoder itself downscales by 1/2, 1/4 or 1/8 while
staying ≥ S, the main saving on large photos) → EXIF orientation applied → 16-bit grey
scaled to 8 bits (v ← round(v/257), where Pillow's own conversion would clip at 255) →
alpha composited onto black (so transparent pixels read as 0, like padding) → L or RGB →
a square of side S, by centre crop (fit="crop": the largest centred square, resized)
or by padding (fit="pad": the longer side resized to S, centred on black). Resizing is
Pillow's bilinear filter, which widens with the downscale factor (antialiased).

Files Pillow cannot read (not an image, truncated, empty) come back as failures, never
as exceptions, so one bad file does not stop a folder of thousands; Pillow's per-file
warnings (corrupt EXIF, odd TIFF tags) are silenced for the same reason.
"""

import multiprocessing
import os
import signal
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# Part of every cache key: bump when decoding changes what it produces (2: 16-bit grey
# scaled to 8 bits instead of clipped, so folders cached by 1 decode again).
VERSION = 2
PARALLEL_MIN = 256  # below this many files, starting worker processes costs more than it saves
CHUNKS_PER_WORKER = 4  # several chunks per worker even out slow and fast chunks


def _square(image: Image.Image, size: int, fit: str) -> Image.Image:
    width, height = image.size
    if fit == "crop":
        side = min(width, height)
        box = ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
        return image.resize((size, size), Image.Resampling.BILINEAR, box=box)
    scale = size / max(width, height)
    inner = (max(1, round(width * scale)), max(1, round(height * scale)))
    canvas = Image.new(image.mode, (size, size))
    canvas.paste(
        image.resize(inner, Image.Resampling.BILINEAR),
        ((size - inner[0]) // 2, (size - inner[1]) // 2),
    )
    return canvas


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit (or 32-bit integer) grey as 8-bit L, v ← round(v/257) clipped to 0..255."""
    if not image.mode.startswith("I"):
        return image
    values = np.asarray(image, dtype=np.float64) / 257
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def decode_image(path: Path, size: int, grayscale: bool, fit: str) -> np.ndarray:
    """[C, S, S] uint8 (C = 1 grey, 3 RGB); raises OSError/ValueError on unreadable files."""
    mode = "L" if grayscale else "RGB"
    with Image.open(path) as opened:
        opened.draft(mode, (size, size))
        opened.load()
        ImageOps.exif_transpose(opened, in_place=True)
        image = _eight_bit(opened)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
        pixels = np.asarray(_square(image.convert(mode), size, fit))
    return pixels[None] if grayscale else pixels.transpose(2, 0, 1)


# What Pillow raises for a file it cannot decode (truncated, not an image, a bomb).
_UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def _decode_chunk(
    paths: list[Path], size: int, grayscale: bool, fit: str
) -> tuple[np.ndarray, list[bool]]:
    """(images that decoded, stacked [M, C, S, S]; per-path success)."""
    images, ok = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in paths:
            try:
                images.append(decode_image(path, size, grayscale, fit))
                ok.append(True)
            except _UNREADABLE:
                ok.append(False)
    empty = np.zeros((0, 1 if grayscale else 3, size, size), np.uint8)
    return (np.stack(images) if images else empty), ok


def _workers() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_IGNORE_SIGINT = (signal.SIGINT, signal.SIG_IGN)


def decode_images(
    paths: list[Path], size: int, grayscale: bool, fit: str
) -> tuple[np.ndarray, list[bool]]:
    """Decode every file (see module doc), in worker processes when there are many.

    Returns the [M, C, S, S] uint8 images of the M files that decoded, in input order,
    and one success flag per path. On Linux workers are forked: they need Pillow only,
    and forking skips re-importing torch in each (seconds). Python ≥ 3.12 warns about
    forking a multi-threaded process (torch's thread pool); the workers never touch
    those threads' state, as with torch's own DataLoader, so that warning is silenced.
    """
    workers = _workers()
    if len(paths) < PARALLEL_MIN or workers < 2:
        return _decode_chunk(paths, size, grayscale, fit)
    n_chunks = workers * CHUNKS_PER_WORKER
    step = -(-len(paths) // n_chunks)
    chunks = [paths[i : i + step] for i in range(0, len(paths), step)]
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        # Ctrl-C reaches the whole process group: workers that took it too would die
        # mid-task, a race in which CPython's pool can hang at shutdown. They ignore it;
        # the parent cancels what has not started and stops.
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=signal.signal, initargs=_IGNORE_SIGINT
        )
        try:
            results = list(
                pool.map(_decode_chunk, chunks, repeat(size), repeat(grayscale), repeat(fit))
            )
        finally:
            pool.shutdown(cancel_futures=True)
    images = np.concatenate([r[0] for r in results])
    return images, [flag for r in results for flag in r[1]]
