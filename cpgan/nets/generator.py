"""The CPGAN generator: 16×16 shaded thumbnail + 128×128 guide → 128×128 uniformly-lit face.

Schedule (released code): input conv 5×5 → internal CPNet at 16 → conv 3×3 to
``width`` → external CPNet@16 → ×2 → external@32 → ×2 → hourglass heatmaps at 64,
concatenated and reduced back → external@64 → ×2 → residual block → conv 5×5 →
norm → ReLU → conv 3×3 → tanh (norm: ``config.norm``, as in the upsamplers); with
``config.global_skip`` (default) the last conv's output is instead added to the bicubic
upsampling of the input and clamped to [-1, 1], and ``detail`` scales that residual at
inference (see ``forward``). With ``config.align_input`` a spatial
transformer first resamples the thumbnail upright (``cpgan.nets.aligner``). The guide,
area-downsampled to 16×16, runs through the same trunk (shared weights) and the same
upsamplers, giving guide features at 16, 32 and 64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cpgan.config import ModelConfig
from cpgan.nets.aligner import InputAligner
from cpgan.nets.blocks import ResidualBlock, Upsampler, bicubic_upsample, conv, make_norm
from cpgan.nets.external import ExternalCPNet
from cpgan.nets.hourglass import HeatmapHead
from cpgan.nets.internal import InternalCPNet


@dataclass
class GeneratorOutput:
    """sr (B, 3, 128, 128) in [-1, 1]; heatmaps (B, n_landmarks, 64, 64) raw predictions."""

    sr: torch.Tensor
    heatmaps: torch.Tensor


class Generator(nn.Module):
    """forward(nilr (B, 3, 16, 16), guide (B, 3, H, W), both in [-1, 1]) → GeneratorOutput."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        c, w, sn = config.trunk, config.width, config.generator_sn
        ext = dict(res_blocks=config.res_blocks, sn=sn, key_size=config.external_key_size)
        up = dict(norm=config.norm, sn=sn, icnr=config.icnr)
        self.config = config
        self.aligner = InputAligner() if config.align_input else None
        self.stem = conv(3, c, 5, sn=sn)
        self.internal = InternalCPNet(c, res_blocks=config.res_blocks, sn=sn)
        self.reduce = conv(c, w, 3, sn=sn)
        self.external16 = ExternalCPNet(w, **ext)
        self.up16 = Upsampler(w, **up)
        self.external32 = ExternalCPNet(w, **ext)
        self.up32 = Upsampler(w, **up)
        self.heatmap_head = HeatmapHead(w, features=config.hourglass_features,
                                        depth=config.hourglass_depth,
                                        n_landmarks=config.n_landmarks, sn=sn)
        self.fuse = conv(w + config.n_landmarks, w, 3, sn=sn)
        self.external64 = ExternalCPNet(w, **ext)
        self.up64 = Upsampler(w, **up)
        tail = max(8, w // 4)  # released code: 128 → 32
        self.refine = ResidualBlock(w, sn=sn)
        self.tail = conv(w, tail, 5, sn=sn)
        self.tail_norm = make_norm(config.norm, tail)
        self.to_rgb = conv(tail, 3, 3, sn=sn)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 16, 16) → (B, width, 16, 16): stem, internal CPNet, reduce.

        Shared by the NI path and the guide path (same weights)."""
        return self.reduce(self.internal(self.stem(x)))

    def forward_features(self, nilr: torch.Tensor, guide: torch.Tensor, *, detail: float = 1.0,
                         ) -> tuple[GeneratorOutput, dict[int, torch.Tensor]]:
        """As ``forward``, plus the NI-path features by scale {16, 32, 64: (B, width, s, s),
        128: (B, tail, 128, 128)} for inspection and tests."""
        if detail != 1.0 and not self.config.global_skip:
            raise ValueError("detail scales the residual on the bicubic base; this generator "
                             "has none (global_skip is off)")
        _check_image(nilr, "nilr", size=16)
        _check_image(guide, "guide", size=None)
        if guide.shape[0] != nilr.shape[0]:
            raise ValueError(f"guide batch {guide.shape[0]} != nilr batch {nilr.shape[0]}")
        if self.aligner is not None:
            nilr = self.aligner(nilr)
        guide16 = F.interpolate(guide, size=(16, 16), mode="area")  # antialiased downsampling
        n16, g16 = self.trunk(torch.cat([nilr, guide16])).chunk(2)
        g32 = self.up16(g16)
        g64 = self.up32(g32)
        feats = {16: self.external16(n16, g16)}
        feats[32] = self.external32(self.up16(feats[16]), g32)
        x64 = self.up32(feats[32])
        heatmaps = self.heatmap_head(x64)  # (B, n_landmarks, 64, 64)
        feats[64] = self.external64(self.fuse(torch.cat([x64, heatmaps], dim=1)), g64)
        feats[128] = torch.relu(self.tail_norm(self.tail(self.refine(self.up64(feats[64])))))
        if self.config.global_skip:
            base = bicubic_upsample(nilr, feats[128].shape[-1])
            sr = _clamp_straight_through(base + detail * self.to_rgb(feats[128]))
        else:
            sr = torch.tanh(self.to_rgb(feats[128]))
        return GeneratorOutput(sr=sr, heatmaps=heatmaps), feats

    def forward(self, nilr: torch.Tensor, guide: torch.Tensor, *,
                detail: float = 1.0) -> GeneratorOutput:
        """``detail`` scales what the generator adds to the bicubic upsampling: 1 as trained,
        0 is bicubic itself (of the upright thumbnail, with ``align_input``). Between them
        the output trades hallucinated detail for faithfulness to the thumbnail, as ESRGAN's
        network interpolation does, here on the output, so one trained model serves every
        setting (measured on Extended Yale B in the README: the hallucinated detail is what
        costs an unseen face its identity)."""
        return self.forward_features(nilr, guide, detail=detail)[0]


class _ClampInward(torch.autograd.Function):
    """Clamp to [-1, 1]; backward passes the gradient of an out-of-range pixel only where it
    pulls the pixel back into range. A plain straight-through clamp also passes the gradient
    that pushes it further out: nothing in the forward pass changes, so nothing opposes it,
    and on Extended Yale B (black borders, target −1) L_id's push below −1 ran the residual,
    and with it every activation up to the hourglass, to 1e23 within 20 steps."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return x.clamp(-1, 1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        outward = ((x > 1) & (grad < 0)) | ((x < -1) & (grad > 0))  # descent moves x = x − lr·g
        return grad.masked_fill(outward, 0)


def _clamp_straight_through(x: torch.Tensor) -> torch.Tensor:
    """Clamp to [-1, 1] in the forward pass; in the backward pass an out-of-range pixel still
    gets the gradient that pulls it back (a hard clamp would leave it dead), but not one that
    pushes it further out (``_ClampInward``)."""
    return _ClampInward.apply(x)


def _check_image(x: torch.Tensor, name: str, *, size: int | None) -> None:
    if x.dim() != 4 or x.shape[1] != 3 or (size is not None and tuple(x.shape[2:]) != (size, size)):
        want = f"(B, 3, {size}, {size})" if size else "(B, 3, H, W)"
        raise ValueError(f"{name} must be {want} in [-1, 1], got {tuple(x.shape)}")
    if size is None and min(x.shape[2:]) < 16:
        raise ValueError(f"{name} must be at least 16×16, got {tuple(x.shape)}")
