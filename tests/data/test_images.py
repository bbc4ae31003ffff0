import os
import subprocess
import sys
import unicodedata
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from steepest.config import DataConfig
from steepest.data import decode, images
from steepest.data.builtin import load_builtin
from steepest.data.images import load_images
from steepest.errors import UserError


def _save(path, array, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path, **options)
    return path


def _flat(value, size=12, channels=3):
    return np.full((size, size, channels), value, np.uint8)


def _palette(value, size=12):
    """A palette image whose pixels are all index 0 = grey `value`."""
    image = Image.new("P", (size, size), 0)
    image.putpalette([value] * 3 + [255, 0, 0])
    return image


@pytest.fixture
def folder(tmp_path):
    """cat: RGB PNG, grey PNG, JPEG; dog: RGBA PNG, palette PNG, palette with transparency."""
    root = tmp_path / "pets"
    _save(root / "cat" / "a.png", _flat(200))
    _save(root / "cat" / "b.png", _flat(90)[..., 0])
    _save(root / "cat" / "c.JPG", _flat(128), quality=95)
    rgba = _flat(255, channels=4)
    rgba[..., 3] = 0  # fully transparent white → black
    _save(root / "dog" / "d.png", rgba)
    _palette(60).save(root / "dog" / "e.png")
    _palette(30).save(root / "dog" / "f.gif", transparency=1)  # index 1 unused: all opaque
    (root / "dog" / "notes.txt").write_text("ignored: not an image suffix")
    (root / ".hidden").mkdir()
    return root


def _load(**settings):
    return load_images(DataConfig(**{"image_size": 8, **settings}))


def test_folder_layout_every_mode_to_rgb(folder):
    examples = _load(images=folder)
    assert examples.class_names == ["cat", "dog"]
    assert examples.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert examples.x.shape == (6, 3, 8, 8) and examples.x.dtype == torch.uint8
    means = examples.x.float().mean(dim=(1, 2, 3))
    assert means[[0, 1, 3, 4, 5]].tolist() == [200, 90, 0, 60, 30]
    assert abs(means[2].item() - 128) < 3  # JPEG is lossy
    assert examples.name == "pets"


def test_grayscale_gives_one_channel(folder):
    examples = _load(images=folder, grayscale=True)
    assert examples.x.shape == (6, 1, 8, 8)
    assert examples.x[0].float().mean().item() == 200


def test_crop_keeps_the_centre_and_pad_adds_black_bands(tmp_path):
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, 10:20] = 255  # a white centre square between black sides
    _save(tmp_path / "shapes" / "a" / "wide.png", wide)
    crop = _load(images=tmp_path / "shapes", image_size=10, fit="crop").x[0]
    pad = _load(images=tmp_path / "shapes", image_size=12, fit="pad").x[0]
    assert torch.all(crop == 255)
    assert torch.all(pad[:, :4] == 0) and torch.all(pad[:, -4:] == 0)
    assert pad[:, 4:8].float().mean() > 60  # the picture, squeezed into the middle rows


def test_exif_orientation_is_applied(tmp_path):
    wide = Image.fromarray(np.full((10, 30, 3), 255, np.uint8))
    exif = wide.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the photo is tall
    (tmp_path / "photos" / "a").mkdir(parents=True)
    wide.save(tmp_path / "photos" / "a" / "phone.jpg", exif=exif)
    pad = _load(images=tmp_path / "photos", image_size=12, fit="pad", grayscale=True).x[0, 0]
    assert torch.all(pad[:, :4] == 0) and torch.all(pad[:, -4:] == 0)
    assert torch.all(pad[:, 4:8] > 200)


def test_merge_then_filter_classes(folder):
    _save(folder / "fox" / "g.png", _flat(10))
    merged = _load(images=folder, merge={"pet": ["cat", "dog"]})
    assert merged.class_names == ["fox", "pet"]
    assert merged.y.tolist() == [1] * 6 + [0]
    chosen = _load(images=folder, classes=["fox", "cat"])
    assert chosen.class_names == ["fox", "cat"]
    assert chosen.y.tolist() == [1, 1, 1, 0]


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"classes": ["cow"]}, r"classes: no class 'cow'; expected one of cat, dog"),
        ({"merge": {"pet": ["cow"]}}, r"merge.pet: no class 'cow'; expected one of cat, dog"),
        ({"split_column": "is_val"}, r"split_column = 'is_val': needs images = a CSV"),
        ({"path_column": "file"}, r"path_column = 'file': needs images = a CSV"),
        ({"classes": ["cat", "cat", "dog"]}, r"^\[data\] classes: 'cat' is listed twice$"),
        ({"classes": []}, r"^\[data\] classes = \[\]: list the classes to keep \(cat, dog\)"),
        (
            {"merge": {"pet": ["cat", "dog"], "hound": ["dog"]}},
            r"^\[data\] merge.hound: class 'dog' is already merged into 'pet'$",
        ),
    ],
)
def test_bad_selection_names_the_value(folder, settings, match):
    with pytest.raises(UserError, match=match):
        _load(images=folder, **settings)


def test_csv_layout_with_windows_paths_and_split_column(folder):
    table = folder / "labels.csv"
    table.write_text(
        "path,label,is_validation\ncat\\a.png,feline,0\ncat/b.png,feline,1\ndog\\d.png,canine,0\n"
    )
    examples = _load(images=table, split_column="is_validation")
    assert examples.class_names == ["canine", "feline"]
    assert examples.y.tolist() == [1, 1, 0]
    assert examples.split_values == ["0", "1", "0"]
    assert examples.x.float().mean(dim=(1, 2, 3)).tolist() == [200, 90, 0]
    assert examples.name == "labels"  # the CSV's, not its folder's (which messages name)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("path,label\ncat/a.png,cat\ncat/b.png\n", r"line 3 has 1 fields, the header has 2"),
        ("path,label\ncat/a.png,cat\n\ncat/b.png,\n", r"line 4 has an empty path or label"),
        ("path,label\n", r"no data rows"),
    ],
)
def test_csv_short_row_or_no_rows_is_an_error(folder, text, match):
    table = folder / "labels.csv"
    table.write_text(text)
    with pytest.raises(UserError, match=match):
        _load(images=table)


def test_csv_labels_are_stripped_like_a_tables(folder):
    """A trailing space made "dog " a class of its own beside "dog"."""
    table = folder / "labels.csv"
    table.write_text("path,label\ncat/a.png,cat \ncat/b.png, cat\ndog/d.png,dog\n")
    assert _load(images=table).class_names == ["cat", "dog"]


def test_csv_not_utf8_names_the_byte(folder):
    table = folder / "labels.csv"
    table.write_bytes(b"path,label\ncat/a.png,caf\xe9\n")
    with pytest.raises(UserError, match=r"labels.csv': not UTF-8 text \(byte 24 is 0xe9\); save"):
        _load(images=table)


def test_csv_missing_column_lists_the_columns(folder):
    table = folder / "labels.csv"
    table.write_text("file,label\ncat/a.png,cat\n")
    with pytest.raises(UserError, match=r"path_column = 'path': no such column .*file, label"):
        _load(images=table)


def test_second_load_hits_the_cache_and_touching_a_file_misses(folder, monkeypatch, cache_dir):
    first = _load(images=folder)
    assert len(list((cache_dir / "images").glob("*.pt"))) == 1

    def refuse(*args):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(images, "decode_images", refuse)
    assert torch.equal(_load(images=folder).x, first.x)
    stat = (folder / "cat" / "a.png").stat()
    os.utime(folder / "cat" / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded although cached"):
        _load(images=folder)


def test_new_entry_replaces_the_stale_one(folder, cache_dir):
    _load(images=folder)
    _save(folder / "cat" / "z.png", _flat(1))
    assert len(_load(images=folder).y) == 7
    assert len(list((cache_dir / "images").glob("*.pt"))) == 1


def test_unreadable_files_skipped_with_one_warning(folder):
    (folder / "cat" / "empty.jpg").write_bytes(b"")
    (folder / "cat" / "text.png").write_text("not a picture")
    jpeg = _save(folder / "dog" / "cut.jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3)))
    jpeg.write_bytes(jpeg.read_bytes()[:400])
    with pytest.warns(UserWarning, match=r"skipped 3 unreadable image files") as caught:
        examples = _load(images=folder)
    assert len(caught) == 1
    assert "cat/empty.jpg" in str(caught[0].message) and "dog/cut.jpg" in str(caught[0].message)
    assert len(examples.y) == 6
    with pytest.warns(UserWarning, match=r"skipped 3"):  # a cached load still says so
        _load(images=folder)


def test_the_command_prints_the_skip_as_one_line(folder):
    """The warning reaches a `steepest` user as one line like its errors, not Python's
    `file.py:58: UserWarning:` with the source line below it."""
    (folder / "cat" / "text.png").write_text("not a picture")
    (folder / "owl").mkdir()  # and an error after it, so no training runs
    experiment = folder.parent / "exp.toml"
    experiment.write_text(f'[data]\nimages = "{folder}"\n')
    command = [sys.executable, "-m", "steepest.cli", "train", str(experiment), "--quiet"]
    cache = {**os.environ, "STEEPEST_CACHE_DIR": str(folder.parent / "cache")}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=cache)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"steepest: warning: skipped 1 unreadable image files in {folder}: cat/text.png",
        f"steepest: error: [data] images = '{folder}': class 'owl' has no readable images "
        "directly in its folder (subfolders are not read); fill it, or keep the other "
        "classes with classes = [...]",
    ]


def test_class_of_only_unreadable_files_is_an_error(folder):
    (folder / "owl").mkdir()
    (folder / "owl" / "bad.png").write_bytes(b"\x89PNG broken")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UserError, match=r"class 'owl' has no readable images"):
            _load(images=folder)


def test_hidden_files_are_skipped_like_hidden_folders(folder):
    """macOS leaves "._a.png" beside each photo on FAT sticks; a ".thumb.png" is no
    example either: neither is read, nor warned about as unreadable."""
    (folder / "cat" / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    _save(folder / "cat" / ".thumb.png", _flat(7))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(_load(images=folder).y) == 6


def test_class_names_match_whatever_unicode_form_the_folder_has(folder):
    """macOS writes folder names decomposed (NFD); a config types them composed."""
    (folder / "dog").rename(folder / unicodedata.normalize("NFD", "Bienenstöcke"))
    examples = _load(images=folder, classes=["Bienenstöcke", "cat"])
    assert examples.class_names == ["Bienenstöcke", "cat"] and len(examples.y) == 6


def test_nested_images_are_not_read_and_the_error_says_so(folder):
    (folder / "owl" / "2019").mkdir(parents=True)
    _save(folder / "owl" / "2019" / "a.png", _flat(9))
    with pytest.raises(UserError, match=r"class 'owl' has no readable images directly in its"):
        _load(images=folder)


def test_an_unreadable_file_outside_the_csvs_folder_is_named_in_full(folder, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "gone.png"
    table = folder / "labels.csv"
    table.write_text(f"path,label\ncat/a.png,cat\ndog/d.png,dog\n{elsewhere},cat\n")
    with pytest.warns(
        UserWarning, match=f"skipped 1 unreadable image files in {folder}: {elsewhere}"
    ):
        assert len(_load(images=table).y) == 2


def test_one_image_as_the_source_is_refused(folder):
    with pytest.raises(UserError, match=r"a.png': one image; name a folder"):
        _load(images=folder / "cat" / "a.png")


def test_empty_class_folder_is_an_error(folder):
    (folder / "owl").mkdir()
    with pytest.raises(UserError, match=r"class 'owl' has no readable images"):
        _load(images=folder)


def test_folder_without_subfolders_or_images(tmp_path):
    (tmp_path / "flat").mkdir()
    with pytest.raises(UserError, match="no class subfolders"):
        _load(images=tmp_path / "flat")
    (tmp_path / "flat" / "a").mkdir()
    with pytest.raises(UserError, match="no image files"):
        _load(images=tmp_path / "flat")


def test_parallel_decode_equals_serial(folder, monkeypatch):
    (folder / "cat" / "empty.jpg").write_bytes(b"")
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".png", ".jpg", ".JPG", ".gif"))
    serial = decode.decode_images(files, 8, False, "crop")
    monkeypatch.setattr(decode, "PARALLEL_MIN", 2)
    monkeypatch.setattr(decode, "_workers", lambda: 2)
    parallel = decode.decode_images(files, 8, False, "crop")
    assert np.array_equal(parallel[0], serial[0]) and parallel[1] == serial[1]
    assert serial[1].count(False) == 1


def test_digits_pngs_round_trip(digits_folder):
    examples = _load(images=digits_folder, grayscale=True)
    digits = load_builtin("digits_images")
    assert examples.class_names == [str(d) for d in range(10)]
    order = torch.argsort(digits.y, stable=True)  # files are listed class by class
    assert torch.equal(examples.y, digits.y[order])
    expected = torch.round(digits.x[order] * 255 / 16).to(torch.uint8)
    assert torch.equal(examples.x, expected)


def test_a_cache_that_cannot_be_written_only_warns(tmp_path, monkeypatch):
    """torch.save reports a failed write as a RuntimeError, not an OSError."""
    from steepest.data import cache

    def fail(*_):
        raise RuntimeError("File /x/images/a.pt cannot be opened.\nmore")

    monkeypatch.setattr(cache.torch, "save", fail)
    with pytest.warns(UserWarning, match=r"could not write the image cache .*cannot be opened\.$"):
        cache.save(tmp_path / "images" / "a.pt", {"images": torch.zeros(1)})
