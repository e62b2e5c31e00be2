"""Labelled image grids: how people look at faces, pairs and hallucinations."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np


def resize_nearest(image: np.ndarray, size: int) -> np.ndarray:
    """Upscale a small image without smoothing, so the pixels of a 16×16 input stay visible."""
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST)


def draw_points(image: np.ndarray, points: np.ndarray, *, color=(255, 40, 40),
                radius: int = 1) -> np.ndarray:
    """Return a copy of ``image`` with (N, 2) pixel points drawn as dots."""
    out = np.ascontiguousarray(image.copy())
    for x, y in np.asarray(points, dtype=np.float32):
        cv2.circle(out, (int(round(float(x))), int(round(float(y)))), radius, color, -1,
                   lineType=cv2.LINE_AA)
    return out


def _label_strip(text: str, width: int, height: int = 14) -> np.ndarray:
    strip = np.full((height, width, 3), 255, np.uint8)
    scale = 0.35
    cv2.putText(strip, text[: max(1, width // 6)], (2, height - 4), cv2.FONT_HERSHEY_SIMPLEX,
                scale, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


def make_grid(rows: Sequence[Sequence[np.ndarray]], *, cell: int = 128,
              labels: Sequence[Sequence[str]] | None = None,
              row_titles: Sequence[str] | None = None, pad: int = 2) -> np.ndarray:
    """Tile images into a grid (one uint8 RGB image).

    rows:       rows of (H, W, 3) uint8 images; each is resized to ``cell``×``cell``
                (nearest when upscaling a smaller image, area when shrinking).
    labels:     optional per-cell captions drawn under each cell.
    row_titles: optional captions drawn above each row.
    """
    ncols = max(len(r) for r in rows)
    label_h = 14 if labels is not None else 0
    title_h = 14 if row_titles is not None else 0
    cell_h = cell + label_h
    row_h = title_h + cell_h + pad
    width = ncols * (cell + pad) + pad
    canvas = np.full((len(rows) * row_h + pad, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        y0 = pad + r * row_h
        if row_titles is not None:
            canvas[y0:y0 + title_h, :] = _label_strip(row_titles[r], width)
        for c, img in enumerate(row):
            x0 = pad + c * (cell + pad)
            interp = cv2.INTER_NEAREST if img.shape[0] < cell else cv2.INTER_AREA
            tile = cv2.resize(img, (cell, cell), interpolation=interp)
            canvas[y0 + title_h:y0 + title_h + cell, x0:x0 + cell] = tile
            if labels is not None:
                canvas[y0 + title_h + cell:y0 + title_h + cell_h, x0:x0 + cell] = \
                    _label_strip(labels[r][c], cell)
    return canvas
