"""The image path end to end on real files: PNG class folders → decode → cache → CNN →
tune → report, through the shipped examples; and the bee-vs-wasp example on a small
stand-in folder of the public data set's layout."""

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from optuna.trial import TrialState
from PIL import Image

from steepest.cli import main
from steepest.config import load_experiments
from steepest.data import images, load_dataset
from steepest.training import train
from steepest.tune.study import load_study

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# The bee-vs-wasp layout: folder → (label in labels.csv, a colour to draw photos from).
BEE_FOLDERS = {
    "bee1": ("bee", (225, 175, 40)),
    "bee2": ("bee", (235, 190, 70)),
    "wasp1": ("wasp", (60, 50, 20)),
    "wasp2": ("wasp", (80, 70, 30)),
    "other_insect": ("insect", (90, 160, 60)),
    "other_noinsect": ("other", (60, 110, 200)),
}
PHOTOS_PER_FOLDER = 6


def copy_example(name: str, tmp_path: Path, **values: str) -> tuple[Path, Path]:
    """examples/`name` copied to tmp_path/examples/ with every ``key = …`` line of each
    given key set to its value; returns (the copy, the image folder it points at)."""
    text = (EXAMPLES / name).read_text()
    for key, value in values.items():
        text, count = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
        assert count, f"{name} has no {key} line"
    path = tmp_path / "examples" / name
    path.parent.mkdir()
    path.write_text(text)
    folder = path.parent / tomllib.loads(text)["data"]["images"]
    folder.parent.mkdir(parents=True, exist_ok=True)
    return path, folder


def write_bee_folder(root: Path) -> None:
    """JPEGs of assorted sizes, noisy around each folder's colour, plus labels.csv with
    Windows separators, as in the public set."""
    rng = np.random.default_rng(0)
    rows = ["id,path,label"]
    for folder, (label, colour) in BEE_FOLDERS.items():
        (root / folder).mkdir(parents=True)
        for i in range(PHOTOS_PER_FOLDER):
            height, width = rng.integers(48, 100, size=2)
            noise = rng.normal(0, 25, (height, width, 3))
            pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / folder / f"{i}.jpg", quality=90)
            rows.append(f"{len(rows)},{folder}\\{i}.jpg,{label}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")


def refuse_to_decode(*args: object) -> None:
    raise AssertionError("decoded although cached")


@pytest.mark.slow
def test_digits_cnn_example_reaches_97_percent_then_loads_from_the_cache(
    tmp_path, digits_folder, cache_dir, capsys, monkeypatch
):
    path, folder = copy_example("digits_cnn.toml", tmp_path)
    folder.symlink_to(digits_folder)
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == "classification" and summary["test_accuracy"] >= 0.97
    assert len(list((cache_dir / "images").glob("*.pt"))) == 1

    monkeypatch.setattr(images, "decode_images", refuse_to_decode)
    again = load_dataset(load_experiments(path)[0].data)
    assert again.input_shape == (1, 8, 8) and len(again.class_names) == 10


@pytest.mark.slow
def test_digits_cnn_tune_example_completes_and_reports(tmp_path, digits_folder, capsys):
    path, folder = copy_example(
        "digits_cnn_tune.toml", tmp_path, trials="16", epochs="4", channels="[8, 16]"
    )
    folder.symlink_to(digits_folder)
    storage = tmp_path / "study.log"
    assert main(["tune", str(path), "--storage", str(storage), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trials"] == 16 and summary["best_value"] > 0.9
    trials = load_study(str(storage)).trials
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    populations: dict[int, set[int]] = {}  # crop_padding → populations that trained it
    for trial in trials:
        populations.setdefault(trial.params["crop_padding"], set()).add(
            trial.user_attrs["population"]
        )
    assert len(populations) > 1
    assert sum(map(len, populations.values())) == len(set().union(*populations.values()))

    report = tmp_path / "report.html"
    assert main(["report", str(storage), "-o", str(report)]) == 0
    assert report.stat().st_size > 10_000
    # the same file resumes: its searched [data.augment] key is no setting the trials share
    capsys.readouterr()
    assert main(["tune", str(path), "--storage", str(storage), "--trials", "17", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trials"] == 17


@pytest.mark.slow
def test_bees_vs_wasps_example_merges_filters_and_trains(tmp_path, monkeypatch, capsys):
    path, folder = copy_example("bees_vs_wasps.toml", tmp_path, epochs="2")
    write_bee_folder(folder)
    monkeypatch.chdir(tmp_path)  # the example's runs/ lands here

    run = train(path)
    assert run.dataset.class_names == ["bee", "wasp"]
    assert run.dataset.input_shape == (3, 64, 64)
    splits = (run.dataset.y_train, run.dataset.y_val, run.dataset.y_test)
    assert sum(len(y) for y in splits) == 4 * PHOTOS_PER_FOLDER
    assert [row["epoch"] for row in run.history] == [1, 2]
    assert (tmp_path / "runs" / "bees_vs_wasps" / "best.pt").is_file()

    assert main(["tune", str(path), "--trials", "4", "--seed", "1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["failed"] == 0 and summary["complete"] + summary["pruned"] == 4


def test_data_pngs_writes_the_digits_once(tmp_path, capsys):
    target = tmp_path / "digits"
    assert main(["data", "pngs", str(target)]) == 0
    assert str(target) in capsys.readouterr().out
    assert sorted(p.name for p in target.iterdir()) == [str(d) for d in range(10)]
    assert sum(1 for _ in target.glob("*/*.png")) == 1797
    assert main(["data", "pngs", str(target)]) == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert main(["data", "pngs"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
