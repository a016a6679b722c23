"""Batched augmentations: shapes, ranges, determinism, and that each switch really changes the images."""
from __future__ import annotations

import torch

from engine.data.augment import (
    GRAY_WEIGHTS,
    RGB_TO_YIQ,
    YIQ_TO_RGB,
    Augment,
    AugmentConfig,
    gaussian_blur,
    jitter_matrices,
    resized_crop_and_flip,
)

OFF = dict(crop_scale_min=1.0, crop_scale_max=1.0, crop_ratio=1.0, flip_p=0.0, jitter_p=0.0, grayscale_p=0.0)


def images(n=16, c=3, size=16, seed=0):
    return torch.randint(0, 256, (n, c, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def augment(**overrides):
    return Augment(AugmentConfig(**{**OFF, **overrides}), 16, torch.zeros(3), torch.ones(3))


def test_everything_off_is_the_identity():
    x = images()
    out = augment()(x, torch.Generator().manual_seed(0))
    assert torch.allclose(out, x.float() / 255, atol=1e-5)


def test_views_are_deterministic_per_generator_seed_and_differ_between_views():
    a = Augment(AugmentConfig(blur_p=0.5, solarize_p=0.2), 16, torch.zeros(3), torch.ones(3))
    x = images()
    v1 = a.views(x, 2, torch.Generator().manual_seed(3), n_local=2)
    v2 = a.views(x, 2, torch.Generator().manual_seed(3), n_local=2)
    assert all(torch.equal(p, q) for p, q in zip(v1, v2))
    assert [tuple(v.shape) for v in v1] == [(16, 3, 16, 16)] * 2 + [(16, 3, 8, 8)] * 2
    assert not torch.equal(v1[0], v1[1])
    assert all(v.min() >= 0 and v.max() <= 1 + 1e-6 for v in v1)  # blur may round a 1 up by an ulp


def test_flip_mirrors_the_image():
    x = images()
    out = augment(flip_p=1.0)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(out, x.flip(-1).float() / 255, atol=1e-5)


def test_crop_zooms_into_a_region():
    x = torch.zeros(1, 1, 16, 16)
    x[..., 4:12, 4:12] = 1.0  # a centred square fills a centred half-size crop entirely
    out = resized_crop_and_flip(x, 16, (0.25, 0.25), 1.0, 0.0, torch.Generator().manual_seed(0))
    assert out.mean() > x.mean()


def test_grayscale_makes_channels_equal_and_jitter_changes_colours():
    x = images()
    gray = augment(grayscale_p=1.0)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    jittered = augment(jitter_p=1.0)(x, torch.Generator().manual_seed(0))
    assert (jittered - x.float() / 255).abs().mean() > 0.02


def test_blur_smooths_and_keeps_the_mean():
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    y = gaussian_blur(x, 2.0, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    assert (y[..., 1:] - y[..., :-1]).abs().mean() < (x[..., 1:] - x[..., :-1]).abs().mean()
    assert torch.allclose(y.mean(), x.mean(), atol=0.02)


def test_solarize_inverts_bright_pixels():
    x = torch.full((2, 3, 16, 16), 230, dtype=torch.uint8)
    out = augment(solarize_p=1.0)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(out, torch.full_like(out, 1 - 230 / 255), atol=1e-5)


def test_single_channel_images_work():
    a = Augment(AugmentConfig(blur_p=1.0), 16, torch.zeros(1), torch.ones(1))
    out = a.views(images(c=1), 2, torch.Generator().manual_seed(0))
    assert out[0].shape == (16, 1, 16, 16)


def test_the_fused_jitter_matrix_equals_the_factors_applied_one_by_one():
    g = torch.Generator().manual_seed(0)
    x = 0.3 + 0.4 * torch.rand(2, 3, 5, 5, generator=g)  # mid-range: no factor saturates, so no clamp matters
    b, c = torch.tensor([1.2, 0.8]), torch.tensor([0.7, 1.3])
    s, angle = torch.tensor([0.6, 1.1]), torch.tensor([0.3, -0.2])
    w = torch.tensor(GRAY_WEIGHTS).view(1, 3, 1, 1)
    gray = lambda v: (v * w).sum(1, keepdim=True)  # noqa: E731
    y = x * b.view(2, 1, 1, 1)
    mean = gray(y).mean(dim=(1, 2, 3), keepdim=True)
    y = (y - mean) * c.view(2, 1, 1, 1) + mean
    y = (y - gray(y)) * s.view(2, 1, 1, 1) + gray(y)
    yiq = torch.einsum("ij,njhw->nihw", RGB_TO_YIQ, y)
    i, q = yiq[:, 1] * angle.cos().view(2, 1, 1) - yiq[:, 2] * angle.sin().view(2, 1, 1), \
        yiq[:, 1] * angle.sin().view(2, 1, 1) + yiq[:, 2] * angle.cos().view(2, 1, 1)
    expected = torch.einsum("ij,njhw->nihw", YIQ_TO_RGB, torch.stack([yiq[:, 0], i, q], 1))
    matrix, offset = jitter_matrices(gray(x).mean(dim=(1, 2, 3)), b, c, s, angle)
    fused = torch.einsum("nij,njhw->nihw", matrix, x) + offset.unsqueeze(-1)
    assert torch.allclose(fused, expected, atol=1e-5)


def test_rotation_turns_the_content():
    x = torch.zeros(1, 1, 16, 16)
    x[..., 6:10, 2:14] = 1.0  # a horizontal bar through the centre
    a = Augment(AugmentConfig(**{**OFF, "rotate_degrees": 180.0}), 16, torch.zeros(1), torch.ones(1))
    turned = [a(x, torch.Generator().manual_seed(seed)) for seed in range(8)]
    assert all(torch.allclose(t.sum(), x.sum(), rtol=0.15) for t in turned)  # the bar stays inside the image
    assert any((t[..., 2:14, 6:10].sum() > 1.5 * t[..., 6:10, 2:14].sum()) for t in turned)  # some turned upright
