import pytest
import torch

from steepest import rng
from steepest.config import AugmentConfig
from steepest.data.augment import Strengths, augment

K, B, C, H, W = 3, 4, 2, 6, 5


@pytest.fixture
def x():
    return torch.rand(K, B, C, H, W, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def keys():
    return rng.derive_key(torch.tensor([11, 12, 13]), 0, 5)


EVERYTHING = AugmentConfig(crop_padding=2, flip=True, brightness=0.3, contrast=0.4)


def test_shape_and_dtype_kept(x, keys):
    out = augment(x, keys, EVERYTHING)
    assert out.shape == x.shape and out.dtype == x.dtype


def test_zero_strength_is_identity(x, keys):
    assert torch.equal(augment(x, keys, AugmentConfig()), x)
    zeros = Strengths(
        torch.zeros(K, dtype=torch.int64),
        torch.zeros(K, dtype=torch.bool),
        torch.zeros(K),
        torch.zeros(K),
    )
    assert torch.equal(augment(x, keys, zeros), x)


def test_same_key_same_result_and_members_differ(x, keys):
    same = x[:1].expand(K, -1, -1, -1, -1)
    out = augment(same, keys, EVERYTHING)
    assert torch.equal(out, augment(same, keys, EVERYTHING))
    assert not torch.equal(out[0], out[1]) and not torch.equal(out[1], out[2])


def test_member_alone_equals_member_in_population(x, keys):
    together = augment(x, keys, EVERYTHING)
    for k in range(K):
        alone = augment(x[k : k + 1], keys[k : k + 1], EVERYTHING)
        assert torch.equal(alone[0], together[k])


def _reference_shift_flip(image, dy, dx, mirrored):
    """For-loop ground truth: out[i, j] = image[i + dy, j' + dx], j' mirrored, 0 outside."""
    out = torch.zeros_like(image)
    for i in range(H):
        for j in range(W):
            source_j = (W - 1 - j if mirrored else j) + dx
            if 0 <= i + dy < H and 0 <= source_j < W:
                out[:, i, j] = image[:, i + dy, source_j]
    return out


def test_crop_and_flip_match_a_per_pixel_loop(x, keys):
    cfg = AugmentConfig(crop_padding=2, flip=True)
    out = augment(x, keys, cfg)
    u = rng.uniform(keys.view(K, 1, 1), (1, B, 5))
    offsets = (u[..., :2] * 5).floor().long() - 2
    for k in range(K):
        for b in range(B):
            dy, dx = offsets[k, b].tolist()
            expected = _reference_shift_flip(x[k, b], dy, dx, bool(u[k, b, 2] < 0.5))
            assert torch.equal(out[k, b], expected)
    assert offsets.abs().max() == 2 and (offsets == 0).any()


def test_brightness_adds_one_offset_per_image_within_bound(x, keys):
    delta = augment(x, keys, AugmentConfig(brightness=0.25)) - x
    per_image = delta.flatten(2)
    torch.testing.assert_close(per_image, per_image[..., :1].expand_as(per_image))
    assert per_image.abs().max() <= 0.25 and per_image.std() > 0


def test_contrast_scales_around_the_image_mean(x, keys):
    out = augment(x, keys, AugmentConfig(contrast=0.5))
    mean = x.mean(dim=(2, 3, 4), keepdim=True)
    factor = (out - mean) / (x - mean)
    flat = factor.flatten(2)
    torch.testing.assert_close(flat, flat[..., :1].expand_as(flat), rtol=1e-4, atol=1e-4)
    assert ((flat >= 0.5 - 1e-4) & (flat <= 1.5 + 1e-4)).all()
    torch.testing.assert_close(out.mean(dim=(2, 3, 4)), x.mean(dim=(2, 3, 4)))


def test_per_member_strengths(x, keys):
    strengths = Strengths(brightness=torch.tensor([0.0, 0.5, 0.0]))
    out = augment(x, keys, strengths)
    assert torch.equal(out[0], x[0]) and torch.equal(out[2], x[2])
    assert not torch.equal(out[1], x[1])


def _population_augment(settings: dict):
    """A population's augmentation of digits_images (standardised), and its scaling."""
    from steepest.config import validate
    from steepest.training import build_population, load_for, task_for

    experiment = validate(
        {"data": {"name": "digits_images", "augment": settings}, "model": {"kind": "cnn"}}
    )
    data = load_for(experiment)
    population = build_population(experiment, data, task_for(experiment, data), "cpu")
    return population.augment, data.preprocessor, data.x_train[:64].unsqueeze(0)


def test_a_populations_batch_is_augmented_in_pixel_units():
    """The batch is standardised; padding must still be black (pixel 0, not the mean
    grey 0 is in standardised units) and brightness b a share of the pixel range."""
    keys = rng.derive_key(torch.tensor([5]), 0, 1)
    pad, scaling, x = _population_augment({"crop_padding": 2})
    pixels = scaling.inverse(pad(x, keys))
    padded = augment(torch.ones_like(x), keys, Strengths(crop_padding=2)) == 0
    assert padded.sum() > 100
    assert pixels[padded].abs().max() < 1e-5
    brighten, scaling, x = _population_augment({"brightness": 0.2})
    change = scaling.inverse(brighten(x, keys)) - scaling.inverse(x)
    per_image = change.flatten(2)
    torch.testing.assert_close(per_image, per_image[..., :1].expand_as(per_image))
    assert per_image.abs().max() <= 0.2 + 1e-5 and per_image.abs().max() > 0.15
