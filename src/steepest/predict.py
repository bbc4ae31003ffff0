"""A saved run as a predictor: `best.pt` → the best member's network behind the
preprocessing fitted on its training split, so new data is scaled exactly as the training
data was.

    model = steepest.load("runs/digits/best.pt")
    model.predict(x)          # class indices (or values for regression) for raw inputs
    model.labels(x)           # class names

Raw inputs are what the data source yields before preprocessing: feature tables as
float [N, F], images as uint8 [N, C, S, S] (divided by 255, as in training).
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from steepest.config import ModelConfig
from steepest.data.preprocess import Preprocessor
from steepest.data.source import as_float
from steepest.errors import UserError, first_line
from steepest.nn import build_model, replace_torch_dropout
from steepest.nn.user import network_from


@dataclass
class Predictor:
    """The network (eval mode) and its preprocessing; `task` is classification or
    regression, `loss` the training loss (it decides how outputs become classes)."""

    network: nn.Module
    preprocessor: Preprocessor
    class_names: list[str] | None
    task: str
    loss: str

    @torch.no_grad()
    def outputs(self, x: Tensor) -> Tensor:
        """The network's raw outputs for raw inputs x."""
        return self.network(self.preprocessor.transform(as_float(x)))

    def predict(self, x: Tensor) -> Tensor:
        """Class indices (argmax; sign of the one logit for `logistic`) or regression values."""
        out = self.outputs(x)
        if self.task == "regression":
            return out.squeeze(-1)
        if self.loss == "logistic":
            return (out.squeeze(-1) > 0).long()
        return out.argmax(dim=-1)

    def labels(self, x: Tensor) -> list[str]:
        """Class names of the predictions (classification only)."""
        if self.class_names is None:
            raise UserError("labels(): this run is a regression; use predict()")
        return [self.class_names[i] for i in self.predict(x).tolist()]


def load(path: str | Path, model: Callable[[], nn.Module] | None = None) -> Predictor:
    """The predictor a run saved as `best.pt` (see `steepest.training.write_outputs`).
    A run of your own network (`steepest.train(..., model=...)`) needs the same `model`
    function again: the checkpoint holds weights, not code."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint (a run writes OUT/best.pt)")
    # write_outputs saves tensors and JSON-like values only: no pickled code to trust
    saved = torch.load(path, map_location="cpu", weights_only=True)
    module = saved["experiment"]["model"].get("module")
    if saved.get("own_network") and model is None:
        raise UserError(f"{path}: a run of your own network; pass its model= function to load")
    if model is None and module is not None:
        model = network_from(module)  # [model] module: import it again
    if model is not None:
        network = replace_torch_dropout(model())  # as training built it
    else:
        config = ModelConfig.model_validate(saved["experiment"]["model"])  # not [data]:
        # its paths need not exist where the predictor is used
        shape, outputs = tuple(saved["input_shape"]), saved["out_features"]
        network = build_model(config, shape, outputs, config.dropout > 0)
    try:
        network.load_state_dict(saved["state"])
    except RuntimeError as error:  # a model= function that builds another network
        raise UserError(
            f"{path}: its weights do not fit this network ({first_line(error)})"
        ) from None
    preprocessor = Preprocessor()
    preprocessor.load_state_dict(saved["preprocessor"])
    loss = saved["experiment"]["train"]["loss"]
    return Predictor(network.eval(), preprocessor, saved["class_names"], saved["task"], loss)
