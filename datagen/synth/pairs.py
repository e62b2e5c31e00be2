"""Making pairs: per-sample plans (pure functions of seed, split, index) and batched rendering.

``plan_sample`` draws every random choice of one sample from its own generator;
``load_batch`` fetches the faces a batch of plans names (host work: synthetic
renders or image decoding, done in worker processes ahead of the device);
``make_pairs`` turns a loaded batch into ``PairSample``s on the device:
relight → random affine → antialiased downsample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from facecore.errors import UserInputError
from datagen.rain import Rain, relight
from datagen.relight import relight_geometric, sample_geometric_light
from datagen.shards import PairSample
from datagen.shards.reader import to_tensor
from datagen.synth.config import SynthConfig
from datagen.synth.pools import FacePool, FaceRef, Faces
from datagen.warp import (
    AffineParams,
    affine_matrix,
    downsample,
    sample_affine,
    scale_points,
    warp_images,
    warp_points,
)

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
MAX_GUIDE_DRAWS = 1000
GALLERY_TAG = 0x6A11E7  # separates the gallery's generator from every sample's


@dataclass(frozen=True)
class SamplePlan:
    """Everything random about one sample, decided before any pixel is made."""

    split: str
    index: int
    content: FaceRef
    guide: FaceRef
    relit: FaceRef | None
    style_seed: int
    affine: AffineParams


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of sample ``index`` of ``split``: independent of every other sample."""
    return np.random.default_rng(np.random.SeedSequence([seed, SPLIT_IDS[split], index]))


def guide_gallery(config: SynthConfig, pool: FacePool, split: str) -> list[FaceRef]:
    """The ``config.guide_gallery`` faces, of as many identities, that the guides of
    ``split`` are drawn from: a pure function of (seed, split)."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, SPLIT_IDS[split],
                                                        GALLERY_TAG]))
    faces: dict[str, FaceRef] = {}
    for _ in range(MAX_GUIDE_DRAWS * config.guide_gallery):
        face = pool.draw(rng)
        faces.setdefault(face.identity, face)
        if len(faces) == config.guide_gallery:
            return list(faces.values())
    raise UserInputError(f"split {split!r}: found only {len(faces)} identities for a guide "
                         f"gallery of {config.guide_gallery}; use a smaller --guide-gallery")


def plan_sample(config: SynthConfig, pool: FacePool, split: str, index: int,
                gallery: Sequence[FaceRef] | None = None) -> SamplePlan:
    """Every random choice of sample ``index``; guides from ``gallery`` when one is given."""
    rng = sample_rng(config.seed, split, index)
    content = pool.draw(rng)
    for _ in range(MAX_GUIDE_DRAWS):
        guide = gallery[int(rng.integers(len(gallery)))] if gallery else pool.draw(rng)
        if guide.identity != content.identity:
            break
    else:  # pragma: no cover - pools hold ≥ 2 identities, so this needs absurd luck
        raise RuntimeError(f"no guide of another identity for {split}/{index}")
    style_seed = int(rng.integers(2**31 - 1))
    affine = sample_affine(rng, size=config.hr_size, max_rotation=config.max_rotation,
                           scale_range=config.scale_range,
                           max_translation=config.max_translation)
    relit = pool.draw_relit(content, rng) if config.relight == "real" else None
    return SamplePlan(split, index, content, guide, relit, style_seed, affine)


@dataclass(frozen=True)
class LoadedBatch:
    """A batch's host-side half: its plans and the uint8 faces they name, ready for the
    device. ``relit`` holds the NI-HR faces when they come from the source (physical or
    real relighting) rather than from RaIN; ``lights`` the light parameters of physically
    or geometrically relit faces, one dict per plan."""

    plans: list[SamplePlan]
    content: Faces
    guides: Faces
    relit: np.ndarray | None
    lights: list[dict] | None = None


def load_batch(config: SynthConfig, pool: FacePool, plans: Sequence[SamplePlan],
               guide_cache: dict[FaceRef, tuple[np.ndarray, np.ndarray]] | None = None
               ) -> LoadedBatch:
    """The faces of ``plans`` (uniformly lit content and guides, and source-relit NI-HR).
    With ``guide_cache`` (a guide gallery), each guide is loaded once and kept there."""
    relit, lights = None, None
    if config.relight == "physical":
        relit, lights = pool.render_physical([p.content for p in plans],
                                             [p.style_seed for p in plans])
    elif config.relight == "real":
        relit = pool.load([p.relit for p in plans]).images
    elif config.relight == "geometric":
        lights = [sample_geometric_light(config.geometric, p.style_seed) for p in plans]
    refs = [p.guide for p in plans]
    if guide_cache is None:
        guides = pool.load(refs)
    else:
        missing = list(dict.fromkeys(r for r in refs if r not in guide_cache))
        if missing:  # faces do not depend on the batch they are loaded in
            loaded = pool.load(missing)
            guide_cache.update(zip(missing, zip(loaded.images, loaded.landmarks)))
        guides = Faces(np.stack([guide_cache[r][0] for r in refs]),
                       np.stack([guide_cache[r][1] for r in refs]))
    content = pool.load([p.content for p in plans])
    if config.relight == "geometric":
        _require_landmarks(content, plans, config.source)
    return LoadedBatch(list(plans), content, guides, relit, lights)


def _require_landmarks(content: Faces, plans: Sequence[SamplePlan], source: str) -> None:
    for face, plan in zip(content.landmarks, plans):
        if np.isnan(face).any():
            raise UserInputError(f"--relight geometric fits a 3D face to 68 landmarks, and face "
                                 f"{plan.content.key} ({plan.content.identity}) of source "
                                 f"{source!r} has none: align the photos first (`datagen align "
                                 f"SRC DST`, which writes landmarks.csv) and use --source "
                                 f"folder:DST")


def style_latents(style_seeds: Sequence[int], latent_dim: int) -> torch.Tensor:
    """(B, latent_dim) z ~ N(0, I), row b drawn from a generator seeded by style_seeds[b]."""
    rows = [torch.randn(latent_dim, generator=torch.Generator().manual_seed(int(s)))
            for s in style_seeds]
    return torch.stack(rows)


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float in [0, 1] → (B, H, W, 3) uint8, rounding to nearest."""
    return images.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1) \
        .cpu().numpy()


def _batch_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.stack([to_tensor(im) for im in images]).to(device)


def _landmark_list(points: np.ndarray) -> list[list[float]] | None:
    if np.isnan(points).any():
        return None
    return np.round(points.astype(np.float64), 4).tolist()


def make_pairs(config: SynthConfig, batch: LoadedBatch, *, rain: Rain | None,
               device: torch.device, source_name: str) -> list[PairSample]:
    """Render one loaded batch into pairs (NI-LR, NI-HR, UI-HR, guide, json) on ``device``."""
    plans, content, guides = batch.plans, batch.content, batch.guides
    if config.relight == "rain":
        assert rain is not None
        z = style_latents([p.style_seed for p in plans], rain.latent_dim).to(device)
        nihr = relight(rain, _batch_tensor(content.images, device), z=z)
    elif config.relight == "geometric":
        assert batch.lights is not None  # fitted to the landmarks as the json records them
        marks = torch.from_numpy(np.round(content.landmarks.astype(np.float64), 4))
        nihr = relight_geometric(_batch_tensor(content.images, device), marks, batch.lights)
    else:
        assert batch.relit is not None
        nihr = _batch_tensor(batch.relit, device)
    nihr8 = _to_uint8(nihr)
    # Warp the quantised NI-HR, so NI-LR is reproducible from the stored nihr.png + affine.
    matrices = np.stack([affine_matrix(p.affine, config.hr_size) for p in plans])
    warped = warp_images(_batch_tensor(nihr8, device), torch.from_numpy(matrices).float())
    nilr8 = _to_uint8(downsample(warped, config.lr_size))
    samples = []
    for b, plan in enumerate(plans):
        lm = content.landmarks[b]
        meta = {
            "identity": plan.content.identity, "guide_identity": plan.guide.identity,
            "source": source_name, "style_seed": plan.style_seed,
            "landmarks_uihr": _landmark_list(lm),
            "landmarks_nilr": _landmark_list(scale_points(warp_points(lm, matrices[b]),
                                                          config.hr_size, config.lr_size)),
            "affine": np.round(matrices[b], 10).tolist(),
            "warp": {"angle": plan.affine.angle, "scale": plan.affine.scale,
                     "tx": plan.affine.tx, "ty": plan.affine.ty},
            "relight": config.relight,
        }
        if plan.relit is not None:
            meta["relit_key"] = list(plan.relit.key)
        if batch.lights is not None:
            meta["light"] = batch.lights[b]
        samples.append(PairSample(plan.split, plan.index, nilr8[b], nihr8[b], content.images[b],
                                  guides.images[b], meta))
    return samples

