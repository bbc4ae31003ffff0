"""Decoded images kept on disk, so that loading a folder again skips Pillow entirely.

Where: ``$STEEPEST_CACHE_DIR``, else ``$XDG_CACHE_HOME/steepest``, else
``~/.cache/steepest``; one file ``images/<settings>-<contents>.pt`` per source. Not beside
the data, because data folders are often read-only or shared between users.

<settings> hashes the source (folder or CSV), the decode settings and the class
selection; <contents> hashes every selected file's path, size and modification time,
so touching, adding or removing an image is a miss. Writing an entry deletes the other
entries with the same <settings>: after a change of the files they can never hit again.
"""

import hashlib
import os
import pickle
import warnings
from pathlib import Path

import torch
from torch import Tensor

from steepest.errors import first_line


def cache_root() -> Path:
    """The folder holding steepest's caches (see module doc)."""
    if "STEEPEST_CACHE_DIR" in os.environ:
        return Path(os.environ["STEEPEST_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "steepest"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def entry_path(settings: str, files: list[Path]) -> Path:
    """The cache file for decoding `files` with `settings` (any text naming them)."""
    lines = []
    for path in files:
        try:
            stat = path.stat()
            lines.append(f"{path}\t{stat.st_size}\t{stat.st_mtime_ns}")
        except OSError:
            lines.append(f"{path}\tmissing")
    return cache_root() / "images" / f"{_digest(settings)}-{_digest(chr(10).join(lines))}.pt"


def load(path: Path) -> dict[str, Tensor] | None:
    """The tensors saved at `path`, or None when absent or unreadable (a miss)."""
    try:
        return torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
        return None


def save(path: Path, tensors: dict[str, Tensor]) -> None:
    """Write atomically (temporary file, then rename: readers never see half a file) and
    delete stale entries of the same settings. An unwritable cache only warns."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(tensors, temporary)
        os.replace(temporary, path)
        settings = path.name.split("-")[0]
        for stale in path.parent.glob(f"{settings}-*.pt"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except (OSError, RuntimeError) as error:  # torch.save reports a failed write so
        temporary.unlink(missing_ok=True)
        warnings.warn(f"could not write the image cache {path}: {first_line(error)}", stacklevel=3)
