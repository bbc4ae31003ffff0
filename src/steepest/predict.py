"""A saved run as a predictor: `best.pt` → the best member's network behind the
preprocessing fitted on its training split, so new data is scaled exactly as the training
data was.

    model = steepest.load("runs/digits/best.pt")
    model.predict(x)          # class indices (or values for regression, in the data's
                              # units) for raw inputs
    model.labels(x)           # class names
    model.labels(model.read_images(["photo.jpg"]))   # image files, decoded as in training

Raw inputs are what the data source yields before preprocessing: feature tables as
float [N, F], image files' pixels as uint8 [N, C, S, S] (divided by 255, as in
training) or floats already in [0, 1]; a tensor, a NumPy array or nested lists (of
0–255 integers, for image files).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from steepest.config import ModelConfig
from steepest.data.decode import decode_images
from steepest.data.preprocess import Preprocessor
from steepest.data.source import as_float
from steepest.errors import UserError
from steepest.nn import build_model, replace_torch_dropout
from steepest.nn.user import network_factory, network_from


@dataclass
class Predictor:
    """The network (eval mode) and its preprocessing; `task` is classification or
    regression, `loss` the training loss (it decides how outputs become classes),
    `input_shape` the shape of one raw example; `uint8_pixels` whether training read
    the inputs as uint8 pixels (image files): otherwise uint8 inputs are numbers. A
    regression trained on targets (y − target_shift) / target_scale (``[data]
    scale_target``) predicts target_shift + target_scale·f. `feature_names`: a table's
    columns in the order `predict` takes them (None for images and older checkpoints)."""

    network: nn.Module
    preprocessor: Preprocessor
    class_names: list[str] | None
    task: str
    loss: str
    input_shape: tuple[int, ...]
    uint8_pixels: bool | None = None  # None: a checkpoint from before 2026-12-02
    target_shift: float = 0.0
    target_scale: float = 1.0
    feature_names: list[str] | None = None
    decoding: dict[str, Any] | None = None  # image files: image_size, grayscale, fit

    def read_images(self, paths: Sequence[str | Path] | str | Path) -> Tensor:
        """Image files (or one) as the uint8 pixels [N, C, S, S] `predict` takes, decoded
        as training decoded its folder: EXIF rotation, transparency on black, 16-bit to
        8, grey or RGB, and the centre square (or padding) at the trained size. A resize
        of the whole photo would squash it and lose accuracy to that alone."""
        if self.decoding is None:
            raise UserError("read_images(): this model was not trained on image files")
        paths = [paths] if isinstance(paths, str | Path) else list(paths)
        if not paths:
            raise UserError("read_images(): no files given")
        missing = [path for path in paths if not Path(path).is_file()]
        if missing:
            what = "a folder: give its image files" if Path(missing[0]).is_dir() else "no such file"
            raise UserError(f"read_images(): {missing[0]}: {what}")
        images, readable = decode_images([Path(path) for path in paths], **self.decoding)
        unreadable = [path for path, ok in zip(paths, readable, strict=True) if not ok]
        if unreadable:
            raise UserError(f"read_images(): {unreadable[0]}: not an image Pillow can read")
        return torch.from_numpy(images)

    @torch.no_grad()
    def outputs(self, x: Any) -> Tensor:
        """The network's raw outputs for raw inputs x [N, *input_shape] (a regression's in
        standardised units, see the class). A wrong width is refused: the preprocessing
        statistics would broadcast against it silently."""
        if isinstance(x, np.ndarray) and not x.flags.writeable:  # np.asarray(a PIL image):
            x = x.copy()  # torch would warn that it cannot share read-only memory
        try:
            x = torch.as_tensor(x)
        except (TypeError, RuntimeError, ValueError):  # "abc", None, ragged lists
            if isinstance(x, np.ndarray):  # text read from a CSV, mixed rows (object)
                raise UserError(
                    f"predict: a NumPy array of {x.dtype}; expected numbers "
                    "(x.astype(float) converts text that holds them)"
                ) from None
            raise UserError(
                f"predict: inputs of type {type(x).__name__}; expected a tensor, a NumPy "
                "array or a list of rows of numbers"
            ) from None
        if not (x.is_floating_point() or x.dtype in _WHOLE_NUMBERS):
            raise UserError(f"predict: inputs of {x.dtype}; expected numbers")
        if tuple(x.shape[1:]) != self.input_shape:
            expected = ", ".join(str(size) for size in ("N", *self.input_shape))
            raise UserError(
                f"predict: inputs of shape {list(x.shape)}; this model takes [{expected}]"
            )
        if x.is_floating_point() and not torch.isfinite(x).all():  # training refuses them:
            row = (~torch.isfinite(x)).flatten(1).any(1).nonzero()[0, 0].item()  # the network
            raise UserError(  # would give NaN, and argmax of NaNs class 0
                f"predict: row {row} holds NaN or infinity; expected finite numbers"
            )
        if self.uint8_pixels:
            x = as_float(_pixels(x))
        elif self.uint8_pixels is False:  # numbers, whatever their type: uint8 too; in
            x = x.to(torch.float64)  # float64 until scaled, as training's tables were
        else:  # an older checkpoint: uint8 read as pixels, as it then was
            x = as_float(x)
        dtype = next(self.network.parameters()).dtype
        return self.network(self.preprocessor.transform(x).to(dtype))

    def predict(self, x: Any) -> Tensor:
        """Class indices (argmax; sign of the one logit for `logistic`) or regression values
        in the data's units."""
        out = self.outputs(x)
        if self.task == "regression":  # in float64, as training keeps the targets: 1e6 ±
            # 0.03 in float32 steps by 1/16
            return self.target_shift + self.target_scale * out.squeeze(-1).double()
        if self.loss == "logistic":
            return (out.squeeze(-1) > 0).long()
        return out.argmax(dim=-1)

    def labels(self, x: Any) -> list[str]:
        """Class names of the predictions (classification only)."""
        if self.class_names is None:
            raise UserError("labels(): this run is a regression; use predict()")
        return [self.class_names[i] for i in self.predict(x).tolist()]


def load(path: str | Path, model: Callable[[], nn.Module] | None = None) -> Predictor:
    """The predictor a run saved as `best.pt` (see `steepest.training.write_outputs`).
    A run of your own network (`steepest.train(..., model=...)`) needs the same `model`
    function again: the checkpoint holds weights, not code."""
    path = Path(path)
    model = network_factory(model)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint (a run writes OUT/best.pt)")
    saved = _read_checkpoint(path)
    module = saved["experiment"]["model"].get("module")
    if saved.get("own_network") and model is None:
        raise UserError(f"{path}: a run of your own network; pass its model= function to load")
    if model is None and module is not None:
        model = network_from(module)  # [model] module: import it again
    with torch.random.fork_rng(devices=[]):  # the weights drawn here are replaced below:
        if model is not None:  # the caller's RNG must not move for them
            network = replace_torch_dropout(model())  # as training built it
        else:
            config = ModelConfig.model_validate(saved["experiment"]["model"])  # not [data]:
            # its paths need not exist where the predictor is used
            shape, outputs = tuple(saved["input_shape"]), saved["out_features"]
            network = build_model(config, shape, outputs, config.dropout > 0)
    mismatch = _mismatch(network.state_dict(), saved["state"])
    if mismatch:  # a model= function that builds another network
        raise UserError(f"{path}: its weights do not fit this network ({mismatch})")
    network.load_state_dict(saved["state"])
    preprocessor = Preprocessor()
    preprocessor.load_state_dict(saved["preprocessor"])
    loss = saved["experiment"]["train"]["loss"]
    raw_shape = tuple(saved["input_shape"])  # after preprocessing: PCA changes the width
    if preprocessor.components is not None:
        raw_shape = (preprocessor.components.shape[1],)
    pixels = saved.get("uint8_pixels")  # absent from checkpoints before 2026-12-02
    target = saved.get("target", {"shift": 0.0, "scale": 1.0})  # absent before 2026-12-02
    data = saved["experiment"]["data"]
    decoding = None
    if data.get("images") is not None:
        decoding = {"size": data["image_size"], "grayscale": data["grayscale"], "fit": data["fit"]}
    return Predictor(
        network.eval(),
        preprocessor,
        saved["class_names"],
        saved["task"],
        loss,
        raw_shape,
        pixels,
        target["shift"],
        target["scale"],
        saved.get("feature_names"),
        decoding,
    )


def _mismatch(expected: dict[str, Tensor], saved: dict[str, Tensor]) -> str:
    """What keeps `saved` from loading where `expected` is: the names the network has and
    the checkpoint lacks, those it has over, and shapes that differ (three of each at
    most); "" when it loads. torch's own message spreads them over several lines."""

    def some(names: list[str]) -> str:
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    missing = [name for name in expected if name not in saved]
    extra = [name for name in saved if name not in expected]
    shapes = [
        f"{name} saved {list(saved[name].shape)}, here {list(tensor.shape)}"
        for name, tensor in expected.items()
        if name in saved and saved[name].shape != tensor.shape
    ]
    parts = [
        f"{what}: {some(names)}"
        for what, names in (
            ("not in the checkpoint", missing),
            ("not in this network", extra),
            ("other shapes", shapes),
        )
        if names
    ]
    return "; ".join(parts)


def _pixels(x: Tensor) -> Tensor:
    """Image inputs as training saw them: uint8 as they are, other integers (nested
    lists) as the 0–255 pixels they must be, floats as already scaled to [0, 1]. Anything
    else is refused: float pixels of 0–255 would reach the network 255 times too bright."""
    if x.dtype == torch.uint8:
        return x
    if not x.is_floating_point():
        if x.numel() and (x.min() < 0 or x.max() > 255):
            raise UserError("predict: integer pixels must lie in 0–255")
        return x.to(torch.uint8)
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise UserError(
            "predict: float pixels must lie in [0, 1] (divide 0–255 pixels by 255, or pass uint8)"
        )
    return x


_WHOLE_NUMBERS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
_CHECKPOINT_KEYS = {"experiment", "state", "preprocessor", "class_names", "input_shape", "task"}


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """best.pt's contents, or a one-line error for any other file."""
    try:
        # write_outputs saves tensors and JSON-like values only: no pickled code to trust
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch.load's errors for a foreign file are many and long
        saved = None
    if not isinstance(saved, dict) or not _CHECKPOINT_KEYS <= saved.keys():
        raise UserError(f"{path}: not a checkpoint written by steepest (a run's best.pt)")
    return saved
