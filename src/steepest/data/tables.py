"""CSV tables: one target column, numeric feature columns (default: all other columns).

Target rule: the target becomes class indices when any of its values is not a number,
or when the caller asks for ``task="classification"`` (the loss decides); class names are
the distinct values in sorted order (numeric order for numbers, each written as the
shortest text of its value, so "1", "1.0" and "1e0" are one class and 1000001 and
1000002 are two). Otherwise the target is a float64 regression target. A missing value
is refused: it is neither a class nor a number to train on. In a number column (every
feature, a numeric target) it is a blank or any of pandas' spellings ("NA", "nan",
"None", …); in a text target only a blank, since "None" (no damage) or "NA" (Namibia)
may be a class there. Features stay float64 until the fitted
preprocessing has scaled them, so a large offset (timestamps near 1.6e9, where float32
steps by 128) does not round distinct values together.
"""

import re
from pathlib import Path

import numpy as np
import torch

from steepest.data.source import (
    MISSING,
    Examples,
    Table,
    Task,
    encode_labels,
    is_number,
    read_csv,
    sorted_class_names,
)
from steepest.errors import UserError


def _column(header: list[str], name: str, key: str, path: Path) -> int:
    if name not in header:
        raise UserError(
            f"[data] {key} = {name!r}: no such column in {path.name}; "
            f"expected one of {', '.join(header)}"
        )
    return header.index(name)


def _refuse_missing(
    values: list[str], lines: list[int], name: str, path: Path, missing: frozenset | set = MISSING
) -> None:
    for line, value in zip(lines, values, strict=True):
        if value in missing:
            raise UserError(
                f"[data] column {name!r} in {path.name}: missing value at line {line} "
                f"({value!r}); fill in or drop the row"
            )


def _numbers(values: list[str], lines: list[int], name: str, path: Path) -> np.ndarray:
    """float64 values of one column, or a UserError naming the column and first bad cell."""
    _refuse_missing(values, lines, name, path)
    try:
        array = np.array(values, dtype=np.float64)
    except ValueError:
        line, bad = next((at, v) for at, v in zip(lines, values) if not is_number(v))
        remedy = "list numeric columns in features"
        if re.fullmatch(r"[+-]?\d*,\d+", bad):  # Excel's export where ',' marks decimals
            remedy = "numbers take a decimal point (1.5), not a comma (1,5)"
        raise UserError(
            f"[data] column {name!r} in {path.name} is not numeric (line {line}: {bad!r}); {remedy}"
        ) from None
    if not np.isfinite(array).all():
        line = lines[int(np.flatnonzero(~np.isfinite(array))[0])]
        raise UserError(f"[data] column {name!r} in {path.name}: non-finite value at line {line}")
    return array


def _class_name(number: str) -> str:
    """A numeric label's class name: the shortest text that reads back as its value
    ("1.0" → "1", "1e3" → "1000", "0.1234567" kept whole)."""
    value = float(number)
    return str(int(value)) if value.is_integer() else repr(value)


def load_table(
    path: Path,
    target: str,
    features: list[str] | None = None,
    split_column: str | None = None,
    task: Task | None = None,
) -> Examples:
    """Examples from a CSV file: x [N, F] float64, y per the module's target rule (float64
    for a regression: it is standardised before it becomes float32, as x is)."""
    table: Table = read_csv(path, "csv")
    header = table.header
    target_at = _column(header, target, "target", path)
    split_at = None if split_column is None else _column(header, split_column, "split_column", path)
    if features is None:
        features = [h for i, h in enumerate(header) if i not in (target_at, split_at)]
    elif target in features:
        raise UserError(f"[data] features: includes the target column {target!r}")
    if not features:
        raise UserError(f"[data] csv = '{path}': no feature columns besides the target")
    for name in features:
        _column(header, name, "features", path)
    x = np.stack([_numbers(table.column(f), table.lines, f, path) for f in features], axis=1)
    labels = table.column(target)
    text = any(not is_number(v) and v not in MISSING for v in labels)
    _refuse_missing(labels, table.lines, target, path, {""} if text else MISSING)
    numeric = not text  # without text, every label left is a number (missing ones refused)
    if task == "regression" and not numeric:
        bad = next(v for v in labels if not is_number(v))
        raise UserError(
            f"[data] target = {target!r}: value {bad!r} is not a number, "
            "so the target cannot be regressed"
        )
    class_names = None
    if numeric and task != "classification":
        kind: Task = "regression"
        y = torch.from_numpy(_numbers(labels, table.lines, target, path))  # float64
    else:
        kind = "classification"
        if numeric:
            labels = [_class_name(v) for v in labels]
        class_names = sorted_class_names(labels)
        y = encode_labels(labels, class_names)
    split_values = None if split_at is None else table.column(header[split_at])
    return Examples(torch.from_numpy(x), y, kind, class_names, features, path.stem, split_values)
