"""Image data sets: a folder with one subfolder per class, or a CSV of ``path,label``.

Folder layout: ``<images>/<class>/<file>`` — the image files directly inside each
subfolder (hidden files and folders skipped; nested folders are not read); class names
are the subfolder names (in Unicode's composed form, as are names in the config).
CSV layout: ``images`` names a CSV with `path_column` (relative to the CSV's folder;
Windows ``\\`` separators accepted), `label_column` and, optionally, `split_column`.

Labels: `merge` maps a new class to old names (``bee = ["bee1", "bee2"]``) first; then
`classes` keeps only the classes it names, in its order (default: every class, sorted).
Only the selected files are decoded (see `steepest.data.decode`) and the result is
cached on disk (see `steepest.data.cache`). Unreadable files are skipped with one
warning naming them; a class left with no image is a `UserError`.
"""

import unicodedata
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from steepest.config import DataConfig
from steepest.data import cache
from steepest.data.builtin import load_builtin
from steepest.data.decode import VERSION, decode_images
from steepest.data.source import Examples, encode_labels, read_csv, sorted_class_names
from steepest.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
NAMED_BAD_FILES = 5  # how many unreadable files the warning names before "and N more"


Listing = tuple[list[Path], list[str], list[str] | None, list[str]]


def _list_folder(folder: Path) -> Listing:
    """(files, labels, no split values, class names) of the folder layout; a subfolder
    without image files is still a class, so that selecting it is an error."""
    files, labels = [], []
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subfolders:
        raise UserError(
            f"[data] images = '{folder}': no class subfolders; expected one subfolder "
            "per class, or a CSV of path,label"
        )
    for subfolder in subfolders:
        for path in sorted(subfolder.iterdir()):
            # Hidden files are skipped as hidden folders are: macOS writes a "._NAME"
            # beside every photo on FAT/exFAT sticks, and thumbnails hide as ".NAME".
            visible = not path.name.startswith(".")
            if visible and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                files.append(path)
                labels.append(_class(subfolder.name))
    return files, labels, None, [_class(p.name) for p in subfolders]


def _class(name: str) -> str:
    """A class name in Unicode's composed form (NFC): macOS names folders decomposed
    (NFD), so "ö" typed in a config would not match the "ö" of its folder."""
    return unicodedata.normalize("NFC", name)


def _list_csv(table: Path, cfg: DataConfig) -> Listing:
    """(files, labels, split values, class names) of the CSV layout."""
    listing = read_csv(table, "images")
    columns = [cfg.path_column, cfg.label_column, cfg.split_column]
    for key, column in zip(("path_column", "label_column", "split_column"), columns, strict=True):
        if column is not None and column not in listing.header:
            raise UserError(
                f"[data] {key} = {column!r}: no such column in {table.name}; "
                f"expected one of {', '.join(listing.header)}"
            )
    paths = listing.column(cfg.path_column)
    labels = [_class(label) for label in listing.column(cfg.label_column)]
    for line, path, label in zip(listing.lines, paths, labels, strict=True):
        if not label or not path:
            raise UserError(f"[data] images = '{table}': line {line} has an empty path or label")
    files = [table.parent / path.replace("\\", "/") for path in paths]
    splits = None if cfg.split_column is None else listing.column(cfg.split_column)
    return files, labels, splits, sorted_class_names(labels)


def _renaming(merge: dict[str, list[str]], available: list[str]) -> dict[str, str]:
    """{old class: new class} of `merge`; an old class must exist and go to one new class."""
    renamed: dict[str, str] = {}
    for new, olds in merge.items():
        for old in olds:
            if old not in available:
                raise UserError(
                    f"[data] merge.{new}: no class {old!r}; expected one of {', '.join(available)}"
                )
            if old in renamed:
                raise UserError(
                    f"[data] merge.{new}: class {old!r} is already merged into {renamed[old]!r}"
                )
            renamed[old] = new
    return renamed


def _check_classes(classes: list[str], names: list[str]) -> None:
    """`classes` names distinct, existing classes: a repeat would add an output that no
    example trains, and an empty list would silently mean every class."""
    if not classes:
        raise UserError(
            f"[data] classes = []: list the classes to keep ({', '.join(names)}), "
            "or leave classes out to keep every class"
        )
    for at, name in enumerate(classes):
        if name not in names:
            raise UserError(
                f"[data] classes: no class {name!r}; expected one of {', '.join(names)}"
            )
        if name in classes[:at]:
            raise UserError(f"[data] classes: {name!r} is listed twice")


def _select(
    labels: list[str], available: list[str], cfg: DataConfig
) -> tuple[list[str], list[str]]:
    """(label of each file after `merge`, chosen class names in order); see module doc."""
    merge = {_class(new): [_class(old) for old in olds] for new, olds in (cfg.merge or {}).items()}
    renamed = _renaming(merge, available)
    merged = [renamed.get(label, label) for label in labels]
    names = sorted_class_names([renamed.get(name, name) for name in available])
    if cfg.classes is None:
        return merged, names
    classes = [_class(name) for name in cfg.classes]
    _check_classes(classes, names)
    return merged, classes


def _warn_unreadable(bad: list[Path], root: Path) -> None:
    """One warning naming the first files (relative to `root`, or as the CSV gave them
    when they lie outside it) and how many more."""
    named = ", ".join(
        str(p.relative_to(root)) if p.is_relative_to(root) else str(p)
        for p in bad[:NAMED_BAD_FILES]
    )
    more = f" and {len(bad) - NAMED_BAD_FILES} more" if len(bad) > NAMED_BAD_FILES else ""
    warnings.warn(
        f"skipped {len(bad)} unreadable image files in {root}: {named}{more}", stacklevel=3
    )


def _decode_cached(
    files: list[Path], settings: str, cfg: DataConfig
) -> tuple[torch.Tensor, list[bool]]:
    """Decoded images [M, C, S, S] uint8 of the readable files, and one flag per file."""
    entry = cache.entry_path(settings, files)
    stored = cache.load(entry)
    if stored is not None:
        return stored["images"], stored["ok"].tolist()
    images, ok = decode_images(files, cfg.image_size, cfg.grayscale, cfg.fit)
    tensors = {"images": torch.from_numpy(images), "ok": torch.tensor(ok, dtype=torch.bool)}
    cache.save(entry, tensors)
    return tensors["images"], ok


def _list(source: Path, cfg: DataConfig) -> Listing:
    """The listing of either layout, checked to hold at least one image file."""
    if source.is_dir():
        for key in ("path_column", "label_column", "split_column"):
            if key in cfg.model_fields_set:
                raise UserError(
                    f"[data] {key} = {getattr(cfg, key)!r}: needs images = a CSV "
                    "with that column, not a folder"
                )
        listing = _list_folder(source)
    elif source.is_file() and source.suffix.lower() in IMAGE_SUFFIXES:
        raise UserError(
            f"[data] images = '{source}': one image; name a folder with a subfolder of "
            "images per class, or a CSV of path,label"
        )
    elif source.is_file():
        listing = _list_csv(source, cfg)
    else:
        raise UserError(f"[data] images = '{source}': no such folder or CSV file")
    if not listing[0]:
        raise UserError(f"[data] images = '{source}': no image files ({', '.join(IMAGE_SUFFIXES)})")
    return listing


def load_images(cfg: DataConfig) -> Examples:
    """Examples of an image folder or CSV: x [N, C, S, S] uint8, y int64 class indices."""
    source = Path(cfg.images or "")
    files, labels, splits, available = _list(source, cfg)
    root = source if source.is_dir() else source.parent
    merged, class_names = _select(labels, available, cfg)
    wanted = set(class_names)
    chosen = [i for i, label in enumerate(merged) if label in wanted]
    key = (
        VERSION,
        source.resolve(),
        cfg.image_size,
        cfg.grayscale,
        cfg.fit,
        cfg.merge,
        class_names,
    )
    settings = "\n".join(map(str, key))
    images, ok = _decode_cached([files[i] for i in chosen], settings, cfg)
    bad = [files[i] for i, good in zip(chosen, ok, strict=True) if not good]
    if bad:
        _warn_unreadable(bad, root)
    kept = [i for i, good in zip(chosen, ok, strict=True) if good]
    kept_labels = [merged[i] for i in kept]
    present = set(kept_labels)
    for name in class_names:
        if name not in present:
            where = " directly in its folder (subfolders are not read)" if source.is_dir() else ""
            raise UserError(
                f"[data] images = '{source}': class {name!r} has no readable images{where}; "
                "fill it, or keep the other classes with classes = [...]"
            )
    split_values = None if splits is None else [splits[i] for i in kept]
    y = encode_labels(kept_labels, class_names)
    name = source.name if source.is_dir() else source.stem  # the folder, or the CSV's name
    return Examples(images, y, "classification", class_names, None, name, split_values)


def write_digits_pngs(folder: str | Path) -> Path:
    """Write scikit-learn's 1797 handwritten digits as 8×8 grey PNGs, ``<folder>/<digit>/
    <index>.png`` (intensity v ∈ 0..16 stored as round(255·v/16)), and return the folder.

    Kept at their true 8×8 resolution: upscaling would add pixels, not information.
    A real image folder for tests and examples with nothing to download.
    """
    folder = Path(folder)
    digits = load_builtin("digits_images")
    pixels = np.rint(digits.x.numpy()[:, 0] * (255 / 16)).astype(np.uint8)
    for index, (image, label) in enumerate(zip(pixels, digits.y.tolist(), strict=True)):
        target = folder / str(label)
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(target / f"{index:04d}.png")
    return folder
