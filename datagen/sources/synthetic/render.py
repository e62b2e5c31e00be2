"""Vectorised rendering of synthetic faces: height field, albedo, Lambertian + ambient light.

A batch is rendered at once with torch, on the CPU or a CUDA device (the same code:
``render_scene(..., device=...)``). Per pixel we only use operations that IEEE 754
rounds exactly (+, −, ×, ÷, sqrt, min/max, floor): their results do not depend on
whether torch takes a SIMD or a scalar path, how it splits work between threads, or
where a face sits in the batch, so a face's bytes never depend on the other faces
rendered with it. (Transcendental functions such as ``exp`` or ``sin`` may differ by an
ulp between those paths, so bumps are compact polynomials and hair strands are triangle
waves.)

The work splits in two. The host describes faces (``FaceScene``: per-face layout
parameters packed in one float32 array, the feature windows, a few hundred bytes a
face); the device turns a scene into pixels. A scene's surface (geometry, albedo,
normals) is computed once and shaded under each light set asked for, so the same
face under uniform and non-uniform light costs one surface and two shadings.

The geometry is a height field ``z(x, y)``; normals come from its finite
differences, so shading is physical: ``display = sqrt(albedo² · (ambient +
Σ_k I_k · tint_k · shadow_k · max(0, n·l_k)) + specular)`` (albedo in display
RGB, light in linear RGB, gamma 2; ``shadow_k`` is the face's cast shadow on
itself, found by marching the height field towards the light; a weak white
Blinn-Phong highlight on the skin). The background is not lit, so it is the same
under every light.

Cost: features (eyes, brows, nose, mouth) are computed only inside row/column
windows that hold them for every face of the chunk (see ``_windows``), the rest
on the whole image; on the CPU faces go through in chunks small enough to stay in
cache, on CUDA a scene's chunks are merged into one (windows do not change pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from datagen.sources.synthetic.features import coverage, ear_field, eye_relief, hair_field, \
    head_field, lower_relief, mix, paint_eye_region, paint_lower_face
from datagen.sources.synthetic.layout import Layout, face_to_pixels
from datagen.sources.synthetic.shading import CAST_SOFTNESS, SHADOW_STEPS, lambert, \
    light_arrays, normals, shadow_rays

Tensor = torch.Tensor
Windows = dict[str, tuple[slice, slice]]


@dataclass(frozen=True)
class SceneChunk:
    """Faces to render together: ``params`` (B, F) float32, the layout fields packed side by
    side as ``fields`` says ((name, width) in order; width 3 for colours), and the pixel
    windows of their features."""

    params: np.ndarray
    fields: tuple[tuple[str, int], ...]
    windows: Windows


@dataclass(frozen=True)
class FaceScene:
    """Synthetic faces described on the host, not yet rendered: ``size``² pixels, chunks
    in face order. Small (≈ 300 bytes a face), so it crosses process boundaries cheaply."""

    size: int
    chunks: tuple[SceneChunk, ...]

    def __len__(self) -> int:
        return sum(c.params.shape[0] for c in self.chunks)


def scene_chunk(L: Layout, size: int) -> SceneChunk:
    """Pack a layout (float64 arrays, (B,) or (B, 3)) into a chunk of float32 parameters."""
    fields = tuple((k, 1 if v.ndim == 1 else v.shape[1]) for k, v in L.items())
    params = np.concatenate([v.reshape(v.shape[0], -1) for v in L.values()], axis=1)
    return SceneChunk(params.astype(np.float32), fields, _windows(L, size))


def merge_chunks(chunks: Sequence[SceneChunk]) -> SceneChunk:
    """One chunk holding all of ``chunks``' faces, with windows that hold every chunk's."""
    if len(chunks) == 1:
        return chunks[0]
    windows = {}
    for name in chunks[0].windows:
        ys = [c.windows[name][0] for c in chunks]
        xs = [c.windows[name][1] for c in chunks]
        windows[name] = (slice(min(s.start for s in ys), max(s.stop for s in ys)),
                         slice(min(s.start for s in xs), max(s.stop for s in xs)))
    return SceneChunk(np.concatenate([c.params for c in chunks]), chunks[0].fields, windows)


def _tensors(chunk: SceneChunk, device: torch.device) -> dict[str, Tensor]:
    """The chunk's parameters on ``device`` (one copy), viewed per field as (B, 1, 1) or
    (B, 3, 1, 1)."""
    P = torch.from_numpy(chunk.params).to(device, non_blocking=True)
    out, at = {}, 0
    for name, width in chunk.fields:
        col = P[:, at:at + width]
        out[name] = col.reshape(-1, 3, 1, 1) if width == 3 else col.reshape(-1, 1, 1)
        at += width
    return out


def _grid(T: dict[str, Tensor], size: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Face-frame coordinates (u, v), each (B, S, S), the pixel footprint (B, 1, 1) and the
    image row coordinate Y (1, S, 1) in [-1, 1]."""
    half = size / 2.0
    axis = (torch.arange(size, dtype=torch.float32, device=T["tx"].device)
            - (size - 1) / 2.0) / half
    dX = axis.view(1, 1, size) - T["tx"]
    dY = axis.view(1, size, 1) - T["ty"]
    c, s, k = T["cos_r"], T["sin_r"], T["scale"]
    u = (c * dX + s * dY) / k
    v = (c * dY - s * dX) / k
    return u, v, (2.0 / size) / k, axis.view(1, size, 1)


def _window(L: Layout, u0, u1, v0, v1, size: int) -> tuple[slice, slice]:
    """Pixel rows and columns that hold the face-frame boxes [u0, u1] × [v0, v1] (each (B,))
    of every face in the batch, with a margin for anti-aliasing.

    A feature is computed only inside its window: its support lies inside, and outside it
    contributes exact zeros (compact bumps, clamped coverages), so a face's pixels do not
    depend on how large the window of its batch is.
    """
    us = np.stack([u0, u1, u0, u1], axis=1)
    vs = np.stack([v0, v0, v1, v1], axis=1)
    pix = face_to_pixels(L, us, vs, size)                       # (B, 4, 2)
    lo = np.floor(pix.reshape(-1, 2).min(axis=0)).astype(int) - 3
    hi = np.ceil(pix.reshape(-1, 2).max(axis=0)).astype(int) + 4
    lo, hi = np.clip(lo, 0, size), np.clip(hi, 0, size)
    return slice(int(lo[1]), int(hi[1])), slice(int(lo[0]), int(hi[0]))


def _windows(L: Layout, size: int) -> dict[str, tuple[slice, slice]]:
    ew = np.maximum(L["eye_w0"], L["eye_w1"])
    eye_u = np.maximum(np.abs(L["eye_cx0"]), np.abs(L["eye_cx1"])) + 1.7 * ew
    brow_u = np.maximum(np.abs(L["brow_cx0"]), np.abs(L["brow_cx1"])) + L["brow_w"]
    half_u = np.maximum(eye_u, brow_u) + 0.03
    top = np.minimum(L["eye_cy"] - 0.14, L["brow_cy"] - L["brow_arch"] - L["brow_thick"])
    eyes = _window(L, -half_u, half_u, top - 0.03, L["eye_cy"] + 0.09, size)
    low_u = np.maximum.reduce([eye_u * 1.25 + 0.2, np.abs(L["mouth_cx"]) + 1.1 * L["mouth_w"],
                               np.abs(L["chin_x"]) + L["head_w"]]) + 0.05  # stubble: all jaw
    low_top = np.minimum(L["nose_top_v"] - 0.06, L["nose_tip_v"] - 0.15)
    low_bottom = np.maximum(L["head_c"] + L["head_bot"],
                            L["mouth_cy"] + L["lip_lo"] + L["mouth_open"] + 0.1) + 0.03
    lower = _window(L, -low_u, low_u, low_top, low_bottom, size)
    return {"eyes": eyes, "lower": lower}


def face_height(L: Layout, size: int) -> tuple[Tensor, Tensor]:
    """Head coverage in [0, 1] and the face's height field (head dome plus the reliefs of
    nose, cheeks, lips, chin, brows and eyes; no hair), each (B, size, size), the height in
    image units (the image spans [-1, 1]) as the renderer shades it."""
    with torch.inference_mode():
        T = _tensors(scene_chunk(L, size), torch.device("cpu"))
        u, v, pw, _ = _grid(T, size)
        head, z, _ = head_field(T, u, v, pw)
        z = z + (lower_relief(T, u, v) + eye_relief(T, u, v)) * head
        return head, z * T["scale"]


def render_scene(scene: FaceScene, light_sets: Sequence[Sequence[dict]], *,
                 device: torch.device | str = "cpu") -> list[Tensor]:
    """Render ``scene`` under each of ``light_sets`` (each: one light dict per face, in
    face order) on ``device``.

    Returns one (B, size, size, 3) uint8 RGB tensor on ``device`` per light set. The
    surface is computed once per chunk and shaded per light set; the bytes of a face are
    those of rendering it alone under that light.
    """
    device = torch.device(device)
    chunks = [merge_chunks(scene.chunks)] if device.type == "cuda" else scene.chunks
    out: list[list[Tensor]] = [[] for _ in light_sets]
    at = 0
    with torch.inference_mode():
        for chunk in chunks:
            n = chunk.params.shape[0]
            surface = _surface(_tensors(chunk, device), scene.size, chunk.windows)
            for j, lights in enumerate(light_sets):
                out[j].append(_shade(surface, lights[at:at + n], scene.size))
            at += n
        return [torch.cat(images) for images in out]


def _surface(T: dict[str, Tensor], size: int, windows: Windows) -> dict[str, Tensor]:
    """Everything about the faces that no light changes: colour, coverage, unit normals,
    the height field that casts shadows, the face mask and the background."""
    u, v, pw, Y = _grid(T, size)
    head, z_face, _ = head_field(T, u, v, pw)
    skin = T["skin_rgb"]
    alb = skin.expand(-1, 3, size, size).clone()
    for name, relief, paint in (("lower", lower_relief, paint_lower_face),
                                ("eyes", eye_relief, paint_eye_region)):
        ys, xs = windows[name]
        if ys.start >= ys.stop or xs.start >= xs.stop:
            continue
        uw, vw = u[:, ys, xs], v[:, ys, xs]
        z_face[:, ys, xs] = z_face[:, ys, xs] + relief(T, uw, vw) * head[:, ys, xs]
        alb[:, :, ys, xs] = paint(T, uw, vw, pw, alb[:, :, ys, xs])
    # layers, back to front: back hair, neck, face, front hair
    back, front, z_hair, strands = hair_field(T, u, v, pw, head)
    hair_rgb = (T["hair_rgb"] * strands.unsqueeze(1))
    neck_u = u - T["chin_x"] * 0.5
    neck = coverage(T["neck_w"] - neck_u.abs(), pw) * coverage(v - T["head_c"], pw)
    nr = neck_u / T["neck_w"]
    z_neck = 0.3 * (1.0 - nr * nr).clamp(min=0.0).sqrt()
    chin_v = T["head_c"] + T["head_bot"]
    neck_shadow = 0.5 + 0.5 * ((v - chin_v + 0.03) / 0.2).clamp(0.0, 1.0)
    neck_rgb = skin * (0.9 * neck_shadow).unsqueeze(1)

    ears, z_ears, ear_shade = ear_field(T, u, v, pw)
    ear_rgb = skin * (0.92 * ear_shade).unsqueeze(1)

    # composite back to front. Back hair, ears and neck share one height field; the face
    # has its own normals, blended by coverage, so its silhouette makes no false crease
    # (the front hair lies on the face and takes the face's normals).
    scale = T["scale"]
    cover = back
    rgb = hair_rgb * 0.85
    z_back = z_hair * 0.9
    for m, layer_rgb, layer_z in ((ears, ear_rgb, z_ears), (neck, neck_rgb, z_neck)):
        rgb = mix(rgb, layer_rgb, m.unsqueeze(1))
        z_back = z_back + (layer_z - z_back) * m
        cover = cover + (1.0 - cover) * m
    nx, ny, nz = normals(z_back * scale, size)
    fx, fy, fz = normals(z_face * scale, size)
    nx, ny, nz = nx + (fx - nx) * head, ny + (fy - ny) * head, nz + (fz - nz) * head
    for m, layer_rgb in ((head, alb), (front, hair_rgb)):
        rgb = mix(rgb, layer_rgb, m.unsqueeze(1))
        cover = cover + (1.0 - cover) * m
    # cast shadows of the face on itself (nose on cheek, brow ridge on eyes); hair and jaw
    # edges are height discontinuities that would cast jagged shadows, so they cast none
    z_cast = z_face * head * scale
    in_face = head * (1.0 - front)
    norm = (nx * nx + ny * ny + nz * nz).sqrt() + 1e-6
    nx, ny, nz = nx / norm, ny / norm, nz / norm
    bg_t = ((Y + 1.0) * 0.5).unsqueeze(1)
    bg = mix(T["bg_top"], T["bg_bottom"], bg_t)
    return {"rgb": rgb, "cover": cover, "nx": nx, "ny": ny, "nz": nz, "z_cast": z_cast,
            "in_face": in_face, "bg": bg}


def _shade(surface: dict[str, Tensor], lights: Sequence[dict], size: int) -> Tensor:
    """A surface under ``lights`` (one dict per face) → (B, S, S, 3) uint8."""
    rgb, cover, bg = surface["rgb"], surface["cover"], surface["bg"]
    nx, ny, nz = surface["nx"], surface["ny"], surface["nz"]
    z_cast, in_face = surface["z_cast"], surface["in_face"]
    device = nx.device
    dirs, cols, amb, half = (t.to(device, non_blocking=True) for t in light_arrays(lights))
    shade = amb.view(-1, 3, 1, 1).expand(-1, 3, size, size)
    spec = torch.zeros_like(nx)
    rays = shadow_rays(lights, size, SHADOW_STEPS)
    for j in range(dirs.shape[1]):
        ray = tuple(t.to(device, non_blocking=True) for t in rays[j])
        lam = lambert(nx, ny, nz, dirs[:, j], in_face, z_cast, ray, soft=CAST_SOFTNESS)
        col = cols[:, j].view(-1, 3, 1, 1)
        shade = shade + col * lam.unsqueeze(1)
        h = half[:, j].view(-1, 3, 1, 1)
        nh = (nx * h[:, 0] + ny * h[:, 1] + nz * h[:, 2]).clamp(min=0.0)
        nh = nh * nh
        nh = nh * nh
        nh = nh * nh
        nh = nh * nh                                            # (n·h)^16
        spec = spec + (nh * (lam > 0)) * (0.06 / 3.0) * col.sum(1)  # white highlight
    lit = (rgb * rgb * shade + (spec * in_face).unsqueeze(1)).clamp(0.0, 1.0).sqrt()
    out = mix(bg, lit, cover.unsqueeze(1))
    # out is in [0, 1], so the cast truncates a non-negative number: rounding to nearest
    return (out * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1)
