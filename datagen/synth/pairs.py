"""Making pairs: per-sample plans (pure functions of seed, split, index) and batched rendering.

``plan_batch`` draws every random choice of each sample of a full batch from the
sample's own generator (a guide may be another sample's face of the same batch);
``load_batch`` fetches what a batch of plans names (host work: synthetic face
parameters, or image decoding, done in worker processes ahead of the device);
``make_pairs`` turns a loaded batch into ``PairSample``s on the device:
render synthetic faces → relight → random affine → antialiased downsample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch

from facecore.errors import UserInputError
from datagen.rain import Rain, relight
from datagen.relight import relight_geometric, sample_geometric_light
from datagen.shards import PairSample
from datagen.sources.synthetic.params import uniform_light
from datagen.synth.config import SynthConfig
from datagen.synth.pools import FacePool, FaceRef, Faces, SceneFaces
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
    """Everything random about one sample, decided before any pixel is made. ``guide_slot``:
    the position in its batch of the sample whose content face is this one's guide (None:
    the guide is loaded apart)."""

    split: str
    index: int
    content: FaceRef
    guide: FaceRef
    relit: FaceRef | None
    style_seed: int
    affine: AffineParams
    guide_slot: int | None = None


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


def plan_batch(config: SynthConfig, pool: FacePool, split: str, start: int,
               gallery: Sequence[FaceRef] | None = None) -> list[SamplePlan]:
    """Every random choice of the samples [start, start + batch_size) of ``split``, each from
    its own generator: content face, then guide (``config.guides``: another sample's content
    face of this batch, any face of the split, or a face of ``gallery``), style seed, warp
    and, for ``real`` relighting, the lit photo. ``start`` is a batch start (batches start at
    shard starts), so each plan is a pure function of (config, split, index)."""
    indices = range(start, start + config.batch_size)
    rngs = [sample_rng(config.seed, split, i) for i in indices]
    contents = [pool.draw(rng) for rng in rngs]
    plans = []
    for b, (i, rng, content) in enumerate(zip(indices, rngs, contents)):
        slot = None
        if config.guides == "batch":
            others = [j for j, c in enumerate(contents) if c.identity != content.identity]
            slot = others[int(rng.integers(len(others)))] if others else None
        guide = contents[slot] if slot is not None else _draw_guide(pool, rng, content,
                                                                    gallery, f"{split}/{i}")
        style_seed = int(rng.integers(2**31 - 1))
        affine = sample_affine(rng, size=config.hr_size, max_rotation=config.max_rotation,
                               scale_range=config.scale_range,
                               max_translation=config.max_translation)
        relit = pool.draw_relit(content, rng) if config.relight == "real" else None
        plans.append(SamplePlan(split, i, content, guide, relit, style_seed, affine, slot))
    return plans


def _draw_guide(pool: FacePool, rng: np.random.Generator, content: FaceRef,
                gallery: Sequence[FaceRef] | None, where: str) -> FaceRef:
    """A face of another identity than ``content``: from ``gallery``, else from the pool."""
    for _ in range(MAX_GUIDE_DRAWS):
        guide = gallery[int(rng.integers(len(gallery)))] if gallery else pool.draw(rng)
        if guide.identity != content.identity:
            return guide
    raise RuntimeError(f"no guide of another identity for {where}")  # pragma: no cover


@dataclass(frozen=True)
class LoadedBatch:
    """A batch's host-side half: its plans and the faces they name, ready for the device.

    ``content``: the uniformly lit faces, as pixels (``Faces``: decoded images, or faces
    already rendered) or as synthetic scenes the device renders (``SceneFaces``).
    ``guides``: the guides of the plans without a ``guide_slot``, in plan order (None when
    every guide is another sample's content face). ``relit`` holds the NI-HR faces when they
    come from the source as pixels (real relighting, or physical faces already rendered)
    rather than from RaIN; ``lights`` the light parameters of physically (the device renders
    the content scenes under them) or geometrically relit faces, one dict per plan."""

    plans: list[SamplePlan]
    content: Faces | SceneFaces
    guides: Faces | SceneFaces | None
    relit: np.ndarray | torch.Tensor | None
    lights: list[dict] | None = None


def load_batch(config: SynthConfig, pool: FacePool, plans: Sequence[SamplePlan],
               guide_cache: dict[FaceRef, tuple[np.ndarray, np.ndarray]] | None = None
               ) -> LoadedBatch:
    """What ``plans`` name: content faces and the guides loaded apart (synthetic: scenes to
    render; other sources: decoded pixels), and the source-relit NI-HR (real photos) or
    physical lights. With ``guide_cache`` (a guide gallery), each guide is loaded once, as
    pixels, and kept there."""
    relit, lights = None, None
    if config.relight == "physical":
        lights = pool.physical_lights([p.content for p in plans], [p.style_seed for p in plans])
    elif config.relight == "real":
        relit = pool.load([p.relit for p in plans]).images
    elif config.relight == "geometric":
        lights = [sample_geometric_light(config.geometric, p.style_seed) for p in plans]
    refs = [p.guide for p in plans if p.guide_slot is None]
    if not refs:
        guides = None
    elif guide_cache is None:
        guides = pool.describe(refs)
    else:
        missing = list(dict.fromkeys(r for r in refs if r not in guide_cache))
        if missing:  # faces do not depend on the batch they are loaded in
            loaded = pool.load(missing)
            guide_cache.update(zip(missing, zip(loaded.images, loaded.landmarks)))
        guides = Faces(np.stack([guide_cache[r][0] for r in refs]),
                       np.stack([guide_cache[r][1] for r in refs]))
    content = pool.describe([p.content for p in plans])
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


def render_faces(config: SynthConfig, batch: LoadedBatch, device: torch.device) -> LoadedBatch:
    """``batch`` with its synthetic scenes rendered on ``device`` into (B, S, S, 3) uint8
    tensors there: content under uniform light and, for physical relighting, under each
    plan's light (one surface, two shadings), and the guides loaded apart. Pixels stay."""
    content, guides, relit = batch.content, batch.guides, batch.relit
    if isinstance(content, SceneFaces):
        light_sets = [[uniform_light()] * len(batch.plans)]
        if config.relight == "physical" and relit is None:
            assert batch.lights is not None
            light_sets.append(batch.lights)
        images = content.render(light_sets, device)
        content = Faces(images[0], content.landmarks)
        relit = images[1] if len(images) > 1 else relit
    if isinstance(guides, SceneFaces):
        guides = guides.uniform(device)
    return replace(batch, content=content, guides=guides, relit=relit)


def rendered_on_host(config: SynthConfig, batch: LoadedBatch) -> LoadedBatch:
    """``render_faces`` on the CPU, with numpy arrays: what a worker process hands on when the
    synth device is the CPU (rendering there is device work, spread over the workers)."""
    batch = render_faces(config, batch, torch.device("cpu"))

    def host(faces: Faces | None) -> Faces | None:
        return faces if faces is None else Faces(np.asarray(faces.images), faces.landmarks)

    relit = batch.relit.numpy() if isinstance(batch.relit, torch.Tensor) else batch.relit
    return replace(batch, content=host(batch.content), guides=host(batch.guides), relit=relit)


def style_latents(style_seeds: Sequence[int], latent_dim: int) -> torch.Tensor:
    """(B, latent_dim) z ~ N(0, I), row b drawn from a generator seeded by style_seeds[b]."""
    rows = [torch.randn(latent_dim, generator=torch.Generator().manual_seed(int(s)))
            for s in style_seeds]
    return torch.stack(rows)


def _to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) float in [0, 1] → (B, H, W, 3) uint8 on the same device, rounding to
    nearest."""
    return images.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1) \
        .contiguous()


def _batch_tensor(images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """(B, H, W, 3) uint8 (host array or device tensor) → (B, 3, H, W) float32 in [0, 1] on
    ``device`` (converted there; contiguous, as the models expect)."""
    t = torch.from_numpy(np.ascontiguousarray(images)) if isinstance(images, np.ndarray) \
        else images
    return t.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def _to_host(images: Sequence[np.ndarray | torch.Tensor]) -> list[np.ndarray]:
    """uint8 images on the device → numpy on the host: on CUDA through pinned buffers with
    non-blocking copies, waited for once; host arrays pass through."""
    out: list = []
    pending = False
    for im in images:
        if isinstance(im, torch.Tensor) and im.device.type == "cuda":
            buf = torch.empty(im.shape, dtype=im.dtype, pin_memory=True)
            out.append(buf.copy_(im, non_blocking=True))
            pending = True
        else:
            out.append(im)
    if pending:
        torch.cuda.current_stream().synchronize()
    return [im.numpy() if isinstance(im, torch.Tensor) else im for im in out]


def _landmark_list(points: np.ndarray) -> list[list[float]] | None:
    if np.isnan(points).any():
        return None
    return np.round(points.astype(np.float64), 4).tolist()


def make_pairs(config: SynthConfig, batch: LoadedBatch, *, rain: Rain | None,
               device: torch.device, source_name: str) -> list[PairSample]:
    """Render one loaded batch into pairs (NI-LR, NI-HR, UI-HR, guide, json) on ``device``."""
    batch = render_faces(config, batch, device)
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
    apart = [] if guides is None else [guides.images]
    nilr8, nihr8, uihr8, *apart = _to_host([nilr8, nihr8, content.images, *apart])
    guide8 = _guide_images(plans, uihr8, apart[0] if apart else None)
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
        samples.append(PairSample(plan.split, plan.index, nilr8[b], nihr8[b], uihr8[b],
                                  guide8[b], meta))
    return samples


def _guide_images(plans: Sequence[SamplePlan], uihr: np.ndarray, extra: np.ndarray | None
                  ) -> np.ndarray:
    """(B, S, S, 3) guides: another sample's UI-HR face (``guide_slot``), or the next face
    loaded apart (``extra``, in plan order)."""
    slots = [p.guide_slot for p in plans]
    if all(s is not None for s in slots):
        return uihr[slots]
    assert extra is not None
    out, k = np.empty_like(uihr), 0
    for b, slot in enumerate(slots):
        if slot is None:
            out[b], k = extra[k], k + 1
        else:
            out[b] = uihr[slot]
    return out

