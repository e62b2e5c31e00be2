"""Does a relit face carry real light? Statistics of the lighting ratio image NI-HR / UI-HR.

Dividing a face lit by some light (NI-HR) by the same face under uniform light (UI-HR)
cancels the albedo and leaves the light: the ratio image ``r = Y(nihr) / Y(uihr)``
(luminance, Gaussian-blurred so texture and small misalignments do not count, measured
inside the face). Two numbers per image describe it:

- **asymmetry** ``|mean log r (left half) − mean log r (right half)|``: a side light makes
  one half of the face brighter than the other (0 for a frontal or a uniform change);
- **range** ``p95 − p5`` of ``log r``: how far the darkest shadows lie below the most lit
  skin (0 for a global brightness change, ≈ 3–4 for Extended Yale B's hard side lights).

A set of images gives a distribution of each statistic; two sets (RaIN outputs, real
lit faces) are compared per statistic by the 1-D Wasserstein distance of their
empirical distributions, in the statistic's own unit (log-luminance).

Measurement protocol (all images are first area-resized to ``MEASURE_SIZE``²):

- luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` in [0, 1];
- blur: Gaussian, σ = ``BLUR_SIGMA`` pixels at ``MEASURE_SIZE``, reflect padding;
- ``log r = log((Y_ni + EPS) / (Y_ui + EPS))``: EPS bounds the log of black shadows;
- face mask: the ellipse centred at ``FACE_CENTRE`` with semi-axes ``FACE_AXES`` (fractions
  of width and height: the inner face of an aligned crop, no hair or background), and
  blurred ``Y_ui ≥ MIN_UI_LUMA`` (eyes, brows and dark hair, where the ratio is noise);
- left/right: mask pixels in columns ``x < W/2`` against ``x ≥ W/2`` (the face is centred).
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

MEASURE_SIZE = 64
BLUR_SIGMA = 1.5
EPS = 0.01
MIN_UI_LUMA = 0.08
FACE_CENTRE = (0.5, 0.53)   # (x, y) as fractions of (W, H)
FACE_AXES = (0.30, 0.38)    # semi-axes (x, y) as fractions of (W, H)
RANGE_QUANTILES = (0.05, 0.95)
STATISTICS = ("asymmetry", "range")
SUMMARY_QUANTILES = {"p05": 0.05, "p25": 0.25, "median": 0.5, "p75": 0.75, "p95": 0.95}
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _check_images(images: Tensor, name: str) -> None:
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"{name} must be (B, 3, H, W) or (B, 1, H, W), got {tuple(images.shape)}")


def luminance(images: Tensor) -> Tensor:
    """(B, 1, H, W) luminance of ``images`` (B, 3, H, W) RGB in [0, 1] (or (B, 1, H, W) as is)."""
    _check_images(images, "images")
    if images.shape[1] == 1:
        return images
    w = images.new_tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
    return (images * w).sum(1, keepdim=True)


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of (B, 1, H, W) ``x`` with σ = ``sigma`` pixels (reflect padded);
    ``sigma`` 0 returns ``x``."""
    if sigma <= 0:
        return x
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1))


def face_ellipse(height: int, width: int) -> Tensor:
    """(1, 1, H, W) bool: the inner-face ellipse (``FACE_CENTRE``, ``FACE_AXES``), pixel
    centres at (x + 0.5, y + 0.5); symmetric about the vertical mid-line."""
    y = (torch.arange(height, dtype=torch.float64) + 0.5) / height
    x = (torch.arange(width, dtype=torch.float64) + 0.5) / width
    dx = (x.view(1, -1) - FACE_CENTRE[0]) / FACE_AXES[0]
    dy = (y.view(-1, 1) - FACE_CENTRE[1]) / FACE_AXES[1]
    return (dx * dx + dy * dy <= 1.0).view(1, 1, height, width)


def face_mask(ui_luma: Tensor) -> Tensor:
    """(B, 1, H, W) bool: inside the face ellipse and blurred UI luminance ``ui_luma``
    (B, 1, H, W) in [0, 1] at least ``MIN_UI_LUMA``."""
    _check_images(ui_luma, "ui_luma")
    return face_ellipse(*ui_luma.shape[-2:]) & (ui_luma >= MIN_UI_LUMA)


def _measure_size(images: Tensor, size: int) -> Tensor:
    if tuple(images.shape[-2:]) == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="area")


def log_ratio(nihr: Tensor, uihr: Tensor, *, size: int = MEASURE_SIZE,
              sigma: float = BLUR_SIGMA, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Log lighting ratio of paired faces and the face mask it is measured in.

    nihr, uihr: (B, 3, H, W) (or (B, 1, H, W) luminance) in [0, 1], the same faces under the
                light to measure and under uniform light; area-resized to ``size``².
    Returns ``log r`` (B, 1, size, size), ``log((blur Y_ni + eps) / (blur Y_ui + eps))``, and
    the mask (B, 1, size, size) bool of ``face_mask``.
    """
    _check_images(nihr, "nihr")
    _check_images(uihr, "uihr")
    if nihr.shape[0] != uihr.shape[0]:
        raise ValueError(f"nihr and uihr must pair up, got {nihr.shape[0]} and {uihr.shape[0]}")
    y_ni = gaussian_blur(luminance(_measure_size(nihr.float(), size)), sigma)
    y_ui = gaussian_blur(luminance(_measure_size(uihr.float(), size)), sigma)
    return torch.log((y_ni + eps) / (y_ui + eps)), face_mask(y_ui)


def _check_masked(log_r: Tensor, mask: Tensor) -> None:
    _check_images(log_r, "log_r")
    if mask.shape != log_r.shape or mask.dtype != torch.bool:
        raise ValueError(f"mask must be bool of shape {tuple(log_r.shape)}, got "
                         f"{mask.dtype} {tuple(mask.shape)}")


def asymmetry(log_r: Tensor, mask: Tensor) -> Tensor:
    """(B,) ``|mean log r over the mask's left half − mean over its right half|`` ≥ 0.

    log_r: (B, 1, H, W) log ratio; mask: (B, 1, H, W) bool, non-empty on both halves
    (an empty half gives NaN)."""
    _check_masked(log_r, mask)
    left = torch.zeros_like(mask)
    left[..., : log_r.shape[-1] // 2] = True
    m = mask.to(log_r.dtype)
    lm, rm = m * left, m * ~left

    def mean(w: Tensor) -> Tensor:
        return (log_r * w).sum((1, 2, 3)) / w.sum((1, 2, 3))

    return (mean(lm) - mean(rm)).abs()


def masked_quantiles(values: Tensor, mask: Tensor, q: tuple[float, ...]) -> Tensor:
    """(B, len(q)) quantiles (linear interpolation, as ``torch.quantile``) of ``values``
    (B, 1, H, W) over each image's ``mask`` (B, 1, H, W) bool; NaN for an empty mask."""
    _check_masked(values, mask)
    qs = torch.tensor(q, dtype=values.dtype)
    out = torch.full((values.shape[0], len(q)), float("nan"), dtype=values.dtype)
    for b in range(values.shape[0]):
        inside = values[b][mask[b]]
        if inside.numel():
            out[b] = torch.quantile(inside, qs)
    return out


def shadow_range(log_r: Tensor, mask: Tensor, *,
                 quantiles: tuple[float, float] = RANGE_QUANTILES) -> Tensor:
    """(B,) ``p95 − p5`` (by default) of ``log r`` (B, 1, H, W) over ``mask`` (B, 1, H, W) ≥ 0."""
    qs = masked_quantiles(log_r, mask, quantiles)
    return qs[:, 1] - qs[:, 0]


def lighting_statistics(nihr: Tensor, uihr: Tensor) -> dict[str, Tensor]:
    """Per pair, the ``STATISTICS`` of the lighting ratio of ``nihr`` over ``uihr``
    ((B, 3, H, W) in [0, 1], paired faces): ``{"asymmetry": (B,), "range": (B,)}``, float64."""
    log_r, mask = log_ratio(nihr, uihr)
    log_r = log_r.double()
    return {"asymmetry": asymmetry(log_r, mask), "range": shadow_range(log_r, mask)}


def wasserstein_1d(a: Tensor, b: Tensor) -> float:
    """1-D Wasserstein (earth mover's) distance ``∫ |F_a(x) − F_b(x)| dx`` between the
    empirical distributions of samples ``a`` (N,) and ``b`` (M,) (NaNs dropped), in their unit."""
    a, b = a.double().flatten(), b.double().flatten()
    a, b = a[~a.isnan()].sort().values, b[~b.isnan()].sort().values
    if not a.numel() or not b.numel():
        raise ValueError("wasserstein_1d needs at least one value on each side")
    points = torch.cat([a, b]).sort().values
    x = points[:-1]
    cdf_a = torch.searchsorted(a, x, right=True).double() / a.numel()
    cdf_b = torch.searchsorted(b, x, right=True).double() / b.numel()
    return float(((cdf_a - cdf_b).abs() * points.diff()).sum())


def summarize(stats: Mapping[str, Tensor]) -> dict[str, dict[str, float]]:
    """Per statistic: ``SUMMARY_QUANTILES`` (p05 … p95), mean and count of its values (N,)."""
    out = {}
    for name, values in stats.items():
        v = values.double()[~values.isnan()]
        qs = torch.quantile(v, torch.tensor(list(SUMMARY_QUANTILES.values()), dtype=v.dtype))
        out[name] = {k: float(x) for k, x in zip(SUMMARY_QUANTILES, qs)}
        out[name]["mean"] = float(v.mean())
        out[name]["n"] = int(v.numel())
    return out


def compare(stats: Mapping[str, Tensor], reference: Mapping[str, Tensor]) -> dict[str, float]:
    """Per statistic, the ``wasserstein_1d`` distance of ``stats`` to ``reference``."""
    return {name: wasserstein_1d(stats[name], reference[name]) for name in STATISTICS}
