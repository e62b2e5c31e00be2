"""Geometric relighting: any face photo with iBUG-68 landmarks, relit through a 3D template.

Per face, on the device and batched:

1. **fit**: the least-squares affine map from the photo's 68 landmarks to the template's
   (``datagen.relight.template``: the synthetic faces' mean depth map) places the mean depth
   under the photo (bilinear, heights scaled with the face);
2. **shade**: normals of that height field, Lambertian + ambient under the sampled
   directional light, with attached shadows (n·l < 0) and soft cast shadows of the
   relief on itself (nose on cheek, brow on eye), as the synthetic renderer does
   (``datagen.sources.synthetic.shading``); and the same under the uniform light
   (``uniform_light``) that the photo is taken to be lit by;
3. **ratio**: ``sqrt(shade_light / shade_uniform)`` per RGB channel (display values are
   the square root of linear light, gamma 2, as the renderer's), Gaussian-smoothed so the
   template's misfit leaves no edges, times the uniformly lit photo.

Off the head the template is a flat wall facing the camera, so the background darkens
with the light's angle from the view axis.

Side convention (``_direction``: x right, y down, z towards the viewer): a light of
azimuth > 0 comes from the image's right (the subject's left) and leaves the image-left
half of the face darker; azimuth < 0 the other way round. Elevation > 0 is from above.

Only exactly-rounded float operations (+, −, ×, ÷, sqrt, min/max, floor) and integer
gathers touch a pixel, so a face's output does not depend on the batch it is relit in:
a sample regenerates from its stored UI-HR, landmarks and light alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from facecore.errors import UserInputError
from datagen.relight.template import FaceTemplate, face_template
from datagen.sources.synthetic.params import directional_light, light_tint, uniform_light
from datagen.sources.synthetic.shading import CAST_SOFTNESS, SHADOW_STEPS, lambert, \
    light_arrays, normals, shadow_rays

Tensor = torch.Tensor
LIGHT_TAG = 0x6E0  # separates the light's generator from every other use of a style seed
RATIO_BLUR = 1.5 / 128  # σ of the ratio's smoothing, as a fraction of the image size
MIN_LANDMARK_SPREAD = 4.0  # pixels: landmarks closer together than this cannot be fitted


def _check_range(name: str, pair: tuple[float, float], low: float, high: float) -> None:
    if not low <= pair[0] <= pair[1] <= high:
        raise UserInputError(f"geometric light: {name} must be a range {low} ≤ lo ≤ hi ≤ "
                             f"{high}, got {list(pair)}")


@dataclass(frozen=True)
class GeometricLight:
    """Ranges of the random light of ``--relight geometric``; each value is drawn uniformly.

    azimuth:   degrees from the view axis, on a side (image left or right) chosen 50/50.
    elevation: degrees, + above the face.
    intensity: the directional light's strength (the uniform light is 0.55 + 0.55 ambient).
    ambient:   the ambient level, lighting even the attached shadows (0: a dark room).
    warmth:    colour temperature spread of the light's tint (``light_tint``); gel_share the
               chance of a coloured gel on it.

    The defaults light a face as Extended Yale B does (one light in a dark room), fitted on
    subjects 01–28: their uniform photos relit under them lie within 1-D Wasserstein
    distances 0.064 (asymmetry) and 0.167 (shadow range) of the real lit photos' lighting
    ratios, the held-out subjects 29–39 within 0.113 and 0.104
    (``benchmarks/lighting_stats.py --geometric 64``; the synthetic source's point light,
    intensity 1.1–1.7 and ambient < 0.001, gave 0.155 / 0.199 on 01–28).
    """

    azimuth: tuple[float, float] = (0.0, 115.0)
    elevation: tuple[float, float] = (-40.0, 65.0)
    intensity: tuple[float, float] = (1.4, 2.6)
    ambient: tuple[float, float] = (0.0, 0.0002)
    warmth: float = 1.0
    gel_share: float = 0.2

    def __post_init__(self) -> None:
        _check_range("azimuth", self.azimuth, 0.0, 180.0)
        _check_range("elevation", self.elevation, -90.0, 90.0)
        _check_range("intensity", self.intensity, 0.0, math.inf)
        _check_range("ambient", self.ambient, 0.0, math.inf)
        if not 0.0 <= self.warmth <= 1.0 or not 0.0 <= self.gel_share <= 1.0:
            raise UserInputError(f"geometric light: warmth and gel_share must be in [0, 1], "
                                 f"got {self.warmth} and {self.gel_share}")


def sample_geometric_light(config: GeometricLight, style_seed: int) -> dict:
    """The light of one sample: a pure function of ``(config, style_seed)``, JSON-ready, in the
    synthetic source's light-dict form (``kind`` "geometric", one directional light)."""
    r = np.random.default_rng(np.random.SeedSequence([int(style_seed), LIGHT_TAG]))
    u = r.uniform
    side = 1.0 if u() < 0.5 else -1.0
    light = directional_light(side * u(*config.azimuth), u(*config.elevation),
                              u(*config.intensity),
                              light_tint(r, warmth=config.warmth, gel_share=config.gel_share))
    return {"lighting": "non-uniform", "kind": "geometric", "ambient": float(u(*config.ambient)),
            "ambient_tint": [1.0, 1.0, 1.0], "lights": [light]}


def fit_template(landmarks: Tensor, template: FaceTemplate) -> Tensor:
    """(B, 2, 3) float64 least-squares affine maps from image pixels to template pixels.

    landmarks: (B, 68, 2) iBUG-68 pixel (x, y) of the faces, finite.
    """
    src = landmarks.double()
    dst = torch.as_tensor(template.landmarks, dtype=torch.float64, device=src.device)
    ones = torch.ones_like(src[..., :1])
    X = torch.cat([src, ones], dim=-1)                          # (B, 68, 3)
    XtX = X.transpose(1, 2) @ X                                 # (B, 3, 3)
    XtY = X.transpose(1, 2) @ dst.expand_as(src)                # (B, 3, 2)
    return torch.linalg.solve(XtX, XtY).transpose(1, 2)         # (B, 2, 3)


def _bilinear(field: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """``field`` (T, T) at pixel positions ``x, y`` (B, S, S), bilinear, 0 outside."""
    T = field.shape[-1]
    flat = field.reshape(-1)
    x0, y0 = x.floor(), y.floor()
    fx, fy = x - x0, y - y0
    out = torch.zeros_like(x)
    for oy, wy in ((0.0, 1.0 - fy), (1.0, fy)):
        for ox, wx in ((0.0, 1.0 - fx), (1.0, fx)):
            xi, yi = x0 + ox, y0 + oy
            inside = ((xi >= 0) & (xi <= T - 1) & (yi >= 0) & (yi <= T - 1)).to(x.dtype)
            index = (yi.clamp(0, T - 1) * T + xi.clamp(0, T - 1)).long()
            out = out + flat[index] * inside * (wx * wy)
    return out


def template_height(landmarks: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """The template fitted under faces of ``size``² with ``landmarks`` (B, 68, 2): head cover
    (B, S, S) in [0, 1] and height (B, S, S) in the image's units (it spans [-1, 1])."""
    template = face_template()
    device = landmarks.device
    A = fit_template(landmarks, template)                       # (B, 2, 3) image → template
    det = (A[:, 0, 0] * A[:, 1, 1] - A[:, 0, 1] * A[:, 1, 0]).abs()
    # template px per image px is sqrt(det): heights scale by its inverse, and by the ratio
    # of the half-sizes the two height units are measured in
    z_scale = (template.size / size / det.sqrt()).float().view(-1, 1, 1)
    a = A.float().view(-1, 6, 1, 1)
    px = torch.arange(size, dtype=torch.float32, device=device)
    xs, ys = px.view(1, 1, size), px.view(1, size, 1)
    tx = a[:, 0] * xs + a[:, 1] * ys + a[:, 2]                  # (B, S, S) template x
    ty = a[:, 3] * xs + a[:, 4] * ys + a[:, 5]
    cover = _bilinear(template.cover.to(device), tx, ty)
    z = _bilinear(template.depth.to(device), tx, ty) * z_scale
    return cover, z


def _shade(normal: tuple[Tensor, Tensor, Tensor], cover: Tensor, z: Tensor,
           lights: Sequence[dict]) -> Tensor:
    """Linear light (B, 3, S, S) reaching unit normals ``normal`` under ``lights``: ambient
    plus each light's Lambert term, cast shadows on the face (``cover``) from height ``z``."""
    size = z.shape[-1]
    dirs, cols, amb, _ = (t.to(z.device) for t in light_arrays(lights))
    rays = [tuple(t.to(z.device) for t in ray) for ray in shadow_rays(lights, size, SHADOW_STEPS)]
    shade = amb.view(-1, 3, 1, 1).expand(-1, 3, size, size)
    for j in range(dirs.shape[1]):
        lam = lambert(*normal, dirs[:, j], cover, z, rays[j], soft=CAST_SOFTNESS)
        shade = shade + cols[:, j].view(-1, 3, 1, 1) * lam.unsqueeze(1)
    return shade


def smooth(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur (σ ``sigma`` pixels, replicated border) of ``x`` (B, C, H, W),
    by a fixed-order sum of shifted copies (no convolution kernels whose float sums could
    depend on the batch)."""
    radius = max(1, math.ceil(3.0 * sigma))
    weights = [math.exp(-0.5 * (k / sigma) ** 2) for k in range(-radius, radius + 1)]
    total = sum(weights)
    H, W = x.shape[-2:]
    for dim, n in ((-1, W), (-2, H)):
        padded = torch.cat([x.narrow(dim, 0, 1).expand_as(x.narrow(dim, 0, radius)), x,
                            x.narrow(dim, n - 1, 1).expand_as(x.narrow(dim, 0, radius))], dim)
        out = torch.zeros_like(x)
        for k, w in enumerate(weights):
            out = out + padded.narrow(dim, k, n) * (w / total)
        x = out
    return x


def _check_landmarks(landmarks: Tensor, batch: int) -> None:
    if tuple(landmarks.shape) != (batch, 68, 2):
        raise ValueError(f"landmarks must be ({batch}, 68, 2), got {tuple(landmarks.shape)}")
    if not bool(torch.isfinite(landmarks).all()):
        raise UserInputError("geometric relighting needs the 68 landmarks of every face; "
                             "some are missing (NaN): align the photos first (`datagen align "
                             "SRC DST`) and relight DST")
    spread = (landmarks - landmarks.mean(1, keepdim=True)).double().square().sum(-1).mean(1)
    if bool((spread.sqrt() < MIN_LANDMARK_SPREAD).any()):
        raise UserInputError("geometric relighting: some face's 68 landmarks lie on one spot "
                             "(no face to fit the template to)")


def geometric_ratio(landmarks: Tensor, lights: Sequence[dict], size: int) -> Tensor:
    """The smoothed lighting ratio (B, 3, size, size) ≥ 0 that relights faces with
    ``landmarks`` (B, 68, 2) pixel (x, y) under ``lights`` (one dict per face, as
    ``sample_geometric_light`` makes), relative to uniform light; on ``landmarks.device``."""
    if len(lights) != landmarks.shape[0]:
        raise ValueError(f"one light per face: {landmarks.shape[0]} faces, {len(lights)} lights")
    _check_landmarks(landmarks, len(lights))
    cover, z = template_height(landmarks, size)
    n = normals(z, size)
    lit = _shade(n, cover, z, lights)
    even = _shade(n, cover, z, [uniform_light()] * len(lights))   # ≥ 0.55: no division by 0
    return smooth((lit / even).sqrt(), RATIO_BLUR * size)


def relight_geometric(images: Tensor, landmarks: Tensor, lights: Sequence[dict]) -> Tensor:
    """Uniformly lit faces ``images`` (B, 3, S, S) in [0, 1] relit under ``lights`` (one dict
    per face) through the template fitted to ``landmarks`` (B, 68, 2) pixel (x, y) in
    ``images``: (B, 3, S, S) in [0, 1], on ``images.device``.

    Raises ``UserInputError`` if a face has no (finite) landmarks."""
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3]:
        raise ValueError(f"images must be (B, 3, S, S), got {tuple(images.shape)}")
    ratio = geometric_ratio(landmarks.to(images.device), lights, images.shape[-1])
    return (images * ratio).clamp(0.0, 1.0)
