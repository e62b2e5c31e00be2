"""The shared machinery of sources that are a list of image files with per-file labels.

Each on-disk source (folder, COCO, WikiArt, CelebA, Multi-PIE, Extended Yale B)
scans its layout once into an ``ImageIndex``: paths, identities, illuminations,
optional landmarks and per-file meta, all held in memory so ``identity_of`` and
``illumination_of`` never decode an image. Images are decoded in ``__getitem__``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from facecore.errors import UserInputError
from facecore.imageio import read_image
from datagen.sources.base import FaceRecord, Illumination


@dataclass(frozen=True)
class ImageIndex:
    """What a source knows about each file, in index order.

    root:          the dataset folder the user gave.
    files:         image paths relative to ``root`` (POSIX strings; also the record's meta["file"]).
    identities:    one label per file.
    illuminations: one "uniform" / "non-uniform" / None per file.
    landmarks:     file → (68, 2) float32 pixel (x, y), for the files that have them.
    meta:          per-file extra facts (e.g. light azimuth), JSON-ready.
    """

    root: Path
    files: Sequence[str]
    identities: Sequence[str]
    illuminations: Sequence[Illumination | None]
    landmarks: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Sequence[Mapping[str, Any]] | None = None

    def __post_init__(self) -> None:
        n = len(self.files)
        if len(self.identities) != n or len(self.illuminations) != n or \
                (self.meta is not None and len(self.meta) != n):
            raise ValueError("ImageIndex: files, identities, illuminations and meta must align")


class IndexedSource:
    """A source backed by an ``ImageIndex``; subclasses build the index from their layout."""

    name: ClassVar[str] = "indexed"
    licence: ClassVar[str] = ""

    def __init__(self, index: ImageIndex) -> None:
        if not index.files:
            raise UserInputError(f"{index.root}: no images found for source {self.name!r}")
        self.index = index
        self.root = index.root
        self._by_identity: dict[str, list[int]] = {}
        for i, ident in enumerate(index.identities):
            self._by_identity.setdefault(ident, []).append(i)

    def __len__(self) -> int:
        return len(self.index.files)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, n={len(self)})"

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise UserInputError(f"{self.name} source: index must be an integer, got {index!r}")
        if not 0 <= index < len(self):
            raise UserInputError(f"{self.name} source: index {index} out of range [0, {len(self)})")
        return int(index)

    def identity_of(self, index: int) -> str:
        return self.index.identities[self._check_index(index)]

    def illumination_of(self, index: int) -> Illumination | None:
        return self.index.illuminations[self._check_index(index)]

    def path_of(self, index: int) -> Path:
        """Absolute path of the image file of ``index``."""
        return self.root / self.index.files[self._check_index(index)]

    @property
    def identities(self) -> list[str]:
        """Distinct identities, in first-seen order."""
        return list(self._by_identity)

    def __getitem__(self, index: int) -> FaceRecord:
        i = self._check_index(index)
        rel = self.index.files[i]
        image = read_image(self.root / rel)
        landmarks = self.index.landmarks.get(rel)  # may lie partly outside a tight crop
        meta = {"source": self.name, "file": rel, "path": str(self.root / rel)}
        if self.index.meta is not None:
            meta.update(self.index.meta[i])
        return FaceRecord(image=image, identity=self.index.identities[i], landmarks=landmarks,
                          illumination=self.index.illuminations[i], meta=meta)

    # LightingPairs (see datagen.sources.base): meaningful where illuminations are known.
    def indices_of(self, identity: str, illumination: Illumination | None = None) -> list[int]:
        """Ascending indices of ``identity``, only those lit by ``illumination`` if given."""
        if identity not in self._by_identity:
            raise UserInputError(f"{self.name} source: unknown identity {identity!r}")
        found = self._by_identity[identity]
        if illumination is None:
            return list(found)
        return [i for i in found if self.index.illuminations[i] == illumination]

    def uniform_index_of(self, identity: str) -> int:
        """The first uniformly lit image of ``identity``."""
        found = self.indices_of(identity, "uniform")
        if not found:
            raise UserInputError(f"{self.name} source: identity {identity!r} has no uniformly "
                                 f"lit image")
        return found[0]


def require(path: Path, what: str) -> Path:
    """``path`` if it exists, else a UserInputError naming it and what the layout holds."""
    if not path.exists():
        raise UserInputError(f"{path}: not found; {what}")
    return path


def sorted_images(folder: Path, *, suffixes: tuple[str, ...]) -> list[Path]:
    """Image files under ``folder`` (recursive) with one of ``suffixes``, sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
