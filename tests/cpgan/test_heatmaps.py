"""render_heatmaps: Gaussians at the landmark pixel, NaN landmarks → empty maps."""

from __future__ import annotations

import math

import pytest
import torch

from cpgan.heatmaps import render_heatmaps


def test_peak_is_one_at_the_landmark_pixel_same_resolution():
    lm = torch.tensor([[[10.0, 20.0], [0.0, 63.0], [33.0, 5.0]]])  # (1, 3, 2) as (x, y)
    maps = render_heatmaps(lm, image_size=64, size=64, sigma=1.5)
    assert maps.shape == (1, 3, 64, 64)
    for k, (x, y) in enumerate(lm[0].tolist()):
        assert maps[0, k, int(y), int(x)] == pytest.approx(1.0)
        flat = int(maps[0, k].argmax())
        assert (flat // 64, flat % 64) == (int(y), int(x))
    # one pixel away the value is exp(-1 / (2 sigma^2))
    assert maps[0, 0, 20, 11] == pytest.approx(math.exp(-1 / (2 * 1.5 ** 2)), rel=1e-5)


def test_128_px_landmarks_map_to_the_matching_64_px_cell():
    gen = torch.Generator().manual_seed(0)
    lm = torch.rand(2, 68, 2, generator=gen) * 127
    maps = render_heatmaps(lm, image_size=128, size=64, sigma=1.0)
    assert maps.shape == (2, 68, 64, 64)
    assert maps.max() <= 1.0 and maps.min() >= 0.0
    idx = maps.flatten(2).argmax(dim=2)  # (B, K)
    row, col = idx // 64, idx % 64
    centre = (lm + 0.5) / 2 - 0.5  # 128-px pixel centre in 64-px coordinates
    assert (col - centre[..., 0]).abs().max() <= 0.5 + 1e-4
    assert (row - centre[..., 1]).abs().max() <= 0.5 + 1e-4


def test_nan_landmarks_give_zero_maps_and_leave_others_alone():
    lm = torch.full((2, 68, 2), 64.0)
    lm[1] = float("nan")
    lm[0, 5, 0] = float("nan")
    maps = render_heatmaps(lm)
    assert torch.isfinite(maps).all()
    assert maps[1].abs().sum() == 0
    assert maps[0, 5].abs().sum() == 0
    assert maps[0, 4].max() > 0.5


def test_bad_shape_raises():
    with pytest.raises(ValueError, match="landmarks"):
        render_heatmaps(torch.zeros(2, 68))
