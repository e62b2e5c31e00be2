"""External CPNet: copy illumination-free appearance from the guide face (SANet-style).

Queries come from the mean/std-normalised NI features, keys from the normalised
guide features and values from the raw guide features, so *where* to copy from
is decided on illumination-normalised content while *what* is copied keeps the
guide's (uniform) lighting.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cpgan.nets.blocks import ResidualBlock, conv
from cpgan.nets.internal import spatial_attention
from facecore.perceptual import channel_mean_std


def mean_std_normalise(x: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-channel standardisation over space; (B, C, H, W) → same dtype."""
    mean, std = channel_mean_std(x)
    return ((x.float() - mean) / std).to(x.dtype)


class ExternalCPNet(nn.Module):
    """Residual blocks on the NI features, cross attention to the guide, 1×1 conv, residual add.

    ``key_size``: the guide's features are area-pooled to at most key_size² positions
    before the attention (None: all of them).

    forward(x, guide): x (B, C, H, W) NI features, guide (B, C, Hg, Wg) guide features
    → (B, C, H, W).
    """

    def __init__(self, channels: int, *, res_blocks: int = 2, sn: bool = True,
                 key_size: int | None = None) -> None:
        super().__init__()
        self.key_size = key_size
        self.blocks = nn.Sequential(*(ResidualBlock(channels, sn=sn) for _ in range(res_blocks)))
        self.query = conv(channels, channels, 1, sn=sn)
        self.key = conv(channels, channels, 1, sn=sn)
        self.value = conv(channels, channels, 1, sn=sn)
        self.out = conv(channels, channels, 1, sn=sn)

    def forward(self, x: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
        x = self.blocks(x)
        if self.key_size is not None and guide.shape[-1] > self.key_size:
            guide = F.adaptive_avg_pool2d(guide, self.key_size)
        copied = spatial_attention(self.query(mean_std_normalise(x)),
                                   self.key(mean_std_normalise(guide)), self.value(guide))
        return x + self.out(copied)
