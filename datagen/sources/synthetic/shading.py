"""Light on a height field: normals, cast shadows and per-face light arrays.

All per-pixel work uses exactly-rounded operations and integer gathers (see
``render``), so results do not depend on the batch a face is rendered in.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

Tensor = torch.Tensor
SHADOW_STEPS = (0.016, 0.03, 0.05, 0.075, 0.1, 0.14, 0.19, 0.25)  # ray steps, image units


def normals(z: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Unit normals (nx, ny, nz), each (B, S, S), of a height field in image units."""
    step = 2.0 * (2.0 / size)
    zx = torch.cat([z[:, :, 1:2] - z[:, :, 0:1], z[:, :, 2:] - z[:, :, :-2],
                    z[:, :, -1:] - z[:, :, -2:-1]], dim=2) / step
    zy = torch.cat([z[:, 1:2] - z[:, 0:1], z[:, 2:] - z[:, :-2],
                    z[:, -1:] - z[:, -2:-1]], dim=1) / step
    norm = (zx * zx + zy * zy + 1.0).sqrt()
    return -zx / norm, -zy / norm, 1.0 / norm


def shadow_rays(lights: Sequence[dict], size: int, steps: Sequence[float]):
    """Per light, per face and per step: integer pixel offsets (B, n) towards the light in the
    image plane and how much a ray to the light rises over them (B, n), in image units.
    Faces with fewer lights, or a light almost along the view axis, cast no shadow."""
    k = max(len(d["lights"]) for d in lights)
    out = []
    for j in range(k):
        dx = np.zeros((len(lights), len(steps)), np.int64)
        dy = np.zeros_like(dx)
        rise = np.full((len(lights), len(steps)), 1e9)
        for b, d in enumerate(lights):
            if j >= len(d["lights"]):
                continue
            lx, ly, lz = d["lights"][j]["direction"]
            flat = math.hypot(lx, ly)
            if flat < 0.25:  # within ~15° of the view axis: shadows hide behind their casters
                continue
            for i, r in enumerate(steps):
                ox, oy = round(r * lx / flat * size / 2), round(r * ly / flat * size / 2)
                dx[b, i], dy[b, i] = ox, oy
                dist = math.hypot(ox, oy) * (2.0 / size)
                # plus a bias growing with distance, so that smooth convex surfaces do not
                # shadow themselves
                rise[b, i] = dist * lz / flat + 0.01 + 0.12 * dist
        out.append((torch.from_numpy(dx), torch.from_numpy(dy),
                    torch.from_numpy(rise.astype(np.float32))))
    return out


def cast_shadow(z: Tensor, dx: Tensor, dy: Tensor, rise: Tensor, soft: float) -> Tensor:
    """Cast-shadow factor (B, S, S) in [0, 1] of a height field ``z`` (B, S, S) (image units):
    1 where nothing on the way to the light is higher than the ray, 0 in full shadow."""
    B, S, _ = z.shape
    flat = z.reshape(B, S * S)
    xs = torch.arange(S, device=z.device).view(1, 1, S)
    ys = torch.arange(S, device=z.device).view(1, S, 1)
    occ = torch.zeros_like(z)
    for i in range(dx.shape[1]):
        xi = (xs + dx[:, i].view(B, 1, 1)).clamp(0, S - 1)
        yi = (ys + dy[:, i].view(B, 1, 1)).clamp(0, S - 1)
        ahead = torch.gather(flat, 1, (yi * S + xi).view(B, S * S)).view(B, S, S)
        occ = torch.maximum(occ, ahead - z - rise[:, i].view(B, 1, 1))
    return (1.0 - occ / soft).clamp(0.0, 1.0)


def light_arrays(lights: Sequence[dict]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-face directions (B, K, 3), colours (B, K, 3), ambient colour (B, 3), halfway (B, K, 3);
    faces with fewer lights get zero-intensity ones."""
    k = max(len(d["lights"]) for d in lights)
    dirs = np.zeros((len(lights), k, 3), np.float32)
    dirs[:, :, 2] = 1.0
    cols = np.zeros((len(lights), k, 3), np.float32)
    amb = np.zeros((len(lights), 3), np.float32)
    for b, d in enumerate(lights):
        amb[b] = np.asarray(d["ambient_tint"]) * d["ambient"]
        for j, light in enumerate(d["lights"]):
            dirs[b, j] = light["direction"]
            cols[b, j] = np.asarray(light["tint"]) * light["intensity"]
    half = dirs + np.array([0.0, 0.0, 1.0], np.float32)
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    return (torch.from_numpy(dirs), torch.from_numpy(cols), torch.from_numpy(amb),
            torch.from_numpy(half))
