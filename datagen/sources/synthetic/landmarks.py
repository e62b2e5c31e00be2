"""Analytic iBUG-68 landmarks of a synthetic face, read off the same layout the renderer uses.

Order (0-based, image-left = the subject's right): jaw 0–16 (image-left ear level,
round the chin at 8, to image-right), brows 17–21 and 22–26 (left to right),
nose bridge 27–30 (top to tip) and base 31–35, eyes 36–41 (image-left: outer
corner, upper lid, inner corner, lower lid) and 42–47 (image-right: inner corner
first), mouth outer 48–59 and inner 60–67 (from the image-left corner, clockwise).
"""

from __future__ import annotations

import numpy as np

from datagen.sources.synthetic.layout import Layout, face_to_pixels, head_halfwidth, \
    lid_curves, lip_curves


def _col(L: Layout) -> Layout:
    return {k: (v[:, None] if v.ndim == 1 else v) for k, v in L.items()}


def _jaw(L: Layout) -> tuple[np.ndarray, np.ndarray]:
    theta = np.linspace(0.0, np.pi / 2, 9)[None, :]                  # side → chin
    t = np.sin(theta)                                                 # (1, 9)
    v = L["head_c"] + L["head_bot"] * t
    hw = head_halfwidth(L, t) * np.ones_like(v)
    x_shift = L["chin_x"] * t
    u = np.concatenate([-hw + x_shift, (hw + x_shift)[:, -2::-1]], axis=1)
    return u, np.concatenate([v, v[:, -2::-1]], axis=1)


def _brows(L: Layout) -> tuple[np.ndarray, np.ndarray]:
    us, vs = [], []
    for side, s in ((-1.0, np.array([1.0, 0.5, 0.0, -0.5, -1.0])),
                    (1.0, np.array([-1.0, -0.5, 0.0, 0.5, 1.0]))):
        cx = L["brow_cx0"] if side < 0 else L["brow_cx1"]
        s = s[None, :]
        us.append(cx + side * s * L["brow_w"])
        centre = L["brow_cy"] - L["brow_arch"] * (1.0 - s * s)
        vs.append(centre - 0.25 * L["brow_thick"] * (1.0 - 0.35 * (s + 1.0) / 2.0))
    return np.concatenate(us, axis=1), np.concatenate(vs, axis=1)


def _nose(L: Layout) -> tuple[np.ndarray, np.ndarray]:
    a = np.linspace(0.0, 1.0, 4)[None, :]
    bu = L["nose_top_x"] + (L["nose_tip_x"] - L["nose_top_x"]) * a
    bv = L["nose_top_v"] + (L["nose_tip_v"] - L["nose_top_v"]) * a
    k = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])[None, :]
    base_u = L["nose_tip_x"] + k * L["nose_w"] * 0.8
    base_v = L["nose_tip_v"] + L["nose_tip_r"] * (0.55 + 0.25 * (1.0 - np.abs(k)))
    return np.concatenate([bu, base_u], axis=1), np.concatenate([bv, base_v], axis=1)


def _eyes(L: Layout) -> tuple[np.ndarray, np.ndarray]:
    us, vs = [], []
    third = 1.0 / 3.0
    for side, idx, order in ((-1.0, 0, [1.0, third, -third, -1.0, -third, third]),
                             (1.0, 1, [-1.0, -third, third, 1.0, third, -third])):
        s = np.array(order)[None, :]
        upper = np.array([True, True, True, True, False, False])[None, :]
        up, lo = lid_curves(s, L["eye_up"], L["eye_lo"], L["eye_tilt"])
        us.append(L[f"eye_cx{idx}"] + side * s * L[f"eye_w{idx}"])
        vs.append(L["eye_cy"] + np.where(upper, up, lo))
    return np.concatenate(us, axis=1), np.concatenate(vs, axis=1)


def _mouth(L: Layout) -> tuple[np.ndarray, np.ndarray]:
    t = 1.0 / 3.0
    outer_s = np.array([-1, -2 * t, -t, 0, t, 2 * t, 1, 2 * t, t, 0, -t, -2 * t])[None, :]
    outer_up = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], bool)[None, :]
    inner_s = np.array([-0.85, -t, 0, t, 0.85, t, 0, -t])[None, :]
    inner_up = np.array([1, 1, 1, 1, 1, 0, 0, 0], bool)[None, :]
    uo, _, _, lo = lip_curves(outer_s, L)
    _, ui, li, _ = lip_curves(inner_s, L)
    u = np.concatenate([outer_s, inner_s], axis=1) * L["mouth_w"] + L["mouth_cx"]
    v = L["mouth_cy"] + np.concatenate([np.where(outer_up, uo, lo),
                                        np.where(inner_up, ui, li)], axis=1)
    return u, v


def landmarks_from_layout(L: Layout, size: int) -> np.ndarray:
    """iBUG-68 landmarks (B, 68, 2) float32 in pixel (x, y) of a ``size``² render."""
    C = _col(L)
    parts = [_jaw(C), _brows(C), _nose(C), _eyes(C), _mouth(C)]
    u = np.concatenate([p[0] * np.ones_like(p[1]) for p in parts], axis=1)
    v = np.concatenate([p[1] * np.ones_like(p[0]) for p in parts], axis=1)
    return face_to_pixels(L, u, v, size).astype(np.float32)
