"""PSNR and SSIM agree with scikit-image (the reference implementation) to 1e-4."""

import numpy as np
import pytest
import torch

from cpgan.metrics import psnr, ssim

skimage_metrics = pytest.importorskip("skimage.metrics")


def _pair(seed: int, noise: float, shape=(3, 3, 24, 30)):
    gen = torch.Generator().manual_seed(seed)
    a = torch.rand(shape, generator=gen)
    b = (a + noise * torch.randn(shape, generator=gen)).clamp(0, 1)
    return a, b


@pytest.mark.parametrize("noise", [0.02, 0.2])
def test_ssim_and_psnr_match_skimage(noise):
    a, b = _pair(0, noise)
    ours_ssim, ours_psnr = ssim(a, b), psnr(a, b)
    for i in range(len(a)):
        x = a[i].permute(1, 2, 0).double().numpy()
        y = b[i].permute(1, 2, 0).double().numpy()
        ref = skimage_metrics.structural_similarity(
            x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1,
            channel_axis=-1)
        assert abs(float(ours_ssim[i]) - ref) < 1e-4
        ref_psnr = skimage_metrics.peak_signal_noise_ratio(x, y, data_range=1)
        assert abs(float(ours_psnr[i]) - ref_psnr) < 1e-4


def test_identical_images_score_perfectly_and_noise_lowers_scores():
    a, b = _pair(1, 0.1)
    assert torch.allclose(ssim(a, a), torch.ones(3))
    assert torch.isinf(psnr(a, a)).all()
    _, worse = _pair(1, 0.3)
    assert (ssim(a, worse) < ssim(a, b)).all() and (psnr(a, worse) < psnr(a, b)).all()
    assert np.isfinite(psnr(a, b).numpy()).all()
