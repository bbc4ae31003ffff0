import json

import pytest
import torch

from steepest.data.builtin import describe, load_builtin, names
from steepest.errors import UserError

SHAPES = {
    "digits": ((1797, 64), 10),
    "digits_images": ((1797, 1, 8, 8), 10),
    "iris": ((150, 4), 3),
    "wine": ((178, 13), 3),
    "breast_cancer": ((569, 30), 2),
    "diabetes": ((442, 10), None),
}


def test_names_are_the_configurable_ones():
    assert names() == list(SHAPES)


@pytest.mark.parametrize("name", list(SHAPES))
def test_shapes_classes_and_dtypes(name):
    examples = load_builtin(name)
    shape, n_classes = SHAPES[name]
    assert tuple(examples.x.shape) == shape
    assert examples.x.dtype == torch.float32
    if n_classes is None:
        assert examples.task == "regression" and examples.y.dtype == torch.float32
    else:
        assert examples.task == "classification" and examples.y.dtype == torch.int64
        assert len(examples.class_names) == n_classes
        assert set(examples.y.tolist()) == set(range(n_classes))
    names = [*(examples.class_names or []), *(examples.feature_names or [])]
    assert all(type(n) is str for n in names)  # a NumPy string in best.pt stops steepest.load


def test_digits_images_are_the_digits_reshaped():
    assert torch.equal(load_builtin("digits_images").x.flatten(1), load_builtin("digits").x)


def test_describe_counts_classes_and_is_json_ready():
    info = describe("iris")
    assert info["task"] == "classification"
    assert info["shape"] == [150, 4]
    assert info["classes"] == {"setosa": 50, "versicolor": 50, "virginica": 50}
    json.dumps(info)


def test_describe_regression_gives_target_range():
    info = describe("diabetes")
    assert info["target"]["min"] == 25.0 and info["target"]["max"] == 346.0


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UserError, match=r"name = 'mnist': expected one of digits, "):
        describe("mnist")
