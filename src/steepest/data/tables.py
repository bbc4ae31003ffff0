"""CSV tables: one target column, numeric feature columns (default: all other columns).

Target rule: the target becomes class indices when any of its values is not a number,
or when the caller asks for ``task="classification"`` (the loss decides); class names are
the distinct values in sorted order (numeric order for numbers, written with ``%g`` so
"1" and "1.0" are one class). Otherwise the target is a float32 regression target.
"""

import csv
from pathlib import Path

import numpy as np
import torch

from steepest.data.source import (
    Examples,
    Task,
    csv_text,
    encode_labels,
    is_number,
    sorted_class_names,
)
from steepest.errors import UserError


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows) with surrounding spaces stripped; a BOM from Excel is ignored."""
    if not path.is_file():
        raise UserError(f"[data] csv = '{path}': no such file")
    reader = csv.reader(csv_text(path, "csv"))
    header = [name.strip() for name in next(reader, [])]
    rows = [[v.strip() for v in row] for row in reader if row]
    if not rows:
        raise UserError(f"[data] csv = '{path}': no data rows")
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise UserError(
                f"[data] csv = '{path}': line {line} has {len(row)} fields, "
                f"the header has {len(header)}"
            )
    return header, rows


def _column(header: list[str], name: str, key: str, path: Path) -> int:
    if name not in header:
        raise UserError(
            f"[data] {key} = {name!r}: no such column in {path.name}; "
            f"expected one of {', '.join(header)}"
        )
    return header.index(name)


def _numbers(values: list[str], name: str, path: Path) -> np.ndarray:
    """float64 values of one column, or a UserError naming the column and first bad cell."""
    try:
        array = np.array(values, dtype=np.float64)
    except ValueError:
        line, bad = next((i, v) for i, v in enumerate(values, 2) if not is_number(v))
        raise UserError(
            f"[data] column {name!r} in {path.name} is not numeric "
            f"(line {line}: {bad!r}); list numeric columns in features"
        ) from None
    if not np.isfinite(array).all():
        line = int(np.flatnonzero(~np.isfinite(array))[0]) + 2
        raise UserError(f"[data] column {name!r} in {path.name}: non-finite value at line {line}")
    return array


def load_table(
    path: Path,
    target: str,
    features: list[str] | None = None,
    split_column: str | None = None,
    task: Task | None = None,
) -> Examples:
    """Examples from a CSV file: x [N, F] float32, y per the module's target rule."""
    header, rows = _read(path)
    target_at = _column(header, target, "target", path)
    split_at = None if split_column is None else _column(header, split_column, "split_column", path)
    if features is None:
        features = [h for i, h in enumerate(header) if i not in (target_at, split_at)]
    elif target in features:
        raise UserError(f"[data] features: includes the target column {target!r}")
    if not features:
        raise UserError(f"[data] csv = '{path}': no feature columns besides the target")
    columns = list(zip(*rows, strict=True))
    x = np.stack(
        [_numbers(list(columns[_column(header, f, "features", path)]), f, path) for f in features],
        axis=1,
    )
    labels = list(columns[target_at])
    if "" in labels:
        line = labels.index("") + 2
        raise UserError(f"[data] column {target!r} in {path.name}: blank target at line {line}")
    numeric = all(is_number(v) for v in labels)
    if task == "regression" and not numeric:
        bad = next(v for v in labels if not is_number(v))
        raise UserError(
            f"[data] target = {target!r}: value {bad!r} is not a number, "
            "so the target cannot be regressed"
        )
    class_names = None
    if numeric and task != "classification":
        kind: Task = "regression"
        y = torch.tensor(_numbers(labels, target, path), dtype=torch.float32)
    else:
        kind = "classification"
        if numeric:
            labels = [f"{float(v):g}" for v in labels]
        class_names = sorted_class_names(labels)
        y = encode_labels(labels, class_names)
    split_values = None if split_at is None else list(columns[split_at])
    x_tensor = torch.tensor(x, dtype=torch.float32)
    return Examples(x_tensor, y, kind, class_names, features, path.stem, split_values)
