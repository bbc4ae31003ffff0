import warnings

import numpy as np
from PIL import Image

from steepest.data.decode import decode_image, decode_images


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    with Image.open(tmp_path / "ramp.png") as saved:
        assert saved.mode == "I;16"
    for grayscale in (True, False):
        pixels = decode_image(tmp_path / "ramp.png", 64, grayscale, "crop").astype(float)
        expected = np.rint(ramp / 257)
        assert np.abs(pixels - expected).max() <= 1  # v/257: 0 → 0, 65535 → 255
        assert abs(pixels.mean() - 127.5) < 1  # Pillow's own convert clips: mean ≈ 254


def test_pillow_warnings_on_a_readable_file_do_not_escape(tmp_path, monkeypatch):
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(tmp_path / "a.png")

    def noisy_open(*args, **kwargs):
        warnings.warn("Corrupt EXIF data", UserWarning, stacklevel=1)
        return real_open(*args, **kwargs)

    real_open = Image.open
    monkeypatch.setattr(Image, "open", noisy_open)
    images, ok = decode_images([tmp_path / "a.png"], 8, False, "crop")  # errors if it escapes
    assert ok == [True] and images.shape == (1, 3, 8, 8) and np.all(images == 7)
