"""What every face source yields, and the identity-disjoint split rule.

A source is an indexable collection of ``FaceRecord``s. Splits are decided per
identity by a stable hash, so no identity ever appears in two splits, whatever
the source's size or ordering, and adding images never moves an identity.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import AbstractSet, Any, ClassVar, Literal, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from facecore.errors import UserInputError
from datagen.shards.schema import SPLITS, Split

Illumination = Literal["uniform", "non-uniform"]
N_LANDMARKS = 68


@dataclass(frozen=True)
class FaceRecord:
    """One face image.

    image:        (H, W, 3) uint8 RGB.
    identity:     stable identity label, unique within the source.
    landmarks:    (68, 2) float32 iBUG-68 points in pixel (x, y) of ``image``, or None.
    illumination: "uniform", "non-uniform", or None when the source does not know.
    meta:         source-specific facts (file path, light direction, render params).
    """

    image: np.ndarray
    identity: str
    landmarks: np.ndarray | None = None
    illumination: Illumination | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        img = self.image
        if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3
                and img.shape[2] == 3):
            raise ValueError(
                f"FaceRecord.image must be (H, W, 3) uint8, got "
                f"{getattr(img, 'shape', None)} {getattr(img, 'dtype', type(img))}"
            )
        if self.landmarks is not None and tuple(self.landmarks.shape) != (N_LANDMARKS, 2):
            raise ValueError(f"FaceRecord.landmarks must be (68, 2), got {self.landmarks.shape}")


@runtime_checkable
class FaceSource(Protocol):
    """The protocol every source implements.

    ``identity_of`` and ``illumination_of`` must be cheap (no image decoding):
    splits and pair selection call them for every index.
    """

    name: ClassVar[str]
    licence: ClassVar[str]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> FaceRecord: ...

    def identity_of(self, index: int) -> str: ...

    def illumination_of(self, index: int) -> Illumination | None: ...


@runtime_checkable
class LightingPairs(Protocol):
    """Optional extra of sources with lighting labels (folder with labels, Extended Yale B,
    Multi-PIE): find real pairs of the same identity under both lights, for ``--relight real``
    ("a real non-uniform image of the identity" and "its real uniform image"). Cheap, no decoding.
    """

    def indices_of(self, identity: str, illumination: Illumination | None = None) -> list[int]:
        """Ascending indices of ``identity`` (only those lit by ``illumination`` if given)."""
        ...

    def uniform_index_of(self, identity: str) -> int:
        """The index of ``identity``'s (first) uniform image; UserInputError if it has none."""
        ...


@dataclass(frozen=True)
class SplitFractions:
    """Fractions of identities in train / val / test; they must sum to 1."""

    train: float = 0.8
    val: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        parts = (self.train, self.val, self.test)
        if any(p < 0 for p in parts) or abs(sum(parts) - 1.0) > 1e-6:
            raise UserInputError(
                f"split fractions must be non-negative and sum to 1, got "
                f"train={self.train} val={self.val} test={self.test}"
            )


def identity_unit(identity: str, *, salt: str = "") -> float:
    """Map an identity to a stable number in [0, 1) (sha256, platform independent)."""
    digest = hashlib.sha256(f"{salt}\x00{identity}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_of(identity: str, fractions: SplitFractions = SplitFractions(), *,
             salt: str = "") -> Split:
    """The split an identity belongs to; the same identity always lands in the same split."""
    u = identity_unit(identity, salt=salt)
    if u < fractions.train:
        return "train"
    if u < fractions.train + fractions.val:
        return "val"
    return "test"


def split_indices(source: FaceSource, split: Split,
                  fractions: SplitFractions = SplitFractions(), *, salt: str = "") -> np.ndarray:
    """Indices of ``source`` whose identity falls in ``split``, ascending, int64."""
    if split not in SPLITS:
        raise UserInputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    cache: dict[str, Split] = {}
    keep = []
    for i in range(len(source)):
        ident = source.identity_of(i)
        s = cache.get(ident)
        if s is None:
            s = cache[ident] = split_of(ident, fractions, salt=salt)
        if s == split:
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def check_landmarks(landmarks: Sequence[Sequence[float]] | np.ndarray, where: str) -> np.ndarray:
    """Validate and convert landmarks to (68, 2) float32, naming ``where`` on error."""
    arr = np.asarray(landmarks, dtype=np.float32)
    if arr.shape != (N_LANDMARKS, 2):
        raise UserInputError(f"{where}: expected 68 (x, y) landmarks, got shape {arr.shape}")
    return arr


def parse_subjects(text: str) -> frozenset[int]:
    """Subject numbers from ``"29-39"``, ``"01-28"`` or ``"1,3,10-12"`` (ranges inclusive)."""
    numbers: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi if sep else lo)
        except ValueError:
            raise UserInputError(f"subjects {text!r}: want numbers and ranges like 29-39 or "
                                 f"1,3,10-12") from None
        if first > last or first < 0:
            raise UserInputError(f"subjects {text!r}: range {part!r} is empty or negative")
        numbers.update(range(first, last + 1))
    return frozenset(numbers)


def numbered_identities(source: FaceSource, subjects: AbstractSet[int]) -> list[str]:
    """The identities of ``source`` whose trailing number is in ``subjects`` (yaleB07 → 7),
    in the source's order."""
    keep = []
    for ident in source.identities:  # type: ignore[attr-defined]
        digits = ident[len(ident.rstrip("0123456789")):]
        if digits and int(digits) in subjects:
            keep.append(ident)
    if not keep:
        raise UserInputError(f"{getattr(source, 'name', source)}: no subject numbered in "
                             f"{min(subjects)}–{max(subjects)}")
    return keep
