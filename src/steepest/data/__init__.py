"""Data sets as tensors in memory: built-in sets, CSV tables and image folders.

`load_dataset(cfg)` returns a `Dataset` of preprocessed train/val/test tensors;
`names()` and `describe(name)` list and summarise the built-in sets.
"""

from steepest.data.builtin import describe, names
from steepest.data.dataset import Dataset, load_dataset

__all__ = ["Dataset", "describe", "load_dataset", "names"]
