"""Stacked-hourglass landmark head (Newell et al.) predicting heatmaps from 64×64 features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cpgan.nets.blocks import ResidualBlock, conv


class Hourglass(nn.Module):
    """One recursive hourglass of ``depth`` halvings; (B, C, H, W) → same.

    H and W must be divisible by 2^depth."""

    def __init__(self, channels: int, *, depth: int, sn: bool = True) -> None:
        super().__init__()
        self.skip = ResidualBlock(channels, sn=sn)
        self.down = ResidualBlock(channels, sn=sn)
        self.inner = (Hourglass(channels, depth=depth - 1, sn=sn) if depth > 1
                      else ResidualBlock(channels, sn=sn))
        self.up = ResidualBlock(channels, sn=sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.up(self.inner(self.down(F.max_pool2d(x, 2))))
        return self.skip(x) + F.interpolate(low, scale_factor=2.0, mode="nearest")


class HeatmapHead(nn.Module):
    """Features (B, C, H, W) → raw landmark heatmaps (B, n_landmarks, H, W) (unbounded)."""

    def __init__(self, channels: int, *, features: int, depth: int, n_landmarks: int,
                 sn: bool = True) -> None:
        super().__init__()
        self.stem = conv(channels, features, 3, sn=sn)
        self.hourglass = Hourglass(features, depth=depth, sn=sn)
        self.mix = conv(features, features, 1, sn=sn)
        self.predict = conv(features, n_landmarks, 1, sn=sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hourglass(torch.relu(self.stem(x)))
        return self.predict(torch.relu(self.mix(h)))
