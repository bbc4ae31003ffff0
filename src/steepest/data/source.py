"""What every loader (built-in, table, images) returns before splitting: `Examples`."""

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from steepest.errors import UserError

Task = Literal["classification", "regression"]


@dataclass
class Examples:
    """All examples of one source, unsplit.

    x: [N, F] float32 features, or [N, C, H, W] images (uint8 when decoded from files).
    y: [N] int64 class indices (classification) or [N] float32 targets (regression).
    split_values: the raw text of a split column, one per example, when the source has one.
    """

    x: Tensor
    y: Tensor
    task: Task
    class_names: list[str] | None
    feature_names: list[str] | None
    name: str
    split_values: list[str] | None = None


def as_float(x: Tensor) -> Tensor:
    """Raw inputs as the network sees them before preprocessing: uint8 images scaled to
    [0, 1], anything else unchanged (shared by training and prediction)."""
    return x.float() / 255 if x.dtype == torch.uint8 else x


def is_number(text: str) -> bool:
    """Whether `float(text)` accepts the text."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def sorted_class_names(labels: Sequence[str]) -> list[str]:
    """Distinct labels, in numeric order when every label is a number ("2" before "10"),
    else in string order."""
    distinct = set(labels)
    if all(is_number(label) for label in distinct):
        return sorted(distinct, key=lambda label: (float(label), label))
    return sorted(distinct)


def encode_labels(labels: Sequence[str], class_names: Sequence[str]) -> Tensor:
    """[N] int64: the index of each label in `class_names` (every label must be there)."""
    index = {name: i for i, name in enumerate(class_names)}
    return torch.tensor([index[label] for label in labels], dtype=torch.int64)


def csv_text(path: Path, key: str) -> io.StringIO:
    """A CSV file's text for the `csv` module (lines kept whole, as it asks), a BOM from
    Excel dropped; a file that is not UTF-8 (Excel's "CSV" on Windows is often cp1252)
    is a UserError naming the `[data]` `key` and the first bad byte."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(
            f"[data] {key} = '{path}': not UTF-8 text (byte {error.start} is "
            f"{data[error.start]:#04x}); save it as UTF-8"
        ) from None
    return io.StringIO(text.removeprefix("\ufeff"), newline="")
