"""Every shipped experiment file's [data] section loads: no key in it is refused as one
its source ignores, and its splits are not empty. Image folders are stood in for by
four tiny PNGs per class the file names (the real ones are downloaded or generated)."""

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from steepest.config import expand_grid
from steepest.data import load_dataset

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def _readme_experiment() -> dict:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"### An experiment file\n.*?```toml\n(.*?)```", readme, re.S)
    return tomllib.loads(block.group(1))


def _stand_in_folder(data: dict, root: Path) -> Path:
    """Class folders with the names the file's merge and classes refer to."""
    merged = [old for olds in data.get("merge", {}).values() for old in olds]
    kept = [name for name in data.get("classes", []) if name not in data.get("merge", {})]
    for name in merged + kept or ["a", "b"]:
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.mark.parametrize(
    "raw",
    [tomllib.loads(path.read_text()) for path in EXAMPLES] + [_readme_experiment()],
    ids=[path.name for path in EXAMPLES] + ["README"],
)
def test_the_data_of_each_example_loads(raw, tmp_path):
    assert EXAMPLES
    if "images" in raw["data"]:
        raw["data"]["images"] = str(_stand_in_folder(raw["data"], tmp_path / "images"))
    data = load_dataset(expand_grid(raw)[0].data)
    assert len(data.x_train) and len(data.x_val) and data.has_test
