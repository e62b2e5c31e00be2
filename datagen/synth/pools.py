"""Where stage 2 gets its faces: the uniformly lit faces of one split, by reference.

A ``FaceRef`` names a face without loading it, so per-sample plans stay tiny
and pure; pools turn a batch of refs into faces. ``SyntheticPool`` describes
them (``SceneFaces``: host work of microseconds a face) for the device to render,
under uniform light and, for physical relighting, under random lights too;
``RecordPool`` wraps any on-disk ``FaceSource`` and decodes pixels (and, for
sources with lighting labels, finds a real non-uniformly lit image of the same
identity).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import cv2
import numpy as np
import torch

from facecore.errors import UserInputError
from datagen.sources import FaceSource, SplitFractions, split_of
from datagen.sources.base import LightingPairs
from datagen.sources.synthetic import SyntheticFaces
from datagen.sources.synthetic.params import uniform_light
from datagen.sources.synthetic.render import FaceScene, render_scene
from datagen.synth.config import SynthConfig
from datagen.warp import scale_points


@dataclass(frozen=True)
class FaceRef:
    """A face of a pool: its identity label and the integers that locate it."""

    identity: str
    key: tuple[int, ...]


@dataclass(frozen=True)
class Faces:
    """Loaded faces: (B, S, S, 3) uint8 RGB — a numpy array on the host, or a tensor on the
    device once rendered there — and (B, 68, 2) float32 landmarks (NaN if unknown)."""

    images: np.ndarray | torch.Tensor
    landmarks: np.ndarray


@dataclass(frozen=True)
class SceneFaces:
    """Synthetic faces described but not rendered (``FaceScene``), and their landmarks."""

    scene: FaceScene
    landmarks: np.ndarray

    def render(self, light_sets: Sequence[Sequence[dict]], device: torch.device
               ) -> list[torch.Tensor]:
        """(B, S, S, 3) uint8 on ``device``, one per light set (one light dict per face)."""
        return render_scene(self.scene, light_sets, device=device)

    def uniform(self, device: torch.device) -> Faces:
        """The faces under uniform light, as pixels on ``device``."""
        lights = [uniform_light()] * len(self.scene)
        return Faces(self.render([lights], device)[0], self.landmarks)


class FacePool(Protocol):
    def draw(self, rng: np.random.Generator) -> FaceRef: ...

    def draw_relit(self, content: FaceRef, rng: np.random.Generator) -> FaceRef: ...

    def load(self, refs: Sequence[FaceRef]) -> Faces: ...

    def describe(self, refs: Sequence[FaceRef]) -> Faces | SceneFaces: ...

    def physical_lights(self, refs: Sequence[FaceRef], style_seeds: Sequence[int]
                        ) -> list[dict]: ...


class SyntheticPool:
    """Uniformly lit synthetic faces of one split: identities whose label hashes into it."""

    def __init__(self, source: SyntheticFaces, split: str, fractions: SplitFractions) -> None:
        self.source = source
        self.ids = np.array([i for i in range(source.n_identities)
                             if split_of(f"synthetic-{i:06d}", fractions) == split], np.int64)
        if self.ids.size < 2:
            raise UserInputError(f"synthetic source: split {split!r} has {self.ids.size} "
                                 f"identities; use more n_identities or other split fractions")

    def draw(self, rng: np.random.Generator) -> FaceRef:
        ident = int(self.ids[rng.integers(self.ids.size)])
        variant = int(rng.integers(self.source.images_per_identity))
        return FaceRef(f"synthetic-{ident:06d}", (ident, variant))

    def draw_relit(self, content: FaceRef, rng: np.random.Generator) -> FaceRef:
        raise UserInputError("synthetic source: use --relight physical or rain, not real")

    def load(self, refs: Sequence[FaceRef]) -> Faces:
        """The uniformly lit faces of ``refs``, rendered here on the CPU."""
        out = self.source.render(*_keys(refs), lighting="uniform")
        return Faces(out.images, out.landmarks)

    def describe(self, refs: Sequence[FaceRef]) -> SceneFaces:
        """The faces of ``refs`` for the device to render (``SceneFaces``)."""
        return SceneFaces(*self.source.scene(*_keys(refs)))

    def physical_lights(self, refs: Sequence[FaceRef], style_seeds: Sequence[int]
                        ) -> list[dict]:
        """Per face of ``refs``, the JSON-ready random light of its ``style_seeds`` entry
        that physical relighting renders it under."""
        return self.source.lights(*_keys(refs), lighting="non-uniform",
                                  light_seeds=np.asarray(style_seeds, np.int64))


def _keys(refs: Sequence[FaceRef]) -> tuple[np.ndarray, np.ndarray]:
    """(identities, variants) of synthetic face refs."""
    return (np.array([r.key[0] for r in refs], np.int64),
            np.array([r.key[1] for r in refs], np.int64))


class RecordPool:
    """Faces of an indexed source in one split: uniformly lit ones (or all, if unlabelled)."""

    def __init__(self, source: FaceSource, split: str, fractions: SplitFractions,
                 size: int) -> None:
        self.source, self.size = source, size
        labelled = any(source.illumination_of(i) is not None for i in range(len(source)))
        self.indices = np.array([
            i for i in range(len(source))
            if split_of(source.identity_of(i), fractions) == split
            and (not labelled or source.illumination_of(i) == "uniform")], np.int64)
        if len({source.identity_of(int(i)) for i in self.indices}) < 2:
            raise UserInputError(f"source {source.name!r}: split {split!r} has fewer than 2 "
                                 f"identities with uniformly lit images; add data or change "
                                 f"the split fractions")

    def draw(self, rng: np.random.Generator) -> FaceRef:
        i = int(self.indices[rng.integers(self.indices.size)])
        return FaceRef(self.source.identity_of(i), (i,))

    def draw_relit(self, content: FaceRef, rng: np.random.Generator) -> FaceRef:
        if not isinstance(self.source, LightingPairs):
            raise UserInputError(f"source {self.source.name!r} has no lighting labels; "
                                 f"--relight real needs them")
        options = self.source.indices_of(content.identity, "non-uniform")
        if not options:
            raise UserInputError(f"source {self.source.name!r}: identity {content.identity!r} "
                                 f"has no non-uniformly lit image for --relight real")
        return FaceRef(content.identity, (int(options[rng.integers(len(options))]),))

    def load(self, refs: Sequence[FaceRef]) -> Faces:
        images, marks = [], []
        for ref in refs:
            rec = self.source[ref.key[0]]
            img, lm = rec.image, rec.landmarks
            h, w = img.shape[:2]
            if (h, w) != (self.size, self.size):
                img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)
                if lm is not None:
                    lm = np.stack([scale_points(lm[:, 0], w, self.size),
                                   scale_points(lm[:, 1], h, self.size)], axis=1)
            images.append(img)
            marks.append(np.full((68, 2), np.nan, np.float32) if lm is None
                         else lm.astype(np.float32))
        return Faces(np.stack(images), np.stack(marks))

    def describe(self, refs: Sequence[FaceRef]) -> Faces:
        """Image files hold pixels already: ``load``."""
        return self.load(refs)

    def physical_lights(self, refs: Sequence[FaceRef], style_seeds: Sequence[int]
                        ) -> list[dict]:
        raise UserInputError("--relight physical needs --source synthetic")


def make_pool(source: FaceSource, split: str, config: SynthConfig) -> FacePool:
    """The pool of ``split`` for ``source`` under ``config``."""
    if isinstance(source, SyntheticFaces):
        return SyntheticPool(source, split, config.fractions)
    return RecordPool(source, split, config.fractions, config.hr_size)
