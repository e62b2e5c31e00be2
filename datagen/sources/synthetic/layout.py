"""Where every facial feature sits: identity + nuisance → one layout per face.

The layout is the single description that both the renderer and the landmark
function read, which is what keeps the analytic iBUG-68 points on the rendered
features. Everything is in the face frame (``u`` right, ``v`` down, head about
1.3 wide) plus a similarity transform (roll, scale, shift) to image units
``X, Y`` in [-1, 1]; pose is approximated by parallax (features shift by
``yaw``/``pitch`` in proportion to their depth).

Arrays are float64 of shape (B,) (colours (B, 3)); only arithmetic and per-face
``math`` calls are used, so a face's layout never depends on its batch.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

Layout = dict[str, np.ndarray]

# how far (in units of yaw/pitch) a feature moves: nose tip most, outline least
_DEPTH = {"eye": 0.55, "brow": 0.55, "nose_top": 0.6, "nose_tip": 1.0, "mouth": 0.7}


def make_layout(identities: Sequence[Mapping], nuisances: Sequence[Mapping]) -> Layout:
    """Combine per-face identity and nuisance parameter dicts into one (B,)-array layout."""
    def col(name: str, src: Sequence[Mapping]) -> np.ndarray:
        return np.asarray([d[name] for d in src], dtype=np.float64)

    ids, nus = identities, nuisances
    yaw, pitch = col("yaw", nus), col("pitch", nus)
    roll = [math.radians(d["roll_deg"]) for d in nus]
    L: Layout = {
        "cos_r": np.asarray([math.cos(a) for a in roll]),
        "sin_r": np.asarray([math.sin(a) for a in roll]),
        "scale": col("face_scale", ids) * col("scale", nus),
        "tx": col("tx", nus), "ty": col("ty", nus),
    }
    for name in ("head_w", "head_c", "head_top", "head_bot", "jaw_square", "jaw_taper",
                 "head_depth", "iris_r", "brow_thick", "brow_density", "brow_arch",
                 "nose_w", "nose_ridge", "nose_tip_r", "bridge_w", "lip_up", "lip_lo",
                 "lip_bow", "lip_red", "blush", "hairline_v", "hairline_curve",
                 "hair_volume", "hair_len", "hair_freq", "hair_phase", "neck_w",
                 "ear_w", "ear_h", "hairline_tilt", "stubble"):
        L[name] = col(name, ids)
    for name in ("skin_rgb", "lip_rgb", "iris_rgb", "hair_rgb", "bg_top", "bg_bottom"):
        L[name] = np.stack([np.asarray(d[name], dtype=np.float64) for d in ids])

    def shift(kind: str) -> tuple[np.ndarray, np.ndarray]:
        return yaw * _DEPTH[kind], pitch * _DEPTH[kind]

    # eyes: index 0 = image-left (subject's right), 1 = image-right
    dx, dy = shift("eye")
    sep, ew = col("eye_sep", ids), col("eye_w", ids)
    L["eye_cy"] = col("eye_v", ids) + dy
    L["eye_cx0"], L["eye_cx1"] = -sep + dx, sep + dx
    L["eye_w0"], L["eye_w1"] = ew * (1.0 + 0.8 * yaw), ew * (1.0 - 0.8 * yaw)
    L["eye_up"] = col("eye_up", ids) * col("eye_open", nus)
    L["eye_lo"] = col("eye_lo", ids) * (0.5 + 0.5 * col("eye_open", nus))
    L["eye_tilt"] = col("eye_tilt", ids)
    L["gaze_x"] = col("gaze_x", nus) * ew * 0.5
    L["gaze_y"] = col("gaze_y", nus) * L["eye_up"]
    # brows sit above the eyes, inner end near the eye's inner corner
    dx, dy = shift("brow")
    bw = col("brow_w", ids)
    inner = sep - ew + col("brow_in", ids)
    L["brow_w"] = bw
    L["brow_cx0"], L["brow_cx1"] = -(inner + bw) + dx, (inner + bw) + dx
    L["brow_cy"] = (col("eye_v", ids) - col("eye_up", ids) - col("brow_gap", ids)
                    - col("brow_raise", nus) + dy)
    # nose: bridge from between the eyes to the tip
    tdx, tdy = shift("nose_tip")
    L["nose_top_x"], L["nose_top_v"] = shift("nose_top")[0], col("eye_v", ids) + dy
    L["nose_tip_x"] = tdx
    L["nose_tip_v"] = col("eye_v", ids) + col("nose_len", ids) + tdy
    # mouth
    dx, dy = shift("mouth")
    L["mouth_cx"] = dx
    L["mouth_cy"] = L["nose_tip_v"] - tdy + col("mouth_gap", ids) + dy
    L["mouth_w"] = col("mouth_w", ids) * (1.0 + 2.0 * col("smile", nus))
    L["smile"] = col("smile", nus)
    L["mouth_open"] = col("mouth_open", nus)
    L["chin_x"] = yaw * 0.4
    return L


def head_halfwidth(L: Layout, t: np.ndarray) -> np.ndarray:
    """Half-width of the head outline at normalised height ``t`` in [-1, 1] (0 = widest)."""
    t = np.clip(t, -1.0, 1.0)
    w = L["head_w"] * (1.0 - L["jaw_taper"] * np.clip(t, 0.0, 1.0) ** 2)
    t2 = t * t
    g = (1.0 - L["jaw_square"]) * np.sqrt(1.0 - t2) + \
        L["jaw_square"] * np.sqrt(np.sqrt(1.0 - t2 * t2))
    return w * g


def lid_curves(s: np.ndarray, up: np.ndarray, lo: np.ndarray, tilt: np.ndarray):
    """Upper and lower eyelid offsets (v) at ``s`` in [-1, 1] from inner (-1) to outer (+1)."""
    bulge = 1.0 - s * s
    return -up * bulge - tilt * s, lo * bulge - tilt * s


def lip_curves(s: np.ndarray, L: Layout, *, xp=np):
    """Offsets (v) from the mouth centre of: upper-outer, upper-inner, lower-inner, lower-outer,
    at ``s`` in [-1, 1] from the image-left corner (-1) to the right corner (+1)."""
    bulge = 1.0 - s * s
    line = -L["smile"] * s * s
    half_open = 0.5 * L["mouth_open"] * bulge
    bow = L["lip_bow"] * xp.clip(1.0 - (s / 0.3) * (s / 0.3), 0.0, 1.0)
    upper_outer = line - half_open - L["lip_up"] * bulge + bow
    lower_outer = line + half_open + L["lip_lo"] * bulge
    return upper_outer, line - half_open, line + half_open, lower_outer


def face_to_pixels(L: Layout, u: np.ndarray, v: np.ndarray, size: int) -> np.ndarray:
    """Face-frame points (B, N) → pixel (x, y) (B, N, 2) of a ``size``² image (pixel centres
    at integers)."""
    c, s, k = L["cos_r"][:, None], L["sin_r"][:, None], L["scale"][:, None]
    X = k * (c * u - s * v) + L["tx"][:, None]
    Y = k * (s * u + c * v) + L["ty"][:, None]
    half = size / 2.0
    return np.stack([X * half + (size - 1) / 2.0, Y * half + (size - 1) / 2.0], axis=-1)
