"""What every loader (built-in, table, images) returns before splitting: `Examples`."""

import csv
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

    x: [N, F] features (float64 from a CSV, float32 built in), or [N, C, H, W] images
    (uint8 when decoded from files).
    y: [N] int64 class indices (classification) or [N] float targets (regression;
    float64 from a CSV).
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


# How a missing value is written, as pandas.read_csv reads it (its default na_values).
MISSING = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND"}
    | {"1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)


@dataclass
class Table:
    """A CSV file's header and rows (values stripped of surrounding spaces), and the line
    of the file each row starts on, for messages."""

    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def column(self, name: str) -> list[str]:
        """One column's values, top to bottom."""
        at = self.header.index(name)
        return [row[at] for row in self.rows]


def read_csv(path: Path, key: str) -> Table:
    """A CSV file as a `Table`. Separated by whichever of ',', ';' and tab its first line
    has most of (Excel writes ';' where the decimal mark is a comma; a ';' file's header
    may still hold a comma, as in "price, EUR"), ',' on a tie. Blank lines
    are skipped. Refused in one line naming the `[data]` `key`: no such file, not UTF-8,
    a quote left open, a column name given twice (which column would be read?), a row
    whose number of fields is not the header's, no data rows."""
    if path.is_dir():
        raise UserError(f"[data] {key} = '{path}': a folder, not a CSV file")
    if not path.is_file():
        raise UserError(f"[data] {key} = '{path}': no such file")
    text = _csv_text(path, key)
    first = next((line for line in text if line.strip()), "")
    text.seek(0)
    delimiter = max((",", ";", "\t"), key=first.count)  # the commonest; ',' on a tie
    reader = csv.reader(text, delimiter=delimiter)
    header: list[str] | None = None
    rows, lines = [], []
    try:
        while True:
            line = reader.line_num + 1  # where the next row starts (a quoted field may span lines)
            row = next(reader, None)
            if row is None:
                break
            values = [value.strip() for value in row]
            if not any(values):  # a blank line, or one of spaces
                continue
            if header is None:
                header = values
            else:
                rows.append(values)
                lines.append(line)
    except csv.Error as error:
        raise UserError(
            f"[data] {key} = '{path}': malformed CSV at line {reader.line_num} ({error}; "
            "a quote left open?)"
        ) from None
    if not rows or header is None:
        raise UserError(f"[data] {key} = '{path}': no data rows")
    _refuse_repeated_names(header, key, path)
    for line, row in zip(lines, rows, strict=True):
        if len(row) != len(header):
            raise UserError(
                f"[data] {key} = '{path}': line {line} has {len(row)} fields, "
                f"the header has {len(header)}"
            )
    return Table(header, rows, lines)


def _refuse_repeated_names(header: list[str], key: str, path: Path) -> None:
    for at, name in enumerate(header):
        if name in header[:at]:
            raise UserError(
                f"[data] {key} = '{path}': column {name!r} appears twice in the header "
                f"(columns {header.index(name) + 1} and {at + 1}); rename one"
            )


def _csv_text(path: Path, key: str) -> io.StringIO:
    """A CSV file's text for the `csv` module (lines kept whole, as it asks), a BOM from
    Excel dropped; a file that is not UTF-8 (Excel's "CSV" on Windows is often cp1252)
    is a UserError naming the `[data]` `key` and the first bad byte."""
    try:
        data = path.read_bytes()
    except OSError as error:  # unreadable (permissions; `read_csv` refuses a folder first)
        raise UserError(f"[data] {key} = '{path}': cannot read it ({error.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(
            f"[data] {key} = '{path}': not UTF-8 text (byte {error.start} is "
            f"{data[error.start]:#04x}); save it as UTF-8"
        ) from None
    return io.StringIO(text.removeprefix("\ufeff"), newline="")
