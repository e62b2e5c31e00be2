"""Geometric jitter and antialiased downsampling of relit faces (stage 2, steps 3–4).

Parameters are sampled first (per sample, from its own generator) and then
applied, kornia-style, so every warp can be replayed from the json it is
recorded in. Landmarks go through the same 2×3 matrix as the pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import kornia
import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AffineParams:
    """One sample's warp: rotation (degrees, about the centre), scale, shift (pixels)."""

    angle: float
    scale: float
    tx: float
    ty: float


def sample_affine(rng: np.random.Generator, *, size: int, max_rotation: float,
                  scale_range: tuple[float, float], max_translation: float) -> AffineParams:
    """Draw a warp: angle ~ U(±max_rotation°), scale ~ U(scale_range), shift ~ U(±t·size)."""
    t = max_translation * size
    return AffineParams(angle=float(rng.uniform(-max_rotation, max_rotation)),
                        scale=float(rng.uniform(*scale_range)),
                        tx=float(rng.uniform(-t, t)), ty=float(rng.uniform(-t, t)))


def affine_matrix(p: AffineParams, size: int) -> np.ndarray:
    """(2, 3) float64 matrix mapping source to destination pixel (x, y), centre (size-1)/2."""
    c = (size - 1) / 2.0
    a = math.radians(p.angle)
    cos, sin = p.scale * math.cos(a), p.scale * math.sin(a)
    return np.array([[cos, -sin, c - cos * c + sin * c + p.tx],
                     [sin, cos, c - sin * c - cos * c + p.ty]], dtype=np.float64)


def warp_images(images: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Warp (B, 3, H, W) images by (B, 2, 3) pixel matrices; borders replicate the edge."""
    return kornia.geometry.transform.warp_affine(
        images, matrices.to(images), dsize=tuple(images.shape[-2:]), mode="bilinear",
        padding_mode="border", align_corners=True)


def warp_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) matrix to (N, 2) pixel points."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Antialiased bicubic resize of (B, 3, H, W) to size×size (the NI-LR thumbnail)."""
    return F.interpolate(images, size=(size, size), mode="bicubic", antialias=True,
                         align_corners=False).clamp_(0, 1)


def scale_points(points: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Pixel-centre coordinates under a src→dst resize (centres at integers)."""
    return (points + 0.5) * (dst / src) - 0.5
