"""Image quality metrics on RGB images in [0, 1]: PSNR and SSIM (pure functions).

SSIM matches scikit-image's ``structural_similarity(a, b, gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)``: an
11-tap Gaussian window (σ 1.5, truncated at 3.5σ), per channel, averaged over the
pixels whose window lies inside the image (skimage crops that 5-px border) and the channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SIGMA = 1.5
RADIUS = int(3.5 * SIGMA + 0.5)  # scipy's truncate=3.5 → 11-tap window
K1, K2 = 0.01, 0.03


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of (B, 3, H, W) images in [0, 1] → (B,) (inf for identical images)."""
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(dim=1)
    return (10 * torch.log10(1.0 / mse)).float()


def _gaussian_window(device: torch.device) -> torch.Tensor:
    x = torch.arange(-RADIUS, RADIUS + 1, dtype=torch.float64, device=device)
    w = torch.exp(-0.5 * (x / SIGMA) ** 2)
    return w / w.sum()


def _filter(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filter of (N, 1, H, W) → (N, 1, H - 10, W - 10)."""
    x = F.conv2d(x, window.view(1, 1, -1, 1))
    return F.conv2d(x, window.view(1, 1, 1, -1))


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM of (B, C, H, W) images in [0, 1] (H, W >= 11) → (B,)."""
    bsz, channels, h, w = a.shape
    x = a.double().reshape(bsz * channels, 1, h, w)
    y = b.double().reshape(bsz * channels, 1, h, w)
    window = _gaussian_window(x.device)
    ux, uy = _filter(x, window), _filter(y, window)
    vx = _filter(x * x, window) - ux * ux
    vy = _filter(y * y, window) - uy * uy
    vxy = _filter(x * y, window) - ux * uy
    c1, c2 = K1 ** 2, K2 ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.reshape(bsz, -1).mean(dim=1).float()
