"""SRGAN-style patch discriminator: (B, 3, 128, 128) → (B, 1, 8, 8) logits."""

from __future__ import annotations

import torch
from torch import nn

from cpgan.config import ModelConfig
from cpgan.nets.blocks import conv


class Discriminator(nn.Module):
    """Four blocks (conv3×3 stride 1, LeakyReLU 0.2, conv3×3 stride 2, LeakyReLU 0.2) with
    ``config.disc_widths`` channels, then conv3×3 to one logit per 16×16-pixel patch.

    No BatchNorm (SRGAN has it): spectral normalisation takes its role, as in SAGAN.
    image (B, 3, H, W) in [-1, 1] → (B, 1, H/16, W/16) raw logits.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        sn, layers, cin = config.spectral_norm, [], 3
        for cout in config.disc_widths:
            layers += [conv(cin, cout, 3, sn=sn), nn.LeakyReLU(0.2),
                       conv(cout, cout, 3, stride=2, sn=sn), nn.LeakyReLU(0.2)]
            cin = cout
        layers.append(conv(cin, 1, 3, sn=sn))
        self.layers = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"Discriminator wants (B, 3, H, W) in [-1, 1], "
                             f"got {tuple(image.shape)}")
        return self.layers(image)
