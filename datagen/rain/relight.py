"""Inference: relight a batch of faces with random (or given) illuminations."""

from __future__ import annotations

import contextlib

import torch

from facecore.errors import UserInputError
from datagen.rain.model import Rain


def sample_latents(model: Rain, n: int, generator: torch.Generator) -> torch.Tensor:
    """z ~ N(0, I), (n, latent_dim), drawn from ``generator`` (on the generator's device)."""
    return torch.randn(n, model.latent_dim, generator=generator, device=generator.device)


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type != "cuda":
        return contextlib.nullcontext()  # CPU stays float32: bf16 there is slow and lossy
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def relight(model: Rain, faces: torch.Tensor, *, z: torch.Tensor | None = None,
            generator: torch.Generator | None = None, batch_size: int = 64) -> torch.Tensor:
    """Relight ``faces`` (B, 3, H, W) float in [0, 1] (H, W multiples of 8, ≥ 16) → (B, 3, H, W) in [0, 1].

    The illumination is the latent ``z`` (B, model.latent_dim), or, when ``z`` is
    None, drawn from ``generator`` (one of the two is required: no global RNG).
    Runs in chunks of ``batch_size`` under ``torch.inference_mode`` on the model's
    device, with channels_last input (on CPU too: one core relights a 128² face 15–25 %
    faster than from a contiguous tensor; the weights are left as they are there, so a
    checkpoint saved afterwards keeps its bytes) and, on CUDA, channels_last weights
    and autocast (bf16, else fp16). The result is float32 on the device of ``faces``.
    """
    if faces.dim() != 4 or faces.shape[1] != 3:
        raise UserInputError(f"relight wants faces (B, 3, H, W), got {tuple(faces.shape)}")
    b, _, h, w = faces.shape
    if h % 8 or w % 8 or min(h, w) < 16:
        raise UserInputError(f"relight wants H and W multiples of 8 and ≥ 16, got {h}×{w}")
    if z is None:
        if generator is None:
            raise ValueError("relight needs z or a torch.Generator to draw it from")
        z = sample_latents(model, b, generator)
    if tuple(z.shape) != (b, model.latent_dim):
        raise UserInputError(f"relight wants z of shape ({b}, {model.latent_dim}), got {tuple(z.shape)}")
    device = next(model.parameters()).device
    model.eval()
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    outs = []
    with torch.inference_mode(), _autocast(device):
        for start in range(0, b, batch_size):
            x = faces[start:start + batch_size].to(device, torch.float32) \
                .contiguous(memory_format=torch.channels_last)
            out = model(x, z[start:start + batch_size].to(device, torch.float32))
            outs.append(out.float().clamp_(0, 1).to(faces.device))
    return torch.cat(outs).contiguous()
