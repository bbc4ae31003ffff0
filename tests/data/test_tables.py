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
    assert regression.y.dtype == torch.float64
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
        ("a,t\n1,x\n,y\n", {"target": "t"}, r"column 'a' .* missing value at line 3 \(''\)"),
        ("a,t\n1,x\nNA,y\n", {"target": "t"}, r"column 'a' .* missing value at line 3 \('NA'\)"),
        ("a,t\n1,x\ninf,y\n", {"target": "t"}, r"column 'a' .* non-finite value at line 3"),
        ("a,t\n1,2\n3,\n4,5\n", {"target": "t"}, r"column 't' .*: missing value at line 3"),
        # one "NA" among numbers must not turn a regression into hundreds of classes
        ("a,t\n1,2.5\n3,NA\n4,5\n", {"target": "t"}, r"column 't' .*: missing value at line 3"),
        ("a,t\n1,x\n\n\n2,y\n3,z,\n", {"target": "t"}, r"line 6 has 3 fields"),  # blanks count
        ("a,a,t\n1,2,x\n", {"target": "t"}, r"column 'a' appears twice .*columns 1 and 2"),
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


def test_numeric_labels_keep_every_digit_as_class_names(tmp_path):
    """Seven significant digits and more are not rounded together ("%g" made 1000001 and
    1000002 one class); "1.0" and "-0" name the classes 1 and 0."""
    path = _csv(tmp_path, "a,t\n1,1000001\n2,1000002\n3,2000001\n4,1.0\n5,-0\n6,0.1234567\n")
    classes = load_table(path, "t", task="classification")
    assert classes.class_names == ["0", "0.1234567", "1", "1000001", "1000002", "2000001"]
    assert classes.y.tolist() == [3, 4, 5, 2, 0, 1]


def test_semicolon_and_tab_separated_files_are_read_as_such(tmp_path):
    for separator in (";", "\t"):
        text = separator.join(["a", "b", "t"]) + "\n" + separator.join(["1", "2.5", "x"]) + "\n"
        examples = load_table(_csv(tmp_path, text), "t")
        assert examples.feature_names == ["a", "b"] and examples.x.tolist() == [[1.0, 2.5]]


def test_an_open_quote_in_a_large_file_is_one_line(tmp_path):
    """csv's field limit (128 KiB) is reached when a stray quote swallows the file."""
    rows = [f"{i},{i}" for i in range(20000)]
    rows[2] = '"' + rows[2]
    with pytest.raises(UserError, match=r"malformed CSV at line \d+ .*a quote left open"):
        load_table(_csv(tmp_path, "a,t\n" + "\n".join(rows) + "\n"), "t")


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_table(tmp_path / "absent.csv", "t")


def test_a_file_that_is_not_utf8_names_the_byte(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"\xef\xbb\xbfa,t\n1,caf\xe9\n")  # BOM kept in the count
    with pytest.raises(UserError, match=r"latin.csv': not UTF-8 text \(byte 12 is 0xe9\); save it"):
        load_table(path, "t")


def test_blank_lines_and_decimal_commas(tmp_path):
    """Blank lines (and lines of spaces, or of empty fields) before the header or between
    rows are skipped, and lines are counted as the file has them."""
    path = _csv(tmp_path, "\n   \na;b;t\n1;2;x\n;;\n\n3;4,5;y\n")
    with pytest.raises(UserError, match=r"column 'b' .*\(line 7: '4,5'\); numbers take a decimal"):
        load_table(path, "t")
    path = _csv(tmp_path, '\n\na,t\n1,"two\nlines"\n2,x,9\n')
    with pytest.raises(UserError, match=r"line 6 has 3 fields"):
        load_table(path, "t")


def test_none_and_na_are_classes_in_a_text_target(tmp_path):
    """'None' (no damage) and 'NA' (Namibia) name classes in a text column; only a blank
    is missing there. Among numbers they are still refused (a numeric target's NA)."""
    path = _csv(tmp_path, "a,damage\n1,None\n2,Minor\n3,NA\n4,Severe\n")
    assert load_table(path, "damage").class_names == ["Minor", "NA", "None", "Severe"]
    with pytest.raises(UserError, match=r"missing value at line 3"):
        load_table(_csv(tmp_path, "a,damage\n1,None\n2,\n3,Minor\n"), "damage")


def test_a_semicolon_file_whose_header_holds_a_comma(tmp_path):
    examples = load_table(_csv(tmp_path, "a;price, EUR;t\n1;2.5;x\n3;4;y\n"), "t")
    assert examples.feature_names == ["a", "price, EUR"]


def test_a_regression_target_keeps_its_digits_until_it_is_standardised(tmp_path):
    """1e6 + 0.001·i: float32 steps by 0.0625 there, which made 91 targets 3."""
    from steepest.config import DataConfig
    from steepest.data import load_dataset

    rows = [f"{i},{1_000_000 + 0.001 * i:.3f}" for i in range(91)]
    data = load_dataset(
        DataConfig(csv=_csv(tmp_path, "a,y\n" + "\n".join(rows) + "\n"), target="y")
    )
    y = torch.cat([data.y_train, data.y_val, data.y_test])
    assert y.dtype == torch.float32 and len(torch.unique(y)) == 91
