"""Landmark heatmap targets for L_h, rendered from the shard's 68 landmarks.

The paper runs FAN on the ground truth; we render Gaussians from the landmarks the
dataset already carries (``landmarks_uihr``), which is the same target without a
second network.
"""

from __future__ import annotations

import torch


def render_heatmaps(landmarks: torch.Tensor, *, image_size: int = 128, size: int = 64,
                    sigma: float = 1.0) -> torch.Tensor:
    """Unnormalised Gaussians exp(-d²/2σ²) at each landmark.

    landmarks (B, K, 2): pixel (x, y) in ``image_size`` coordinates (pixel centres
    at integers); a landmark with any NaN coordinate gives an all-zero map.
    Returns (B, K, size, size) in [0, 1], peak 1 when the landmark falls on a
    heatmap pixel centre; ``sigma`` is in heatmap pixels.
    """
    if landmarks.dim() != 3 or landmarks.shape[-1] != 2:
        raise ValueError(f"landmarks must be (B, K, 2), got {tuple(landmarks.shape)}")
    if sigma <= 0 or size < 1 or image_size < 1:
        raise ValueError(f"need sigma > 0 and positive sizes, got {sigma}, {size}, {image_size}")
    pts = landmarks.float()
    scale = size / image_size
    centre = (pts + 0.5) * scale - 0.5  # (B, K, 2) in heatmap pixel coordinates
    grid = torch.arange(size, device=pts.device, dtype=pts.dtype)
    dx = (grid[None, None, :] - centre[..., 0:1]) ** 2  # (B, K, size) along x
    dy = (grid[None, None, :] - centre[..., 1:2]) ** 2  # (B, K, size) along y
    maps = torch.exp(-(dy[..., :, None] + dx[..., None, :]) / (2 * sigma ** 2))  # (B, K, S, S)
    missing = torch.isnan(pts).any(dim=-1)  # (B, K)
    return maps.masked_fill(missing[..., None, None], 0.0)
