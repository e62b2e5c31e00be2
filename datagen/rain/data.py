"""Image streams that feed RaIN training: faces from a source, embedded photos, procedural styles.

A stream draws a batch with ``sample(n, rng)`` → (n, 3, S, S) float32 in [0, 1];
everything random comes from the numpy generator passed in, so the training
loop owns one generator, checkpoints its state, and a resumed run draws the
same batches as an unbroken one.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal, Protocol, Sequence, runtime_checkable

import cv2
import numpy as np
import torch

from facecore.errors import UserInputError
from facecore.imageio import read_image
from datagen.rain.styles import lighting_fields
from datagen.sources.base import FaceSource, Illumination, Split, numbered_identities, \
    parse_subjects, split_indices, split_of

Phase = Literal["pretrain", "finetune"]
# Photographs that scikit-image ships inside its package (no download); used when installed.
SKIMAGE_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
                  "camera.png", "brick.png", "grass.png", "gravel.png", "coins.png", "moon.png")


@runtime_checkable
class ImageStream(Protocol):
    """Draws training images: ``sample(n, rng)`` → (n, 3, S, S) float32 in [0, 1]."""

    size: int

    def sample(self, n: int, rng: np.random.Generator) -> torch.Tensor: ...


@runtime_checkable
class PairedStream(Protocol):
    """Draws relighting examples: ``sample_pairs(n, rng)`` → (content, style, target), each
    (n, 3, S, S) float32 in [0, 1]: a uniformly lit face, another identity's face under some
    light, and the first face under that same light."""

    size: int

    def sample_pairs(self, n: int, rng: np.random.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ...


def to_tensor(images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) uint8 or float in [0, 1] → (N, 3, S, S) float32 in [0, 1]."""
    arr = np.stack(list(images)) if not isinstance(images, np.ndarray) else images
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))).float()


def square_resize(image: np.ndarray, size: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Crop the largest square (random position when ``rng`` is given, else centred), resize."""
    h, w = image.shape[:2]
    s = min(h, w)
    if rng is None:
        y0, x0 = (h - s) // 2, (w - s) // 2
    else:
        y0, x0 = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    crop = image[y0:y0 + s, x0:x0 + s]
    if s == size:
        return np.ascontiguousarray(crop)
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


class FaceStream:
    """Faces of one split (and optionally one illumination) of a ``FaceSource``, drawn uniformly."""

    def __init__(self, source: FaceSource, *, size: int, split: Split = "train",
                 illumination: Illumination | None = None) -> None:
        self.source, self.size = source, size
        idx = split_indices(source, split)
        if illumination is not None:
            idx = np.asarray([i for i in idx if source.illumination_of(int(i)) == illumination],
                             dtype=np.int64)
        if idx.size == 0:
            what = f"{illumination} " if illumination else ""
            raise UserInputError(f"source {getattr(source, 'name', source)!r} has no {what}images "
                                 f"in the {split} split; give a larger source")
        self.indices = idx

    def sample(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        picks = self.indices[rng.integers(0, self.indices.size, size=n)]
        records = (self.source.get_batch(picks) if hasattr(self.source, "get_batch")
                   else [self.source[int(i)] for i in picks])  # get_batch: the fast path if offered
        return to_tensor([square_resize(r.image, self.size, rng) for r in records])


class PhotoStream:
    """Random square crops (random scale) of a fixed list of photographs."""

    def __init__(self, photos: Sequence[np.ndarray], *, size: int) -> None:
        if not photos:
            raise UserInputError("PhotoStream needs at least one photo")
        self.photos, self.size = list(photos), size

    def sample(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        out = []
        for _ in range(n):
            img = self.photos[int(rng.integers(0, len(self.photos)))]
            h, w = img.shape[:2]
            s = int(min(h, w) * rng.uniform(0.4, 1.0))
            y0, x0 = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
            out.append(square_resize(img[y0:y0 + s, x0:x0 + s], self.size))
        return to_tensor(out)


class LightingFieldStream:
    """Procedural lighting/colour fields (``datagen.rain.styles``): the embedded style images."""

    def __init__(self, *, size: int) -> None:
        self.size = size

    def sample(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        return to_tensor(lighting_fields(n, self.size, rng))


class MixStream:
    """Each image comes from one of ``streams``, chosen uniformly at random per image."""

    def __init__(self, streams: Sequence[ImageStream]) -> None:
        self.streams, self.size = list(streams), streams[0].size

    def sample(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        which = rng.integers(0, len(self.streams), size=n)
        out = torch.empty(n, 3, self.size, self.size)
        for k, stream in enumerate(self.streams):
            sel = np.flatnonzero(which == k)
            if sel.size:
                out[torch.from_numpy(sel)] = stream.sample(int(sel.size), rng)
        return out


def _other_than(pool: np.ndarray, same: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each entry of ``same``, a uniform draw from ``pool`` that differs from it."""
    out = pool[rng.integers(0, pool.size, size=same.size)]
    while (clash := out == same).any():  # pools hold ≥ 2 entries (checked by the callers)
        out[clash] = pool[rng.integers(0, pool.size, size=int(clash.sum()))]
    return out


class SyntheticPairs:
    """Paired relighting examples rendered by the synthetic source, for any of its lights:
    content = face A under uniform light, style = face B (another identity) under a random
    non-uniform light, target = face A under B's light. Train-split identities."""

    def __init__(self, *, size: int, n_identities: int = 2000, seed: int = 0,
                 split: Split = "train") -> None:
        from datagen.sources.synthetic import SyntheticFaces  # local: the source is optional here

        self.size = size
        self.source = SyntheticFaces(size=size, n_identities=n_identities, seed=seed)
        self.identities = np.array([i for i in range(n_identities)
                                    if split_of(f"synthetic-{i:06d}") == split], np.int64)
        if self.identities.size < 2:
            raise UserInputError(f"synthetic pairs: need ≥ 2 {split} identities; give more")

    def sample_pairs(self, n: int, rng: np.random.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a = self.identities[rng.integers(0, self.identities.size, size=n)]
        b = _other_than(self.identities, a, rng)
        per = self.source.images_per_identity
        va, vb = rng.integers(0, per, size=n), rng.integers(0, per, size=n)
        seeds = rng.integers(0, 2**31 - 1, size=n)
        style = self.source.render(b, vb, lighting="non-uniform", light_seeds=seeds)
        scene, _ = self.source.scene(a, va)  # face A once, shaded under both lights
        uniform = self.source.lights(a, va, lighting="uniform")
        content, target = self.source.render_scene(scene, [uniform, style.lights])
        return to_tensor(content.numpy()), to_tensor(style.images), to_tensor(target.numpy())


def light_label(meta: dict) -> tuple[int, int] | None:
    """A photo's light as its source labels it: (azimuth, elevation) in degrees, or None."""
    if "azimuth" in meta and "elevation" in meta:
        return int(meta["azimuth"]), int(meta["elevation"])
    return None


class LabelledPairs:
    """Paired relighting examples from real photos whose light is labelled (Extended Yale B:
    azimuth and elevation in the meta): content = identity A's uniform photo, style =
    identity B's photo under light L, target = A's photo under L. Centred square crops,
    decoded once and kept (a lab set is small)."""

    def __init__(self, source: FaceSource, *, size: int, identities: Sequence[str]) -> None:
        self.size, self.source = size, source
        self.by_label: dict[tuple[int, int], dict[str, int]] = {}
        self.uniform: dict[str, int] = {}
        for ident in identities:
            for i in source.indices_of(ident):  # type: ignore[attr-defined]
                label = light_label(source[i].meta)
                if source.illumination_of(i) == "uniform":
                    self.uniform.setdefault(ident, i)
                elif label is not None:
                    self.by_label.setdefault(label, {})[ident] = i
        self.by_label = {k: v for k, v in self.by_label.items() if len(v) >= 2}
        self.choices = [(ident, label) for label, who in sorted(self.by_label.items())
                        for ident in sorted(who) if ident in self.uniform]
        if not self.choices:
            raise UserInputError(f"{getattr(source, 'name', source)}: no light label shared by "
                                 f"two identities with uniform photos; paired fine-tuning needs "
                                 f"photos labelled with their light (e.g. Extended Yale B)")
        self._cache: dict[int, np.ndarray] = {}

    def _image(self, index: int) -> np.ndarray:
        if index not in self._cache:
            self._cache[index] = square_resize(self.source[index].image, self.size)
        return self._cache[index]

    def sample_pairs(self, n: int, rng: np.random.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        content, style, target = [], [], []
        for k in rng.integers(0, len(self.choices), size=n):
            ident, label = self.choices[int(k)]
            who = self.by_label[label]
            others = sorted(o for o in who if o != ident)
            other = others[int(rng.integers(0, len(others)))]
            content.append(self._image(self.uniform[ident]))
            style.append(self._image(who[other]))
            target.append(self._image(who[ident]))
        return to_tensor(content), to_tensor(style), to_tensor(target)


def embedded_photos() -> list[np.ndarray]:
    """The photographs scikit-image (a runtime dependency) ships; none if it is absent."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    return [read_image(folder / name) for name in SKIMAGE_PHOTOS if (folder / name).is_file()]


def synthetic_faces(*, size: int, lighting: Illumination, n_identities: int = 2000,
                    seed: int = 0) -> FaceSource:
    """The embedded synthetic face source at ``size`` with one lighting."""
    from datagen.sources.synthetic import SyntheticFaces  # local: the source is optional here

    return SyntheticFaces(size=size, n_identities=n_identities, lighting=lighting, seed=seed)


def embedded_streams(phase: Phase, *, size: int, seed: int = 0) -> tuple[ImageStream, ImageStream]:
    """The (content, style) streams used when the user gives no sources.

    finetune: uniformly lit synthetic faces → non-uniformly lit synthetic faces
              (train-split identities), the relighting RaIN is for.
    pretrain: content = synthetic faces under both lightings, mixed with crops of
              scikit-image's bundled photos when installed; style = non-uniformly lit
              synthetic faces mixed with those photos, standing in for COCO/WikiArt.
              (The procedural lighting fields of ``styles.py``, ``--style lighting-fields``,
              were the style set with the random-init VGG; against the real VGG-19 their
              smooth, textureless statistics are matched by darkening every output to
              black — measured: relit faces at gain ≈ 0.05 for every z.)
    """
    if phase == "finetune":
        return (FaceStream(synthetic_faces(size=size, lighting="uniform", seed=seed), size=size),
                FaceStream(synthetic_faces(size=size, lighting="non-uniform", seed=seed), size=size))
    if phase != "pretrain":
        raise UserInputError(f"unknown RaIN phase {phase!r}; choose pretrain or finetune")
    uniform, lit = (FaceStream(synthetic_faces(size=size, lighting=light, seed=seed), size=size)
                    for light in ("uniform", "non-uniform"))
    found = embedded_photos()
    photos: list[ImageStream] = [PhotoStream(found, size=size)] if found else []
    return MixStream([uniform, lit, *photos]), MixStream([lit, *photos])


def open_stream(spec: str | None, *, role: Literal["content", "style"], phase: Phase, size: int,
                seed: int = 0) -> ImageStream:
    """Turn a user's source spec into a training stream for ``role``.

    spec: None or ``"embedded"`` → the embedded default for the phase (``embedded_streams``);
    ``"synthetic"`` → synthetic faces, uniformly lit as content and non-uniformly
    lit as style; ``"lighting-fields"`` → procedural lighting fields;
    ``"NAME"`` or ``"NAME:ROOT"`` → ``datagen.sources.open_source(NAME, root=ROOT)``.
    """
    from datagen.sources import open_source  # local: the source table is filled by its modules

    if spec is None or spec == "embedded":
        content, style = embedded_streams(phase, size=size, seed=seed)
        return content if role == "content" else style
    if spec == "synthetic":
        lighting: Illumination = "uniform" if role == "content" else "non-uniform"
        return FaceStream(synthetic_faces(size=size, lighting=lighting, seed=seed), size=size)
    if spec == "lighting-fields":
        return LightingFieldStream(size=size)
    name, _, root = spec.partition(":")
    source = open_source(name, **({"root": root} if root else {}))
    wanted: Illumination | None = None
    if phase == "finetune":
        wanted = "uniform" if role == "content" else "non-uniform"
    return source_stream(source, size=size, illumination=wanted)


def source_stream(source: FaceSource, *, size: int,
                  illumination: Illumination | None) -> FaceStream:
    """Train-split stream of ``source``; with ``illumination`` keep only images labelled that
    way, unless the source labels no lighting at all (then it is used whole)."""
    labelled = any(source.illumination_of(i) is not None for i in range(min(len(source), 4096)))
    return FaceStream(source, size=size, illumination=illumination if labelled else None)


def open_pairs(content: str | None, style: str | None, *, size: int, seed: int = 0,
               subjects: str | None = None) -> PairedStream | None:
    """The paired stream of a fine-tune whose content and style name the same faces, or None.

    embedded / synthetic → ``SyntheticPairs``; ``NAME[:ROOT]`` whose photos carry light
    labels → ``LabelledPairs`` of its train-split identities, or of ``subjects`` (e.g.
    ``"01-28"``) when given. Different content and style specs, or a source without light
    labels, train unpaired (content and style losses, as published): None.
    """
    from datagen.sources import open_source  # local: the source table is filled by its modules

    c, s = content or "embedded", style or "embedded"
    if c != s or c == "lighting-fields":
        if subjects:
            raise UserInputError("--subjects needs paired fine-tuning: the same labelled "
                                 "source as --content and --style")
        return None
    if c in ("embedded", "synthetic"):
        if subjects:
            raise UserInputError("--subjects chooses real subjects; synthetic faces take none")
        return SyntheticPairs(size=size, seed=seed)
    name, _, root = c.partition(":")
    source = open_source(name, **({"root": root} if root else {}))
    if not hasattr(source, "indices_of") or not any(
            light_label(source[i].meta) for i in range(min(len(source), 64))):
        if subjects:
            raise UserInputError(f"{name}: its photos carry no light labels, so --subjects "
                                 f"(paired fine-tuning) does not apply")
        return None
    if subjects:
        identities = numbered_identities(source, parse_subjects(subjects))
    else:
        train = {source.identity_of(int(i)) for i in split_indices(source, "train")}
        identities = sorted(train)
    return LabelledPairs(source, size=size, identities=identities)
