"""Seeded parameter vectors of synthetic faces: identity, per-image nuisance, and light.

Each vector comes from its own ``numpy`` generator seeded by a tuple of integers
(``SeedSequence``), so a face's parameters depend only on ``(seed, identity)``,
its nuisance only on ``(seed, identity, variant)`` and its light only on
``(seed, identity, variant, light_seed)``: never on the batch it is rendered in,
and never on global RNG state. Lengths are in face units (the head is about 1.3
wide, eyes at ``v≈-0.12``, chin at ``v≈0.75``; ``u`` right, ``v`` down); colours
are display RGB in [0, 1].
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

Lighting = Literal["uniform", "non-uniform"]
LIGHTINGS: tuple[Lighting, ...] = ("uniform", "non-uniform")

_IDENTITY_TAG, _NUISANCE_TAG, _LIGHT_TAG = 0x1D, 0x5E, 0x11

SKIN_DARK = np.array([0.36, 0.22, 0.15])
SKIN_LIGHT = np.array([0.95, 0.79, 0.68])
IRIS_COLOURS = np.array([
    [0.22, 0.12, 0.06], [0.38, 0.22, 0.10], [0.45, 0.36, 0.18],  # dark brown, brown, hazel
    [0.30, 0.42, 0.25], [0.30, 0.45, 0.62], [0.45, 0.50, 0.55],  # green, blue, grey
])
HAIR_COLOURS = np.array([
    [0.07, 0.06, 0.05], [0.20, 0.13, 0.08], [0.36, 0.23, 0.13], [0.55, 0.40, 0.24],
    [0.80, 0.66, 0.42], [0.55, 0.25, 0.12], [0.62, 0.60, 0.58],
])  # black, dark brown, brown, light brown, blonde, auburn, grey
HAIR_WEIGHTS = np.array([0.28, 0.24, 0.16, 0.1, 0.1, 0.06, 0.06])


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


def _jitter(rng: np.random.Generator, colour: np.ndarray, amount: float) -> np.ndarray:
    return np.clip(colour * (1.0 + rng.uniform(-amount, amount, 3)), 0.0, 1.0)


def sample_identity(seed: int, identity: int) -> dict[str, float | np.ndarray]:
    """The parameter vector of one identity: shape, features, albedo, hair and background."""
    r = _rng(seed, identity, _IDENTITY_TAG)
    u = r.uniform
    p: dict[str, float | np.ndarray] = {}
    # head outline and depth
    p["head_w"] = u(0.56, 0.68)
    p["head_c"] = u(-0.08, -0.02)
    p["head_top"] = u(0.82, 0.94)
    p["head_bot"] = u(0.74, 0.84)
    p["jaw_square"] = u(0.0, 1.0)
    p["jaw_taper"] = u(0.0, 0.3)
    p["head_depth"] = u(0.55, 0.75)
    p["face_scale"] = u(1.0, 1.08)
    # eyes
    p["eye_v"] = u(-0.16, -0.09)
    p["eye_sep"] = u(0.21, 0.26)
    p["eye_w"] = u(0.10, 0.125)
    p["eye_up"] = u(0.034, 0.048)
    p["eye_lo"] = u(0.020, 0.030)
    p["eye_tilt"] = u(-0.010, 0.018)
    p["iris_r"] = u(0.036, 0.044)
    p["iris_rgb"] = _jitter(r, IRIS_COLOURS[r.integers(len(IRIS_COLOURS))], 0.15)
    # brows
    p["brow_gap"] = u(0.045, 0.075)
    p["brow_w"] = u(0.11, 0.15)
    p["brow_in"] = u(-0.02, 0.02)
    p["brow_arch"] = u(0.005, 0.03)
    p["brow_thick"] = u(0.022, 0.038)
    p["brow_density"] = u(0.55, 0.95)
    # nose
    p["nose_len"] = u(0.23, 0.31)
    p["nose_w"] = u(0.065, 0.095)
    p["nose_ridge"] = u(0.09, 0.17)
    p["nose_tip_r"] = u(0.045, 0.065)
    p["bridge_w"] = u(0.045, 0.07)
    # mouth
    p["mouth_gap"] = u(0.15, 0.21)
    p["mouth_w"] = u(0.14, 0.19)
    p["lip_up"] = u(0.028, 0.042)
    p["lip_lo"] = u(0.034, 0.054)
    p["lip_bow"] = u(0.0, 0.010)
    p["lip_red"] = u(0.35, 0.7)
    p["lip_rgb"] = _jitter(r, np.array([0.70, 0.30, 0.30]), 0.15)
    # skin
    tone = r.beta(1.6, 1.3)
    skin = SKIN_DARK + (SKIN_LIGHT - SKIN_DARK) * tone
    skin = skin * (1.0 + np.array([0.04, 0.0, -0.04]) * r.normal(0.0, 1.0))  # warm/cool hue
    p["skin_rgb"] = _jitter(r, skin, 0.04)
    p["blush"] = u(0.0, 0.35)
    # hair
    hair = HAIR_COLOURS[r.choice(len(HAIR_COLOURS), p=HAIR_WEIGHTS)]
    p["hair_rgb"] = _jitter(r, hair, 0.2)
    style = r.uniform()
    p["hairline_v"] = u(-0.62, -0.46) if style < 0.7 else (
        u(-0.40, -0.28) if style < 0.92 else u(-1.2, -0.9))  # usual, bangs, bald
    p["hairline_curve"] = u(0.2, 0.9)
    p["hair_volume"] = u(1.04, 1.16)
    p["hair_len"] = u(-0.1, 0.15) if r.uniform() < 0.6 else u(0.5, 1.2)
    p["hair_freq"] = u(22.0, 45.0)
    p["hair_phase"] = u(0.0, 1.0)
    p["neck_w"] = u(0.30, 0.40)
    p["ear_w"] = u(0.05, 0.07)
    p["ear_h"] = u(0.10, 0.13)
    p["hairline_tilt"] = u(-0.25, 0.25)
    p["stubble"] = u(0.1, 0.3) if r.uniform() < 0.25 else 0.0
    # background: a vertical gradient between two colours
    top = r.uniform(0.1, 0.9, 3)
    p["bg_top"] = top
    p["bg_bottom"] = np.clip(top * u(0.6, 1.1) + r.normal(0, 0.05, 3), 0.0, 1.0)
    return p


def sample_nuisance(seed: int, identity: int, variant: int) -> dict[str, float]:
    """Per-image nuisance of one identity: small pose and expression changes."""
    r = _rng(seed, identity, variant, _NUISANCE_TAG)
    u = r.uniform
    return {
        "roll_deg": u(-7.0, 7.0),
        "yaw": u(-0.10, 0.10),
        "pitch": u(-0.05, 0.05),
        "scale": u(0.96, 1.04),
        "tx": u(-0.03, 0.03),
        "ty": u(-0.03, 0.03),
        "smile": u(0.0, 0.03),
        "mouth_open": u(0.006, 0.03) if r.uniform() < 0.3 else 0.0,
        "brow_raise": u(-0.01, 0.02),
        "eye_open": u(0.8, 1.1),
        "gaze_x": u(-0.25, 0.25),
        "gaze_y": u(-0.1, 0.1),
    }


def neutral_nuisance() -> dict[str, float]:
    """The nuisance of a face looking straight into the camera at the canonical framing, with
    a neutral expression: the keys of ``sample_nuisance``, each at its centre (or rest) value."""
    return {"roll_deg": 0.0, "yaw": 0.0, "pitch": 0.0, "scale": 1.0, "tx": 0.0, "ty": 0.0,
            "smile": 0.0, "mouth_open": 0.0, "brow_raise": 0.0, "eye_open": 1.0,
            "gaze_x": 0.0, "gaze_y": 0.0}


def _direction(azimuth_deg: float, elevation_deg: float) -> list[float]:
    """Unit vector towards the light in image axes (x right, y down, z towards the viewer)."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return [math.sin(az) * math.cos(el), -math.sin(el), math.cos(az) * math.cos(el)]


def directional_light(azimuth_deg: float, elevation_deg: float, intensity: float,
                      tint: np.ndarray | list[float]) -> dict:
    """One directional light as the light dicts record it: angles in degrees (azimuth + to
    the image right, elevation + up), intensity, RGB tint and the unit ``direction``."""
    return {"azimuth_deg": float(azimuth_deg), "elevation_deg": float(elevation_deg),
            "intensity": float(intensity), "tint": [float(t) for t in tint],
            "direction": _direction(azimuth_deg, elevation_deg)}


def uniform_light() -> dict:
    """Frontal, even light: the uniformly-lit (UI) condition; the same for every face."""
    return {"lighting": "uniform", "ambient": 0.55, "ambient_tint": [1.0, 1.0, 1.0],
            "lights": [directional_light(0.0, 10.0, 0.55, [1.0, 1.0, 1.0])]}


def light_tint(r: np.random.Generator, *, warmth: float = 1.0,
               gel_share: float = 0.2) -> np.ndarray:
    """A light's RGB tint (max 1): a colour temperature ``w ~ U(−warmth, warmth)`` (+ warm,
    − cool) and, with probability ``gel_share``, a coloured gel on top."""
    w = r.uniform(-warmth, warmth)
    tint = np.array([1.0 + 0.12 * w, 1.0, 1.0 - 0.15 * w])
    if r.uniform() < gel_share:  # a coloured gel
        tint = tint * (1.0 - 0.3 + 0.6 * r.uniform(0.0, 1.0, 3))
    return tint / tint.max()


POINT_LIGHT_SHARE = 0.75  # the rest: a studio key light with an optional fill


def sample_light(seed: int, identity: int, variant: int, light_seed: int) -> dict:
    """Random directional light(s) for the non-uniform (NI) condition: a mixture.

    - ``point`` (75%): one light in a dark room, as Extended Yale B photographs faces:
      azimuth 0–115° either side, elevation −40–65°, intensity 1.1–1.7 and ambient
      below 0.001, so the side turned away falls into black shadow;
    - ``key-fill`` (25%, the milder lights): a key light at azimuth 10–70°, elevation
      −20–60°, ambient 0.05–0.30 and, 40% of the time, a weak fill light on the other side.

    Fitted so that the lighting-ratio statistics (``datagen.rain.lighting``: left/right
    asymmetry and shadow range of log NI/UI) of the renders lie within 1-D Wasserstein
    distances 0.08 and 0.19 of real Extended Yale B subjects 01–28
    (``benchmarks/lighting_stats.py``). The dict records every sampled value.
    """
    r = _rng(seed, identity, variant, light_seed, _LIGHT_TAG)
    u = r.uniform
    side = 1.0 if u() < 0.5 else -1.0
    if u() < POINT_LIGHT_SHARE:
        kind = "point"
        lights = [directional_light(side * u(0.0, 115.0), u(-40.0, 65.0), u(1.1, 1.7),
                                    light_tint(r))]
        ambient = u(0.0, 0.001)
    else:
        kind = "key-fill"
        lights = [directional_light(side * u(10.0, 70.0), u(-20.0, 60.0), u(0.7, 1.3),
                                    light_tint(r))]
        ambient = u(0.05, 0.30)
        if u() < 0.4:
            lights.append(directional_light(-side * u(20.0, 80.0), u(-10.0, 40.0), u(0.1, 0.4),
                                            light_tint(r)))
    amb_tint = np.array([1.0 - 0.05 * u(), 1.0, 1.0 + 0.05 * u()])
    return {"lighting": "non-uniform", "kind": kind, "ambient": float(ambient),
            "ambient_tint": [float(t) for t in amb_tint / amb_tint.max()], "lights": lights}
