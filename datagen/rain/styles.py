"""Procedural lighting/colour fields: the embedded stand-in for WikiArt style images.

RaIN only ever looks at a style image's VGG channel statistics, so pretraining
needs images whose statistics vary the way illumination does: global colour
casts, brightness ramps from a direction, soft spots and shadows, low-frequency
colour blotches. Each field is a pure function of the numpy generator it is
given, so a style batch can be replayed.
"""

from __future__ import annotations

import cv2
import numpy as np


def lighting_field(size: int, rng: np.random.Generator) -> np.ndarray:
    """One (size, size, 3) float32 field in [0, 1]: tinted smooth colour × directional shading."""
    k = int(rng.integers(2, 7))
    blotches = cv2.resize(rng.random((k, k, 3), dtype=np.float32), (size, size),
                          interpolation=cv2.INTER_CUBIC)
    tint = rng.uniform(0.3, 1.0, size=3).astype(np.float32)
    base = (0.5 * blotches + 0.5) * tint  # (S, S, 3)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1) * 2 - 1
    theta = rng.uniform(0, 2 * np.pi)
    ramp = xx * np.cos(theta) + yy * np.sin(theta)  # (S, S) in [-√2, √2]
    ambient, strength = rng.uniform(0.05, 0.6), rng.uniform(0.2, 1.2)
    shading = np.clip(ambient + strength * (ramp + 1) / 2, 0, None)
    cx, cy, r = rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(0.3, 1.0)
    spot = rng.uniform(0, 0.8) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    texture = rng.normal(0, rng.uniform(0, 0.05), size=(size, size, 1)).astype(np.float32)
    field = base * (shading + spot)[:, :, None] + texture
    return np.clip(field, 0, 1).astype(np.float32)


def lighting_fields(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(n, size, size, 3) float32 fields in [0, 1], drawn in order from ``rng``."""
    return np.stack([lighting_field(size, rng) for _ in range(n)])
