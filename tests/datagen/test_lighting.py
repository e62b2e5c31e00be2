import math

import cv2
import numpy as np
import pytest
import torch

from facecore.errors import UserInputError
from datagen.rain.lighting import (EPS, MIN_UI_LUMA, asymmetry, compare, face_ellipse,
                                   face_mask, lighting_statistics, log_ratio, masked_quantiles,
                                   shadow_range, summarize, wasserstein_1d)
from datagen.rain.lighting_plot import lighting_histograms
from datagen.rain.lighting_reference import (open_reference, parse_subjects, real_reference,
                                             synthetic_reference)
from datagen.sources import open_source

S = 64


def _halves(left: float, right: float, size: int = S) -> torch.Tensor:
    """(1, 1, size, size): ``left`` in columns < size/2, ``right`` in the others."""
    x = torch.full((1, 1, size, size), float(right), dtype=torch.float64)
    x[..., : size // 2] = left
    return x


def test_statistics_of_a_hand_made_half_lit_ratio_are_exact():
    log_r = torch.cat([_halves(-2.5, 0.25), _halves(0.3, 0.3), _halves(1.0, -1.0)])
    mask = face_ellipse(S, S).expand(3, -1, -1, -1)
    assert torch.equal(asymmetry(log_r, mask), torch.tensor([2.75, 0.0, 2.0], dtype=torch.float64))
    # each half holds half of the mask, so p5 lies in the darker and p95 in the brighter half
    assert torch.equal(shadow_range(log_r, mask), torch.tensor([2.75, 0.0, 2.0],
                                                               dtype=torch.float64))


def test_range_and_quantiles_of_a_known_ramp():
    values = torch.arange(100, dtype=torch.float64).view(1, 1, 10, 10)  # 0 … 99
    mask = torch.ones_like(values, dtype=torch.bool)
    # linear interpolation at positions 0.05·99 and 0.95·99
    assert shadow_range(values, mask).item() == pytest.approx(94.05 - 4.95, abs=1e-12)
    assert masked_quantiles(values, mask, (0.5,)).item() == pytest.approx(49.5)
    half = mask.clone()
    half[..., 5:, :] = False  # only rows 0–4: values 0 … 49
    assert masked_quantiles(values, half, (1.0,)).item() == 49
    assert masked_quantiles(values, torch.zeros_like(mask), (0.5,)).isnan().all()


def test_log_ratio_of_images_a_side_light_and_a_global_change():
    ui = torch.full((1, 3, S, S), 0.5)
    side = ui.clone()
    side[..., S // 2:] = 0.05  # the right half in shadow
    log_r, mask = log_ratio(side, ui, sigma=0)
    dark = math.log((0.05 + EPS) / (0.5 + EPS))
    assert asymmetry(log_r.double(), mask).item() == pytest.approx(abs(dark), rel=1e-6)
    assert shadow_range(log_r.double(), mask).item() == pytest.approx(abs(dark), rel=1e-6)
    stats = lighting_statistics(ui * 0.5, ui)  # a global dimming is no light direction
    assert stats["asymmetry"].item() == pytest.approx(0.0, abs=1e-6)
    assert stats["range"].item() == pytest.approx(0.0, abs=1e-6)
    # the size and the blur do not matter for a constant ratio; shapes are checked
    big = lighting_statistics(torch.full((2, 3, 96, 80), 0.4), torch.full((2, 3, 96, 80), 0.4))
    assert big["range"].shape == (2,) and big["range"].abs().max() < 1e-6
    with pytest.raises(ValueError, match="pair up"):
        log_ratio(ui, ui.repeat(2, 1, 1, 1))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        log_ratio(ui[0], ui[0])


def test_face_mask_is_a_centred_ellipse_without_dark_pixels():
    ellipse = face_ellipse(S, S)
    assert torch.equal(ellipse, ellipse.flip(-1))  # symmetric: halves compare alike
    assert ellipse[0, 0, S // 2, S // 2] and not ellipse[0, 0, 0, 0]
    assert 0.3 < ellipse.float().mean() < 0.4
    luma = torch.full((1, 1, S, S), 0.5)
    luma[..., 30:34, :] = MIN_UI_LUMA / 2  # a dark band (eyes, brows) is left out
    mask = face_mask(luma)
    assert not mask[..., 30:34, :].any() and torch.equal(mask[..., :30, :], ellipse[..., :30, :])


def test_wasserstein_of_known_distributions():
    a = torch.tensor([0.0, 1.0, 3.0])
    assert wasserstein_1d(a, a) == 0.0
    assert wasserstein_1d(a, a + 0.7) == pytest.approx(0.7)
    assert wasserstein_1d(torch.tensor([0.0]), torch.tensor([2.0])) == 2.0
    assert wasserstein_1d(torch.tensor([0.0, 1.0]), torch.tensor([0.0])) == pytest.approx(0.5)
    assert wasserstein_1d(torch.tensor([0.0, float("nan")]), torch.tensor([1.0])) == 1.0
    # two uniform distributions on [0, 1] and [0, 2], finely sampled: W1 = ∫|u − 2u| du = 0.5
    u = (torch.arange(20000, dtype=torch.float64) + 0.5) / 20000
    assert wasserstein_1d(u, 2 * u[::4]) == pytest.approx(0.5, abs=1e-3)
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=37), rng.gamma(2.0, size=55)
    assert wasserstein_1d(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(
        stats.wasserstein_distance(x, y), rel=1e-12)
    with pytest.raises(ValueError, match="at least one"):
        wasserstein_1d(torch.tensor([]), a)


def test_summary_and_comparison():
    values = {"asymmetry": torch.arange(101, dtype=torch.float64) / 100,
              "range": torch.full((101,), 2.0, dtype=torch.float64)}
    s = summarize(values)
    assert s["asymmetry"]["p05"] == pytest.approx(0.05) and s["asymmetry"]["median"] == 0.5
    assert s["range"] == {"p05": 2.0, "p25": 2.0, "median": 2.0, "p75": 2.0, "p95": 2.0,
                          "mean": 2.0, "n": 101}
    shifted = {k: v + 1 for k, v in values.items()}
    assert compare(shifted, values) == {"asymmetry": pytest.approx(1.0), "range": 1.0}


def test_real_reference_pairs_lit_photos_with_the_frontal_one(yale_root):
    root = yale_root
    ref = open_reference(f"extended_yale_b:{root}")
    assert ref.name == "extended_yale_b all subjects"
    assert ref.stats["asymmetry"].shape == (6,)  # 3 subjects × 2 lit photos, no ambient
    # blur mixes the two halves along the mid-line only: a bit less than the hard step
    for n, asym in zip((1, 1, 2, 2, 5, 5), ref.stats["asymmetry"]):
        step = abs(math.log((16 * n / 255 + EPS) / (160 / 255 + EPS)))
        assert 0.85 * step < asym <= step
    assert ref.stats["range"].min() > 0.85 * abs(math.log((80 / 255 + EPS) / (160 / 255 + EPS)))
    chosen = open_reference(f"extended_yale_b:{root}", subjects="02-04")
    assert chosen.name == "extended_yale_b subjects 02-04"
    assert torch.equal(chosen.stats["asymmetry"], ref.stats["asymmetry"][2:4])
    with pytest.raises(UserInputError, match="no subject"):
        real_reference(open_source("extended_yale_b", root=root), subjects=parse_subjects("9"))


def test_subjects_and_reference_specs():
    assert parse_subjects("29-39") == frozenset(range(29, 40))
    assert parse_subjects("1,3,10-11") == {1, 3, 10, 11}
    for bad in ("a-b", "9-3", ""):
        with pytest.raises(UserInputError, match="subjects"):
            parse_subjects(bad)
    with pytest.raises(UserInputError, match="multipie reference: not supported yet"):
        open_reference("multipie:/nowhere")
    with pytest.raises(UserInputError, match="unknown lighting reference"):
        open_reference("celeba:/nowhere")
    with pytest.raises(UserInputError, match="extended_yale_b:ROOT"):
        open_reference("extended_yale_b")
    with pytest.raises(UserInputError, match="synthetic reference takes none"):
        open_reference("synthetic", subjects="01-28")


def test_synthetic_reference_is_a_pure_function_of_its_seed():
    a, b = synthetic_reference(n=6, size=32), synthetic_reference(n=6, size=32)
    assert a.name == "synthetic physical" and a.stats["range"].shape == (6,)
    assert all(torch.equal(a.stats[k], b.stats[k]) for k in a.stats)
    assert a.stats["range"].max() > 0.3  # non-uniform light: not a global change


def test_histogram_plot_draws_two_sets():
    rng = np.random.default_rng(0)
    sets = {name: {k: torch.from_numpy(rng.gamma(2.0, scale, 50)) for k in ("asymmetry", "range")}
            for name, scale in (("reference", 0.5), ("RaIN", 0.1))}
    img = lighting_histograms(sets)
    assert img.dtype == np.uint8 and img.shape == (280, 880, 3)
    assert (img != 255).any(axis=2).mean() > 0.05  # bars drawn, not a blank page
    with pytest.raises(ValueError, match="two sets"):
        lighting_histograms({"one": sets["RaIN"]})
