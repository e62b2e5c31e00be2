"""RaIN's four losses as pure functions (supplementary §3; public RaIN code).

Targets are treated as constants (detached here), as AdaIN and RaIN do: the
content and style losses train the image decoder, the reconstruction and KL
losses train the statistics encoder/decoder.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from facecore.perceptual import channel_mean_std, upcast


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
