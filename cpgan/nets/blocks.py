"""Small building blocks shared by the generator and discriminator.

Every convolution is made by :func:`conv`, so spectral normalisation (the paper's
choice for both G and D) is applied in one place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm


def bicubic_upsample(x: torch.Tensor, size: int = 128) -> torch.Tensor:
    """(B, C, h, w) → (B, C, size, size), bicubic with align_corners False, unclamped: the
    base the generator's global skip adds to, and (clamped) the evaluation's baseline."""
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)


def conv(cin: int, cout: int, kernel: int, *, stride: int = 1, sn: bool = True,
         bias: bool = True) -> nn.Conv2d:
    """A 'same'-padded ``kernel``×``kernel`` conv, spectrally normalised when ``sn``."""
    layer = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=bias)
    return _spectral_norm(layer) if sn else layer


class ResidualBlock(nn.Module):
    """EDSR-style block: x + conv3×3(ReLU(conv3×3(x))); (B, C, H, W) → same."""

    def __init__(self, channels: int, *, sn: bool = True) -> None:
        super().__init__()
        self.conv1 = conv(channels, channels, 3, sn=sn)
        self.conv2 = conv(channels, channels, 3, sn=sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


class ChannelAttention(nn.Module):
    """RCAN channel attention: rescale each channel by a gate from its global average.

    (B, C, H, W) → same; the squeeze goes to ``max(1, C // reduction)`` channels.
    """

    def __init__(self, channels: int, *, reduction: int = 16, sn: bool = True) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.down = conv(channels, hidden, 1, sn=sn)
        self.up = conv(hidden, channels, 1, sn=sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.up(torch.relu(self.down(x.mean(dim=(2, 3), keepdim=True)))))
        return x * gate  # gate (B, C, 1, 1)


class Upsampler(nn.Module):
    """×2 sub-pixel upsampling: conv3×3 C → 4C, normalisation, PixelShuffle(2), ReLU;
    (B, C, H, W) → (B, C, 2H, 2W).

    ``norm``: "layer" (GroupNorm with one group: per-sample, so no running statistics,
    identical in train and eval, no cross-process sync under DDP), "batch" (the
    released code; the guide and NI streams share these upsamplers, so its running
    statistics blend both streams) or "none". With spectral norm on every conv some
    normalisation is needed: the signal shrinks layer by layer and the generator barely
    depends on its inputs at init (SAGAN pairs spectral norm with BatchNorm for the same
    reason). Without spectral norm in G (the default preset) "none" is best: per-face
    normalisation hides how dark the thumbnail is, which relighting must undo.
    ``icnr``: initialise the conv with ``icnr_`` (no checkerboard at init).
    """

    def __init__(self, channels: int, *, norm: str = "layer", sn: bool = True,
                 icnr: bool = False) -> None:
        super().__init__()
        self.conv = conv(channels, 4 * channels, 3, sn=sn)
        self.norm = make_norm(norm, 4 * channels)
        self.shuffle = nn.PixelShuffle(2)
        if icnr:
            icnr_(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.shuffle(self.norm(self.conv(x))))


@torch.no_grad()
def icnr_(layer: nn.Conv2d, scale: int = 2) -> None:
    """ICNR init (Aitken et al. 2017) of the conv before a PixelShuffle(scale): the scale²
    sub-pixel outputs of each channel start with one shared kernel, so the shuffled map
    starts as a nearest-neighbour upsampling, free of the checkerboard a random init gives.
    Works under spectral norm too (it sets the unnormalised weight)."""
    weight = (layer.parametrizations.weight.original
              if hasattr(layer, "parametrizations") else layer.weight)
    cout, cin, kh, kw = weight.shape
    base = torch.empty(cout // scale**2, cin, kh, kw)
    nn.init.kaiming_uniform_(base, a=5 ** 0.5)  # nn.Conv2d's own init, for one sub-pixel
    weight.copy_(base.repeat_interleave(scale**2, dim=0))  # PixelShuffle: channel c·s² + i
    if layer.bias is not None:
        layer.bias.copy_(layer.bias.view(-1, scale**2)[:, :1].expand(-1, scale**2).reshape(-1))


def make_norm(kind: str, channels: int) -> nn.Module:
    """"layer" → GroupNorm(1, C), "batch" → BatchNorm2d(C), "none" → Identity."""
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalisation {kind!r}; use layer, batch or none")
