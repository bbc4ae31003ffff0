import pytest
import torch

from steepest.data.tables import load_table
from steepest.errors import UserError


def _csv(tmp_path, text, name="table.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_string_target_becomes_sorted_classes(tmp_path):
    path = _csv(tmp_path, "a,b,kind\n1,2,wasp\n3,4,bee\n5,6.5,wasp\n")
    examples = load_table(path, "kind")
    assert examples.task == "classification"
    assert examples.class_names == ["bee", "wasp"]
    assert examples.y.tolist() == [1, 0, 1]
    assert examples.feature_names == ["a", "b"]
    assert torch.equal(examples.x, torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.5]]))
    assert examples.name == "table"


def test_numeric_target_is_regression_unless_classification_is_asked(tmp_path):
    path = _csv(tmp_path, "x,y\n1,10\n2,2.0\n3,2\n4,1e1\n")
    regression = load_table(path, "y")
    assert regression.task == "regression"
    assert regression.y.dtype == torch.float32
    classes = load_table(path, "y", task="classification")
    assert classes.class_names == ["2", "10"]
    assert classes.y.tolist() == [1, 0, 0, 1]


def test_chosen_features_in_their_order_and_bom_and_spaces_ignored(tmp_path):
    path = _csv(tmp_path, "\ufeffa, b ,c,t\n1, 2,3,0\n4,5,6,1\n")
    examples = load_table(path, "t", features=["c", "a"])
    assert examples.x.tolist() == [[3.0, 1.0], [6.0, 4.0]]


def test_split_column_is_kept_out_of_features(tmp_path):
    path = _csv(tmp_path, "a,is_validation,t\n1,0,x\n2,1,y\n")
    examples = load_table(path, "t", split_column="is_validation")
    assert examples.feature_names == ["a"]
    assert examples.split_values == ["0", "1"]


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ("a,t\n1,x\n", {"target": "label"}, r"target = 'label': no such column .*a, t"),
        ("a,t\n1,x\n", {"target": "t", "features": ["b"]}, r"features = 'b': no such column"),
        ("a,c,t\n1,red,x\n", {"target": "t"}, r"column 'c' .* not numeric \(line 2: 'red'\)"),
        ("a,t\n1,x\n,y\n", {"target": "t"}, r"column 'a' .* not numeric \(line 3: ''\)"),
        ("a,t\n1,x\nnan,y\n", {"target": "t"}, r"column 'a' .* non-finite value at line 3"),
        (
            "a,t\n1,2\n3,\n4,5\n",
            {"target": "t"},
            r"column 't' in table.csv: blank target at line 3",
        ),
        ("a,t\n1,x\n2\n", {"target": "t"}, r"line 3 has 1 fields, the header has 2"),
        ("a,t\n", {"target": "t"}, r"no data rows"),
        ("a,t\n1,x\n", {"target": "t", "task": "regression"}, r"value 'x' is not a number"),
        ("a,t\n1,x\n", {"target": "t", "features": ["a", "t"]}, r"includes the target"),
    ],
)
def test_bad_tables_raise_one_line_naming_the_problem(tmp_path, text, kwargs, match):
    with pytest.raises(UserError, match=match) as error:
        load_table(_csv(tmp_path, text), **kwargs)
    assert "\n" not in str(error.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_table(tmp_path / "absent.csv", "t")


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"\xef\xbb\xbfa,t\n1,caf\xe9\n")  # BOM kept in the count
    with pytest.raises(UserError, match=r"latin.csv': not UTF-8 text \(byte 12 is 0xe9\); save it"):
        load_table(path, "t")
