"""The parts of a synthetic face, as pure per-pixel tensor functions of the layout.

Each function takes the layout tensors ``T`` (per-face scalars (B, 1, 1), colours
(B, 3, 1, 1)), face-frame coordinates ``u, v`` (B, h, w) and the pixel footprint
``pw`` (B, 1, 1), and returns coverages in [0, 1], heights (face units) or albedo
(display RGB in [0, 1], (B, 3, h, w)). Only exactly-rounded operations are used
(see ``render``), and every feature has compact support: outside it, it returns
exact zeros (or leaves the albedo bit-for-bit unchanged).
"""

from __future__ import annotations

import torch

from datagen.sources.synthetic.layout import lid_curves, lip_curves

Tensor = torch.Tensor


def smoothstep(x: Tensor) -> Tensor:
    """Smoothstep of ``x`` clamped to [0, 1]."""
    t = x.clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def coverage(d: Tensor, pw: Tensor) -> Tensor:
    """Anti-aliased coverage of a region from a signed distance ``d`` (> 0 inside)."""
    return (d / pw + 0.5).clamp(0.0, 1.0)


def bump(du: Tensor, dv: Tensor, rx, ry) -> Tensor:
    """A smooth compact bump: (1 − (du/rx)² − (dv/ry)²)₊², 1 at the centre, 0 outside."""
    a, b = du / rx, dv / ry
    q = (1.0 - a * a - b * b).clamp(min=0.0)
    return q * q


def mix(a: Tensor, b: Tensor, m: Tensor) -> Tensor:
    """``a`` where ``m`` = 0, ``b`` where ``m`` = 1 (colours (B, 3, H, W) or (B, 3, 1, 1))."""
    return a + (b - a) * m


def head_field(T, u, v, pw):
    """Head coverage and height: an ellipsoid-like dome with a shaped jaw."""
    above = v < T["head_c"]
    h = torch.where(above, T["head_top"], T["head_bot"])
    t = (v - T["head_c"]) / h
    tc = t.clamp(-1.0, 1.0)
    tpos = tc.clamp(min=0.0)
    t2 = tc * tc
    w = T["head_w"] * (1.0 - T["jaw_taper"] * tpos * tpos)
    g = (1.0 - T["jaw_square"]) * (1.0 - t2).sqrt() + \
        T["jaw_square"] * (1.0 - t2 * t2).sqrt().sqrt()
    hw = w * g
    uh = u - T["chin_x"] * tpos
    cover = coverage(hw - uh.abs(), pw) * coverage((1.0 - t.abs()) * h, pw)
    r = uh / (hw + 1e-3)
    q = (1.0 - r * r).clamp(min=0.0)
    z = T["head_depth"] * q.sqrt() * (1.0 - t2).clamp(min=0.0).sqrt()
    return cover, z, uh


def lower_relief(T, u, v):
    """Relief of the lower face added to the head: nose, cheeks, lips, chin."""
    top_v, tip_v = T["nose_top_v"], T["nose_tip_v"]
    a = ((v - top_v) / (tip_v - top_v)).clamp(0.0, 1.0)
    x = T["nose_top_x"] + (T["nose_tip_x"] - T["nose_top_x"]) * a
    width = T["bridge_w"] * (0.8 + 0.6 * a)
    rx = (u - x) / width
    cross = (1.0 - rx * rx).clamp(min=0.0)
    along = smoothstep((tip_v - v) / 0.03 + 0.5) * smoothstep((v - top_v) / 0.08 + 0.6)
    z = T["nose_ridge"] * (0.3 + 0.7 * a) * cross * cross * along
    du_tip, dv_tip = u - T["nose_tip_x"], v - tip_v
    z = z + 1.05 * T["nose_ridge"] * bump(du_tip, dv_tip, T["nose_tip_r"] * 1.15,
                                          T["nose_tip_r"])
    for side in (-1.0, 1.0):
        z = z + 0.45 * T["nose_ridge"] * bump(du_tip - side * T["nose_w"] * 0.75,
                                               dv_tip - 0.012, T["nose_w"] * 0.5,
                                               T["nose_tip_r"] * 0.8)
    for idx in (0, 1):
        z = z + 0.05 * bump(u - T[f"eye_cx{idx}"] * 1.25, v - (tip_v - 0.01), 0.18, 0.13)
    du_m, dv_m = u - T["mouth_cx"], v - T["mouth_cy"]
    mw = T["mouth_w"]
    z = z + 0.03 * bump(du_m, dv_m + T["lip_up"] * 0.5, mw * 1.05, T["lip_up"] * 1.7)
    z = z + 0.035 * bump(du_m, dv_m - T["lip_lo"] * 0.5, mw * 0.95, T["lip_lo"] * 1.5)
    z = z - 0.02 * bump(du_m, dv_m - T["lip_lo"] - 0.035, mw * 0.7, 0.03)  # mentolabial
    chin_v = T["head_c"] + T["head_bot"] - 0.12
    z = z + 0.05 * bump(u - T["chin_x"], v - chin_v, 0.14, 0.1)
    return z


def eye_relief(T, u, v):
    """Relief around the eyes: brow ridge, socket, eyeball."""
    z = torch.zeros_like(u)
    for idx in (0, 1):
        du, dv = u - T[f"eye_cx{idx}"], v - T["eye_cy"]
        ew = T[f"eye_w{idx}"]
        z = z + 0.05 * bump(du, dv + 0.075, ew * 1.6, 0.06)          # brow ridge
        z = z - 0.07 * bump(du, dv + 0.005, ew * 1.45, 0.075)        # socket
        z = z + 0.035 * bump(du, dv, ew * 1.05, 0.055)               # eyeball
    return z


def paint_eye(T, u, v, pw, alb, idx: int, side: float):
    """Paint one eye (sclera, iris, pupil, lash line) onto ``alb`` (B, 3, S, S)."""
    cx, ew = T[f"eye_cx{idx}"], T[f"eye_w{idx}"]
    s = side * (u - cx) / ew                                    # -1 inner → +1 outer
    dv = v - T["eye_cy"]
    up, lo = lid_curves(s, T["eye_up"], T["eye_lo"], T["eye_tilt"])
    inside = coverage(torch.minimum(dv - up, lo - dv), pw) * coverage(1.0 - s.abs(), pw / ew)
    du_i = u - cx - T["gaze_x"]
    dv_i = dv - T["gaze_y"]
    r = (du_i * du_i + dv_i * dv_i).sqrt()
    ri = T["iris_r"]
    iris = coverage(ri - r, pw)
    pupil = coverage(0.42 * ri - r, pw)
    ring = 0.55 + 0.45 * ((ri - r) / (0.4 * ri)).clamp(0.0, 1.0)
    corner = 1.0 - 0.25 * (s * s) * (s * s)
    sclera = torch.tensor([0.86, 0.84, 0.82], device=u.device).view(1, 3, 1, 1) \
        * corner.unsqueeze(1)
    eye = mix(sclera, T["iris_rgb"] * ring.unsqueeze(1), iris.unsqueeze(1))
    eye = eye * (1.0 - 0.9 * pupil).unsqueeze(1)
    alb = mix(alb, eye, inside.unsqueeze(1))
    # lash line above the upper lid (thicker towards the outer corner), a faint lower one
    lash_w = 0.010 + 0.006 * (s + 1.0) * 0.5
    d_up = up - dv                                              # > 0 above the lid
    lash = (1.0 - (d_up - lash_w * 0.5).abs() / (lash_w * 0.5 + pw * 0.5)).clamp(0.0, 1.0)
    lash = lash * coverage(1.05 - s.abs(), pw / ew)
    lower = (1.0 - (dv - lo).abs() / (0.004 + pw * 0.5)).clamp(0.0, 1.0) * \
        coverage(1.0 - s.abs(), pw / ew)
    dark = (0.85 * lash + 0.25 * lower).clamp(max=1.0).unsqueeze(1)
    return alb * (1.0 - dark)


def brow_coverage(T, u, v, pw, idx: int, side: float) -> Tensor:
    cx, bw = T[f"brow_cx{idx}"], T["brow_w"]
    s = side * (u - cx) / bw                                    # -1 inner → +1 outer
    centre = T["brow_cy"] - T["brow_arch"] * (1.0 - s * s)
    thick = T["brow_thick"] * (1.0 - 0.35 * (s + 1.0) * 0.5)
    across = coverage(thick * 0.5 - (v - centre).abs(), pw)
    ends = coverage(1.0 - s.abs(), pw / bw)
    return across * ends * T["brow_density"]


def paint_mouth(T, u, v, pw, alb, skin):
    s = (u - T["mouth_cx"]) / T["mouth_w"]
    dv = v - T["mouth_cy"]
    uo, ui, li, lo = lip_curves(s, T, xp=torch)
    ends = coverage(1.0 - s.abs(), pw / T["mouth_w"])
    lips = coverage(torch.minimum(dv - uo, lo - dv), pw) * ends
    opening = coverage(torch.minimum(dv - ui, li - dv), pw) * ends
    lip_rgb = mix(skin, T["lip_rgb"], T["lip_red"].unsqueeze(1)) * 0.88
    alb = mix(alb, lip_rgb, lips.unsqueeze(1))
    teeth = coverage((ui + li) * 0.5 - dv, pw)
    inner = mix(torch.tensor([0.30, 0.10, 0.10], device=u.device).view(1, 3, 1, 1),
                 torch.tensor([0.85, 0.82, 0.74], device=u.device).view(1, 3, 1, 1),
                 teeth.unsqueeze(1))
    alb = mix(alb, inner, opening.unsqueeze(1))
    line = (1.0 - (dv - (ui + li) * 0.5).abs() / (0.004 + pw * 0.5)).clamp(0.0, 1.0)
    return alb * (1.0 - 0.55 * (line * ends).unsqueeze(1))


def _tri(x: Tensor) -> Tensor:
    """Triangle wave in [0, 0.5] with period 1 (exact arithmetic, unlike ``sin``)."""
    return ((x - x.floor()) - 0.5).abs()


def hair_field(T, u, v, pw, head_cover):
    """Back hair coverage (behind head and neck), front hair coverage (over the forehead),
    hair height and the strand texture factor. Strands are triangle waves across ``u``
    that spread downwards; groups of them (locks) make the outline and fringe uneven."""
    vol = T["hair_volume"]
    above = v < T["head_c"]
    th = ((v - T["head_c"]) / (T["head_top"] * vol)).clamp(max=0.0)
    hw = T["head_w"] * vol * (1.0 - th * th).clamp(min=0.0).sqrt()
    phase = u * T["hair_freq"] / (1.0 + 0.6 * (v - T["hairline_v"]).clamp(min=0.0)) + \
        T["hair_phase"]
    lock = _tri(phase * 0.2 + 0.13)                                 # [0, 0.5]
    back = coverage(hw + 0.05 * lock - u.abs(), pw) * \
        coverage(T["hair_len"] + 0.12 * lock - v, pw * 2.0) * \
        coverage((1.0 + th) * T["head_top"] * vol, pw)
    line = T["hairline_v"] + (T["hairline_curve"] * u + T["hairline_tilt"]) * u + 0.06 * lock
    front = back * head_cover * coverage(line - v, pw * 1.5)
    r = u / (hw + 1e-3)
    z = T["head_depth"] * 0.95 * (1.0 - r * r).clamp(min=0.0).sqrt() * \
        torch.where(above, (1.0 - th * th).clamp(min=0.0).sqrt(), torch.ones_like(th))
    strands = 0.72 + 0.3 * _tri(phase) + 0.25 * _tri(phase * 2.3 + 0.37) + 0.2 * lock
    return back, front, z, strands


def ear_field(T, u, v, pw):
    """Ear coverage, height and albedo factor (an outer rim and a darker concha) at both sides
    of the head, halfway between eye and nose-tip level; hidden by long hair."""
    v_c = (T["eye_cy"] + T["nose_tip_v"]) * 0.5
    t = ((v_c - T["head_c"]) / T["head_bot"]).clamp(-1.0, 1.0)
    t2 = t * t
    hw = T["head_w"] * ((1.0 - T["jaw_square"]) * (1.0 - t2).sqrt()
                        + T["jaw_square"] * (1.0 - t2 * t2).sqrt().sqrt())
    visible = (T["hair_len"] < 0.3).to(u.dtype)
    dv = (v - v_c) / T["ear_h"]
    cover = torch.zeros_like(u)
    z = torch.zeros_like(u)
    shade = torch.ones_like(u)
    for side in (-1.0, 1.0):
        du = (u - side * (hw - 0.01 + T["ear_w"] * 0.5)) / T["ear_w"]
        r = (du * du + dv * dv).sqrt()
        c = coverage((1.0 - r) * T["ear_w"], pw)
        cover = torch.maximum(cover, c)
        z = z + c * (0.12 + 0.08 * (1.0 - r * r).clamp(min=0.0))
        inner = coverage((0.6 - r) * T["ear_w"], pw)
        shade = shade - 0.25 * inner
    return cover * visible, z, shade


def paint_lower_face(T, u, v, pw, alb):
    """Blush on the cheeks, nostrils and lips/mouth on (B, 3, h, w) albedo."""
    skin, tip_v = T["skin_rgb"], T["nose_tip_v"]
    blush = sum(bump(u - T[f"eye_cx{i}"] * 1.2, v - tip_v, 0.15, 0.1) for i in (0, 1))
    alb = alb * (1.0 - (T["blush"] * blush).unsqueeze(1)
                 * torch.tensor([0.0, 0.22, 0.2], device=u.device).view(1, 3, 1, 1))
    du_tip, dv_tip = u - T["nose_tip_x"], v - (tip_v + T["nose_tip_r"] * 0.6)
    nostrils = sum(bump(du_tip - side * T["nose_w"] * 0.45, dv_tip, T["nose_w"] * 0.32,
                         T["nose_tip_r"] * 0.32) for side in (-1.0, 1.0))
    alb = alb * (1.0 - 0.75 * nostrils.clamp(max=1.0)).unsqueeze(1)
    # stubble: below the nose, fading in over the upper lip
    stubble = T["stubble"] * smoothstep((v - tip_v - T["nose_tip_r"]) / 0.16)
    alb = mix(alb, T["hair_rgb"] * 0.7, stubble.unsqueeze(1))
    return paint_mouth(T, u, v, pw, alb, skin)


def paint_eye_region(T, u, v, pw, alb):
    """Darker eye surroundings, brows and both eyes on (B, 3, h, w) albedo."""
    socket = sum(bump(u - T[f"eye_cx{i}"], v - T["eye_cy"], T[f"eye_w{i}"] * 1.5, 0.06)
                 for i in (0, 1))
    alb = alb * (1.0 - 0.12 * socket).unsqueeze(1)
    brows = sum(brow_coverage(T, u, v, pw, i, side) for i, side in ((0, -1.0), (1, 1.0)))
    alb = mix(alb, T["hair_rgb"] * 0.8, brows.clamp(max=1.0).unsqueeze(1))
    alb = paint_eye(T, u, v, pw, alb, 0, -1.0)
    return paint_eye(T, u, v, pw, alb, 1, 1.0)
