"""`load_dataset`: a `DataConfig` → train/val/test tensors, preprocessed, in memory.

Everything downstream (the population draws batches by index) reads this one object.
"""

from dataclasses import dataclass

from torch import Tensor

from steepest.config import DataConfig
from steepest.data.builtin import load_builtin
from steepest.data.preprocess import Preprocessor
from steepest.data.source import Examples, Task
from steepest.data.splits import Split, column_split, random_split
from steepest.data.tables import load_table


@dataclass
class Dataset:
    """Three splits of one data set with what a model needs to know about them.

    x: float32 [N, F] features or [N, C, H, W] images, preprocessed with statistics of
    the training split only; y: int64 class indices or float32 targets.
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


def _examples(cfg: DataConfig) -> Examples:
    if cfg.name is not None:
        return load_builtin(cfg.name)
    if cfg.csv is not None:
        return load_table(cfg.csv, cfg.target, cfg.features, cfg.split_column)
    from steepest.data.images import load_images  # Pillow decoding only when needed

    return load_images(cfg)


def _split(cfg: DataConfig, examples: Examples) -> Split:
    if examples.split_values is not None:
        return column_split(
            examples.split_values, examples.y, examples.task, cfg.test_fraction, cfg.seed
        )
    return random_split(examples.y, examples.task, cfg.val_fraction, cfg.test_fraction, cfg.seed)


def load_dataset(cfg: DataConfig) -> Dataset:
    """Load, split (seeded, stratified for classification) and preprocess (fitted on the
    training split, applied to all three)."""
    examples = _examples(cfg)
    split = _split(cfg, examples)
    x = examples.x.float()
    preprocessor = Preprocessor(cfg.preprocess, cfg.pca).fit(x[split.train])
    x_train, x_val, x_test = (
        preprocessor.transform(x[i]) for i in (split.train, split.val, split.test)
    )
    return Dataset(
        x_train=x_train,
        y_train=examples.y[split.train],
        x_val=x_val,
        y_val=examples.y[split.val],
        x_test=x_test,
        y_test=examples.y[split.test],
        task=examples.task,
        class_names=examples.class_names,
        feature_names=examples.feature_names,
        input_shape=tuple(x_train.shape[1:]),
        preprocessor=preprocessor,
        name=examples.name,
    )
