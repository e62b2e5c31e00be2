"""A picture of two sets' lighting statistics: one histogram panel per statistic.

Drawn with OpenCV (already a dependency) so no plotting library is needed: per statistic,
the share of images per bin of each set (bars, one colour a set, overlapping bars
blended), the x axis in the statistic's unit, the Wasserstein distance in the title.
"""

from __future__ import annotations

from typing import Mapping

import cv2
import numpy as np
import torch

from datagen.rain.lighting import STATISTICS, wasserstein_1d

TITLES = {"asymmetry": "left/right asymmetry |mean log r L - R|",
          "range": "shadow range p95 - p5 of log r"}
COLOURS = ((40, 110, 220), (235, 120, 30))  # RGB: first set blue, second orange
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _text(img: np.ndarray, text: str, xy: tuple[int, int], scale: float = 0.4,
          colour: tuple[int, int, int] = (0, 0, 0)) -> None:
    cv2.putText(img, text, xy, FONT, scale, colour, 1, cv2.LINE_AA)


def _panel(values: list[np.ndarray], labels: list[str], title: str, *, bins: int,
           width: int, height: int) -> np.ndarray:
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 40, 12, 36, 34
    hi = max(float(np.quantile(v, 0.995)) for v in values) * 1.05 or 1.0
    edges = np.linspace(0.0, hi, bins + 1)
    shares = [np.histogram(np.clip(v, 0.0, hi), edges)[0] / max(v.size, 1) for v in values]
    top_share = max(float(s.max()) for s in shares) * 1.1 or 1.0
    x0, x1, y0, y1 = left, width - right, top, height - bottom

    def px(x: float) -> int:
        return int(round(x0 + (x1 - x0) * x / hi))

    def py(share: float) -> int:
        return int(round(y1 - (y1 - y0) * share / top_share))

    for s, colour in zip(shares, COLOURS):
        layer = img.copy()
        for k, share in enumerate(s):
            if share > 0:
                cv2.rectangle(layer, (px(edges[k]) + 1, py(share)), (px(edges[k + 1]) - 1, y1),
                              colour, -1)
        img = cv2.addWeighted(layer, 0.55, img, 0.45, 0.0)
    cv2.line(img, (x0, y1), (x1, y1), (0, 0, 0), 1)
    cv2.line(img, (x0, y0), (x0, y1), (0, 0, 0), 1)
    step = float(np.round(hi / 5, 1)) or hi / 5
    for t in np.arange(0.0, hi + 1e-9, step):
        cv2.line(img, (px(t), y1), (px(t), y1 + 4), (0, 0, 0), 1)
        _text(img, f"{t:.1f}", (px(t) - 9, y1 + 16), 0.35)
    _text(img, "share", (2, y0 - 6), 0.35)
    _text(img, f"{top_share / 1.1:.2f}", (2, py(top_share / 1.1) + 4), 0.3)
    _text(img, title, (x0, 14), 0.42)
    legend = [f"{label} (median {np.median(v):.2f})" for label, v in zip(labels, values)]
    text_w = max(cv2.getTextSize(t, FONT, 0.33, 1)[0][0] for t in legend)
    lx = max(x0 + 4, x1 - text_w - 18)
    for i, (text, colour) in enumerate(zip(legend, COLOURS)):
        y = y0 + 12 + 16 * i
        cv2.rectangle(img, (lx, y - 9), (lx + 10, y + 1), colour, -1)
        _text(img, text, (lx + 15, y), 0.33)
    return img


def lighting_histograms(sets: Mapping[str, Mapping[str, torch.Tensor]], *, bins: int = 24,
                        panel: tuple[int, int] = (440, 280)) -> np.ndarray:
    """(H, W, 3) uint8 RGB: a histogram panel per statistic of ``STATISTICS``, side by side,
    of two sets (label → statistic → (N,) values); the title gives their 1-D Wasserstein
    distance."""
    if len(sets) != 2:
        raise ValueError(f"lighting_histograms draws two sets, got {len(sets)}")
    labels = list(sets)
    panels = []
    for name in STATISTICS:
        values = [sets[k][name].double().numpy() for k in labels]
        values = [v[~np.isnan(v)] for v in values]
        w = wasserstein_1d(torch.from_numpy(values[0]), torch.from_numpy(values[1]))
        panels.append(_panel(values, labels, f"{TITLES[name]}   W1 = {w:.3f}", bins=bins,
                             width=panel[0], height=panel[1]))
    return np.concatenate(panels, axis=1)
