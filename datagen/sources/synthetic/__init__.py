"""The embedded default source: procedural parametric faces that need no download.

An identity is a seeded parameter vector (head shape, jaw, eye/nose/mouth/brow
geometry, skin albedo, hair, background); each image of it adds a small pose
and expression change. Faces are rendered as a lit height field, so the same
face under ``uniform`` and ``non-uniform`` light differs only in the light: a
physical ground-truth relighting pair. iBUG-68 landmarks are analytic.

Record ``i`` is identity ``i // images_per_identity``, variant
``i % images_per_identity``. Everything is a pure function of the arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
import torch

from facecore.errors import UserInputError
from datagen.sources.base import FaceRecord
from datagen.sources.synthetic.landmarks import landmarks_from_layout
from datagen.sources.synthetic.layout import make_layout
from datagen.sources.synthetic.params import LIGHTINGS, Lighting, sample_identity, \
    sample_light, sample_nuisance, uniform_light
from datagen.sources.synthetic.render import FaceScene, render_scene, scene_chunk

MIN_SIZE = 16
CHUNK = 16  # faces per torch call on the CPU: keeps tensors cache-sized (~1 MB); no effect
            # on bytes


@dataclass(frozen=True)
class RenderedFaces:
    """A rendered batch.

    images:    (B, S, S, 3) uint8 RGB.
    landmarks: (B, 68, 2) float32 iBUG-68 pixel (x, y) in ``images``.
    lights:    per face, the JSON-ready light parameters it was rendered with.
    """

    images: np.ndarray
    landmarks: np.ndarray
    lights: list[dict[str, Any]]


def _int_array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise UserInputError(f"{name} must be a 1-D array of integers, got shape {arr.shape} "
                             f"dtype {arr.dtype}")
    return arr.astype(np.int64)


class SyntheticFaces:
    """Procedural faces: ``n_identities`` × ``images_per_identity`` records, ``size``² pixels."""

    name: ClassVar[str] = "synthetic"
    licence: ClassVar[str] = "procedurally generated, no licence restrictions (CC0)"

    def __init__(self, *, size: int = 128, n_identities: int = 10_000,
                 images_per_identity: int = 16, lighting: Lighting = "uniform",
                 seed: int = 0) -> None:
        for key, value, low in (("size", size, MIN_SIZE), ("n_identities", n_identities, 1),
                                ("images_per_identity", images_per_identity, 1),
                                ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < low:
                raise UserInputError(f"synthetic source: {key} must be an integer ≥ {low}, "
                                     f"got {value!r}")
        _check_lighting(lighting)
        self.size = int(size)
        self.n_identities = int(n_identities)
        self.images_per_identity = int(images_per_identity)
        self.lighting: Lighting = lighting
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.n_identities * self.images_per_identity

    def __repr__(self) -> str:
        return (f"SyntheticFaces(size={self.size}, n_identities={self.n_identities}, "
                f"images_per_identity={self.images_per_identity}, "
                f"lighting={self.lighting!r}, seed={self.seed})")

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise UserInputError(f"synthetic source: index must be an integer, got {index!r}")
        if not 0 <= index < len(self):
            raise UserInputError(f"synthetic source: index {index} out of range "
                                 f"[0, {len(self)})")
        return int(index)

    def identity_of(self, index: int) -> str:
        """Seed-independent identity label, e.g. ``synthetic-000123``."""
        return f"synthetic-{self._check_index(index) // self.images_per_identity:06d}"

    def illumination_of(self, index: int) -> Lighting:
        self._check_index(index)
        return self.lighting

    def __getitem__(self, index: int) -> FaceRecord:
        return self.get_batch([index])[0]

    def get_batch(self, indices: Sequence[int]) -> list[FaceRecord]:
        """Records for ``indices``, rendered together (vectorised)."""
        idx = np.asarray([self._check_index(i) for i in indices], dtype=np.int64)
        ids, variants = idx // self.images_per_identity, idx % self.images_per_identity
        out = self.render(ids, variants, lighting=self.lighting)
        return [
            FaceRecord(image=out.images[b], identity=f"synthetic-{ids[b]:06d}",
                       landmarks=out.landmarks[b], illumination=self.lighting,
                       meta={"source": self.name, "seed": self.seed,
                             "identity_index": int(ids[b]), "variant": int(variants[b]),
                             "light": out.lights[b]})
            for b in range(len(idx))
        ]

    def render(self, identities: np.ndarray, variants: np.ndarray, *, lighting: Lighting,
               light_seeds: np.ndarray | None = None,
               lights: Sequence[dict] | None = None) -> RenderedFaces:
        """Render faces (identity, variant) under ``lighting``, on the CPU.

        identities:  (B,) ints in [0, n_identities).
        variants:    (B,) non-negative ints (any value; those < images_per_identity are
                     the records of this source).
        light_seeds: (B,) non-negative ints choosing among random lights of the same face
                     (``non-uniform`` only; None means 0). Uniform light ignores it.
        lights:      (``non-uniform`` only) the light dicts to render with, one per face, as
                     ``RenderedFaces.lights`` records them — another face's light, say —
                     instead of sampling them; ``light_seeds`` is then ignored.

        The same as ``scene`` + ``lights`` + ``render_scene`` (which can run on another
        device, and shade one scene under several light sets).
        """
        scene, landmarks = self.scene(identities, variants)
        if lights is None:
            lights = self.lights(identities, variants, lighting=lighting,
                                 light_seeds=light_seeds)
        elif lighting != "non-uniform" or len(lights) != len(landmarks):
            raise UserInputError(f"lights: one dict per face ({len(landmarks)}) and only with "
                                 f"non-uniform lighting, got {len(lights)} with {lighting!r}")
        else:
            lights = list(lights)
        if not lights:
            S = self.size
            return RenderedFaces(np.zeros((0, S, S, 3), np.uint8), landmarks, [])
        images = render_scene(scene, [lights])[0].numpy()
        return RenderedFaces(images, landmarks, lights)

    def scene(self, identities: np.ndarray, variants: np.ndarray
              ) -> tuple[FaceScene, np.ndarray]:
        """The faces (identity, variant), described for ``render_scene`` (host work: their
        parameters and layout), and their (B, 68, 2) float32 landmarks."""
        ids, var = self._faces(identities, variants)
        identity_params = {int(i): sample_identity(self.seed, int(i)) for i in np.unique(ids)}
        chunks, landmarks = [], [np.zeros((0, 68, 2), np.float32)]
        for start in range(0, ids.size, CHUNK):
            sl = slice(start, start + CHUNK)
            layout = make_layout([identity_params[int(i)] for i in ids[sl]],
                                 [sample_nuisance(self.seed, int(i), int(v))
                                  for i, v in zip(ids[sl], var[sl])])
            chunks.append(scene_chunk(layout, self.size))
            landmarks.append(landmarks_from_layout(layout, self.size))
        return FaceScene(self.size, tuple(chunks)), np.concatenate(landmarks)

    def lights(self, identities: np.ndarray, variants: np.ndarray, *, lighting: Lighting,
               light_seeds: np.ndarray | None = None) -> list[dict[str, Any]]:
        """The JSON-ready light parameters of each face (see ``render``)."""
        _check_lighting(lighting)
        ids, var = self._faces(identities, variants)
        seeds = np.zeros_like(ids) if light_seeds is None else \
            _int_array(light_seeds, "light_seeds")
        if seeds.shape != ids.shape:
            raise UserInputError(f"light_seeds must have one entry per face ({ids.size}), "
                                 f"got {seeds.size}")
        if seeds.size and seeds.min() < 0:
            raise UserInputError("variants and light_seeds must be non-negative")
        if lighting == "uniform":
            return [uniform_light() for _ in ids]
        return [sample_light(self.seed, int(i), int(v), int(k))
                for i, v, k in zip(ids, var, seeds)]

    def render_scene(self, scene: FaceScene, light_sets: Sequence[Sequence[dict]], *,
                     device: torch.device | str = "cpu") -> list[torch.Tensor]:
        """``render_scene`` of this source's faces: one (B, S, S, 3) uint8 tensor on
        ``device`` per light set."""
        return render_scene(scene, light_sets, device=device)

    def _faces(self, identities: Any, variants: Any) -> tuple[np.ndarray, np.ndarray]:
        ids = _int_array(identities, "identities")
        var = _int_array(variants, "variants")
        if ids.shape != var.shape:
            raise UserInputError(f"identities and variants must have the same length, got "
                                 f"{ids.size} and {var.size}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_identities):
            raise UserInputError(f"identities must be in [0, {self.n_identities}), got "
                                 f"{ids.min()}..{ids.max()}")
        if var.size and var.min() < 0:
            raise UserInputError("variants and light_seeds must be non-negative")
        return ids, var


def _check_lighting(lighting: Any) -> None:
    if lighting not in LIGHTINGS:
        raise UserInputError(f"unknown lighting {lighting!r}; choose one of "
                             f"{', '.join(LIGHTINGS)}")


__all__ = ["RenderedFaces", "SyntheticFaces", "MIN_SIZE"]
