"""Data: built-in sets, CSV tables and image folders → split, preprocessed tensors."""

from steepest.data.builtin import describe, names
from steepest.data.dataset import Dataset, load_dataset

__all__ = ["Dataset", "describe", "load_dataset", "names"]
