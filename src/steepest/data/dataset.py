"""`load_dataset`: a `[data]` section → split, preprocessed tensors in memory.

load (built-in, CSV table or images) → split (seeded; stratified for classes, or a
split column) → images as uint8 scaled to [0, 1] → `Preprocessor` fitted on the
training split only → every split transformed; regression targets standardised with the
training split's mean and deviation (``scale_target``). No DataLoader: the population
draws batches by index.
"""

import hashlib
from dataclasses import dataclass

import torch
from torch import Tensor

from steepest.config import DataConfig
from steepest.data.builtin import load_builtin
from steepest.data.images import load_images
from steepest.data.preprocess import Preprocessor, target_statistics
from steepest.data.source import Examples, Task, as_float
from steepest.data.splits import Split, column_split, random_split
from steepest.data.tables import load_table
from steepest.errors import UserError


@dataclass
class Dataset:
    """Train/validation/test tensors of one data set, preprocessed.

    x_*: float32 [N, *input_shape]; y_*: int64 class indices [N] (classification) or
    float32 [N] targets (regression), as (y − target_shift) / target_scale: the training
    split's mean and standard deviation with ``scale_target`` (0 and 1 otherwise, and
    for classes). `preprocessor` is fitted on x_train; save its `state_dict()` with a
    checkpoint to transform new inputs the same way.
    """

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    task: Task
    class_names: list[str] | None
    feature_names: list[str] | None
    input_shape: tuple[int, ...]
    preprocessor: Preprocessor
    name: str
    uint8_pixels: bool = False  # raw inputs were uint8 pixels, scaled by 1/255 (images)
    target_shift: float = 0.0
    target_scale: float = 1.0
    raw_feature_names: list[str] | None = None  # the inputs' columns, before any PCA
    fingerprint: str = ""  # `_fingerprint` of the examples as read, and their split

    @property
    def scales_target(self) -> bool:
        """Whether the targets were standardised (a regression with ``scale_target``)."""
        return (self.target_shift, self.target_scale) != (0.0, 1.0)

    @property
    def has_test(self) -> bool:
        """Whether there is a test split: load_dataset leaves it empty only when
        test_fraction = 0 asks for none."""
        return len(self.y_test) > 0


# Keys that only one kind of source reads, by the `[data]` key naming that source.
_SOURCE_KEYS = {
    "csv": ("target", "features"),
    "images": ("image_size", "grayscale", "fit", "classes", "merge", "path_column", "label_column"),
}


def _refuse_keys_that_do_not_apply(cfg: DataConfig) -> None:
    """A key the user set that this source ignores is refused, not silently dropped (say,
    `features` beside a built-in set, which would train on every feature). Only keys the
    user set count (`model_fields_set`): defaults apply to nothing."""
    for source, keys in _SOURCE_KEYS.items():
        if getattr(cfg, source) is None:
            for key in keys:
                if key in cfg.model_fields_set:
                    raise UserError(f"[data] {key}: applies to {source} only")
    if cfg.name is not None and cfg.split_column is not None:
        raise UserError("[data] split_column: applies to a CSV or images, not built-in sets")
    if cfg.images is None and cfg.name != "digits_images" and cfg.augment.model_fields_set:
        key = sorted(cfg.augment.model_fields_set)[0]
        raise UserError(f"[data.augment] {key}: applies to images or digits_images only")


def _refuse_single_class(examples: Examples) -> None:
    """One class leaves nothing to tell apart: the network would learn a constant."""
    if examples.class_names is not None and len(examples.class_names) < 2:
        raise UserError(
            f"[data] {examples.name!r} has only one class ({examples.class_names[0]!r}); "
            "classification needs at least 2"
        )


def _examples(cfg: DataConfig, task: Task | None) -> Examples:
    _refuse_keys_that_do_not_apply(cfg)
    if cfg.name is not None:
        examples = load_builtin(cfg.name)
    elif cfg.csv is not None:
        assert cfg.target is not None  # DataConfig requires it with csv
        examples = load_table(cfg.csv, cfg.target, cfg.features, cfg.split_column, task)
    else:
        examples = load_images(cfg)
    _refuse_single_class(examples)
    if examples.task == "classification" and "scale_target" in cfg.model_fields_set:
        raise UserError(
            f"[data] scale_target: applies to regression targets; {examples.name!r} has classes"
        )
    return examples


def _split(examples: Examples, cfg: DataConfig) -> Split:
    if examples.split_values is not None:
        return column_split(
            examples.split_values,
            examples.y,
            examples.task,
            cfg.val_fraction,
            cfg.test_fraction,
            cfg.seed,
        )
    return random_split(examples.y, examples.task, cfg.val_fraction, cfg.test_fraction, cfg.seed)


# What to change when a split comes out empty.
_REMEDY = {
    "training": "name some rows train in split_column, or use more data",
    "validation": "use a larger val_fraction or more data",
    "test": "use a larger test_fraction (0 for no test set) or more data",
}


def _refuse_empty_splits(split: Split, examples: Examples, cfg: DataConfig) -> None:
    """Training and validation need examples (validation picks the best epoch); test may
    be empty only when test_fraction = 0 asks for no test set. Rounding empties a split
    of few examples: n·fraction < ½ of each class."""
    parts = {"training": split.train, "validation": split.val, "test": split.test}
    if cfg.test_fraction == 0:
        del parts["test"]
    for part, indices in parts.items():
        if len(indices) == 0:
            raise UserError(
                f"[data] {examples.name!r}: the {part} split is empty "
                f"({_sizes(examples)}); {_REMEDY[part]}"
            )


def _sizes(examples: Examples) -> str:
    """How many examples there are to cut, class by class for classification."""
    text = f"{len(examples.y)} examples"
    if examples.task == "classification":
        smallest = int(torch.bincount(examples.y).min())
        text += f"; each class is cut separately, and the smallest has {smallest}"
    return text


def _fingerprint(examples: Examples, split: Split) -> str:
    """A digest of the examples as read (before any fitted transform, whose rounding
    follows the thread count: a PCA's SVD differs at 1 and 2 threads) and of their split.
    A file added to an image folder reshuffles the seeded split: a resumed run, or a
    study, must not go on with validation examples that were training examples before."""
    digest = hashlib.sha256()
    for tensor in (examples.x, examples.y, split.train, split.val, split.test):
        digest.update(str((tensor.dtype, tuple(tensor.shape))).encode())
        digest.update(tensor.contiguous().numpy())  # its buffer: a copy of every pixel was made
    return digest.hexdigest()


def load_dataset(cfg: DataConfig, task: Task | None = None) -> Dataset:
    """Load, split and preprocess the data `cfg` names.

    `task`, when given (the loss decides), is how a CSV's target is read: with
    ``task="classification"`` numeric values become classes. Built-in sets and images
    have a task of their own, which the caller checks against its loss
    (`steepest.training.task_for` names the loss and the data in its message).
    Refused in one line: a key the source ignores (``scale_target`` for classes), a
    single class, and an empty training or validation split; the test split is empty
    only when test_fraction = 0 (`Dataset.has_test`).
    """
    examples = _examples(cfg, task)
    x = as_float(examples.x)
    split = _split(examples, cfg)
    _refuse_empty_splits(split, examples, cfg)
    preprocessor = Preprocessor(cfg.preprocess, cfg.pca).fit(x[split.train])
    xs = [preprocessor.transform(x[part]) for part in (split.train, split.val, split.test)]
    ys = [examples.y[part] for part in (split.train, split.val, split.test)]
    shift, scale = 0.0, 1.0
    if examples.task == "regression":
        if cfg.scale_target:  # in float64: a CSV's 1e6 ± 0.03 keeps its digits
            shift, scale = target_statistics(ys[0])
            ys = [(y.double() - shift) / scale for y in ys]
        ys = [y.float() for y in ys]
    feature_names = examples.feature_names
    if preprocessor.components is not None:
        feature_names = [f"pc{i + 1}" for i in range(len(preprocessor.components))]
    return Dataset(
        xs[0],
        ys[0],
        xs[1],
        ys[1],
        xs[2],
        ys[2],
        task=examples.task,
        class_names=examples.class_names,
        feature_names=feature_names,
        input_shape=tuple(xs[0].shape[1:]),
        preprocessor=preprocessor,
        name=examples.name,
        uint8_pixels=examples.x.dtype == torch.uint8,
        target_shift=shift,
        target_scale=scale,
        raw_feature_names=examples.feature_names,
        fingerprint=_fingerprint(examples, split),
    )
