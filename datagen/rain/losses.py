"""RaIN's four losses as pure functions (supplementary §3; public RaIN code), and ours: the
pixel identity loss and the paired loss where a target exists.

Targets are treated as constants (detached here), as AdaIN and RaIN do: the
content and style losses train the image decoder, the reconstruction and KL
losses train the statistics encoder/decoder.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from facecore.perceptual import channel_mean_std, upcast
from datagen.rain.lighting import EPS, face_ellipse, luminance
from datagen.rain.model import luminance_layout


def content_loss(output_feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the output's relu4_1 features and the AdaIN target t, both (B, C, h, w)."""
    return F.mse_loss(upcast(output_feat), upcast(target.detach()))


def style_loss(output_feats: Sequence[torch.Tensor], style_feats: Sequence[torch.Tensor]) -> torch.Tensor:
    """Σ over relu1_1…relu4_1 of MSE(μ_out, μ_style) + MSE(σ_out, σ_style), per channel."""
    if len(output_feats) != len(style_feats):
        raise ValueError(f"style_loss: {len(output_feats)} output layers vs {len(style_feats)}")
    total = upcast(output_feats[0]).new_zeros(())
    for out, sty in zip(output_feats, style_feats):
        out_mean, out_std = channel_mean_std(out)
        sty_mean, sty_std = channel_mean_std(sty.detach())
        total = total + F.mse_loss(out_mean, sty_mean) + F.mse_loss(out_std, sty_std)
    return total


def stats_reconstruction_loss(mean_hat: torch.Tensor, std_hat: torch.Tensor,
                              mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """MSE of the decoded statistics [μ̂, σ̂] against the style's relu4_1 [μ, σ] (all (B, C, 1, 1)),
    averaged over the concatenated 2C values as the public code does."""
    return F.mse_loss(upcast(torch.cat([mean_hat, std_hat], 1)),
                      upcast(torch.cat([mean, std], 1).detach()))


def kl_to_standard_normal(z_mean: torch.Tensor, z_logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(z_mean, exp(z_logvar)) ‖ N(0, I)), averaged over batch and latent dimensions
    (the public code's mean-reduced form): 0 exactly when z_mean = 0 and z_logvar = 0."""
    z_mean, z_logvar = upcast(z_mean), upcast(z_logvar)
    return 0.5 * torch.mean(z_mean.square() + z_logvar.exp() - z_logvar - 1.0)


def identity_loss(reconstruction: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Pixel MSE between the decoder's output on an image's own features and the image,
    both (B, 3, H, W) in [0, 1]. Not in the paper (SANet's identity loss, in pixels):
    it teaches the decoder to invert the encoder within a few hundred steps."""
    return F.mse_loss(upcast(reconstruction), upcast(image.detach()))


def paired_loss(relit: torch.Tensor, target: torch.Tensor, *, layout_size: int) -> torch.Tensor:
    """L1 of the relit face against its paired target (the same face under the style's light),
    both (B, 3, H, W) in [0, 1]: in pixels, plus in log-luminance at ``layout_size``², where a
    shadow that is not dark enough costs as much as a lit side that is not bright enough."""
    relit, target = upcast(relit), upcast(target.detach())
    pixels = F.l1_loss(relit, target)
    return pixels + F.l1_loss(luminance_layout(relit, layout_size),
                              luminance_layout(target, layout_size))


def ratio_loss(relit: torch.Tensor, target: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Per face and per half of the face ellipse, the 1-D Wasserstein distance between the
    log lighting ratios log(Y(relit) / Y(content)) and log(Y(target) / Y(content)) (all
    (B, 3, S, S) in [0, 1]; ``datagen.rain.lighting``'s ellipse and EPS), averaged.

    Sorted values forget where a shadow falls, so this asks only how deep the shadows and how
    bright the lit side are on each half — the asymmetry and shadow range real light has. The
    pixel and layout L1 of ``paired_loss`` also ask where; when the light cannot be placed
    exactly (another subject's photo shows it), their optimum is a weaker light between the
    candidates: measured on Extended Yale B, a fine-tune on them alone gave shadow ranges
    of 1.5–1.9 (log) where the real photos have 2.8, even from the style photo's own latent.
    """
    relit, target, content = upcast(relit), upcast(target.detach()), upcast(content.detach())
    y_content = luminance(content) + EPS
    log_relit = ((luminance(relit) + EPS) / y_content).log().flatten(1)  # (B, S·S)
    log_target = ((luminance(target) + EPS) / y_content).log().flatten(1)
    h, w = relit.shape[-2:]
    ellipse = face_ellipse(h, w).view(h, w)
    left = torch.zeros(h, w, dtype=torch.bool)
    left[:, : w // 2] = True
    total = relit.new_zeros(())
    for half in (ellipse & left, ellipse & ~left):
        idx = half.flatten().nonzero().squeeze(1).to(relit.device)
        a = log_relit.index_select(1, idx).sort(dim=1).values
        b = log_target.index_select(1, idx).sort(dim=1).values
        total = total + F.l1_loss(a, b)
    return total / 2


def prior_mmd(z: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Maximum mean discrepancy between a batch of latents ``z`` (B, D) and draws from the prior
    N(0, I) ``prior`` (B, D), with the inverse multiquadratic kernel C / (C + ‖x − y‖²),
    C = 2D (InfoVAE / WAE-MMD). The KL term pulls each posterior to the prior; this pulls
    their mixture — what z ~ N(0, I) at inference must look like — onto it."""
    z, prior = upcast(z), upcast(prior)
    c = 2.0 * z.shape[1]
    n = z.shape[0]

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return c / (c + torch.cdist(a, b).square())

    off = 1.0 - torch.eye(n, dtype=z.dtype, device=z.device)
    within = ((kernel(z, z) + kernel(prior, prior)) * off).sum() / (n * (n - 1))
    return within - 2.0 * kernel(z, prior).mean()
