"""Internal CPNet: residual blocks, RCAN channel attention and the SAGAN "copy block".

The copy block lets every 16×16 position copy features from related positions of
the same face (e.g. the lit half of a shaded face), which the paper credits for
compensating illumination inside the thumbnail.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cpgan.nets.blocks import ChannelAttention, ResidualBlock, conv


def spatial_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Softmax attention over positions of (B, C, H, W) maps.

    query (B, Cq, Hq, Wq), key (B, Cq, Hk, Wk), value (B, Cv, Hk, Wk) → (B, Cv, Hq, Wq).
    Uses ``scaled_dot_product_attention`` (a fused kernel, no HW×HW matrix kept on
    GPU); the 1/sqrt(Cq) scaling differs from SAGAN/SANet's unscaled dot product
    and keeps the softmax from saturating with wide features or under AMP.
    """
    b, _, hq, wq = query.shape
    q = query.flatten(2).transpose(1, 2)[:, None]  # (B, 1, HqWq, Cq)
    k = key.flatten(2).transpose(1, 2)[:, None]    # (B, 1, HkWk, Cq)
    v = value.flatten(2).transpose(1, 2)[:, None]  # (B, 1, HkWk, Cv)
    out = F.scaled_dot_product_attention(q, k, v)  # (B, 1, HqWq, Cv)
    return out[:, 0].transpose(1, 2).reshape(b, value.shape[1], hq, wq)


class CopyBlock(nn.Module):
    """SAGAN self-attention: out = γ·attn(x) + x, query/key at max(1, C/8), γ initialised to 0.

    (B, C, H, W) → same; at initialisation the block is the identity.
    """

    def __init__(self, channels: int, *, sn: bool = True) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = conv(channels, inner, 1, sn=sn)
        self.key = conv(channels, inner, 1, sn=sn)
        self.value = conv(channels, channels, 1, sn=sn)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * spatial_attention(self.query(x), self.key(x), self.value(x)) + x


class InternalCPNet(nn.Module):
    """``res_blocks`` residual blocks → channel attention → copy block; (B, C, H, W) → same."""

    def __init__(self, channels: int, *, res_blocks: int = 2, sn: bool = True) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ResidualBlock(channels, sn=sn) for _ in range(res_blocks)))
        self.channel_attention = ChannelAttention(channels, reduction=16, sn=sn)
        self.copy = CopyBlock(channels, sn=sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.copy(self.channel_attention(self.blocks(x)))
