"""``coco``: COCO 2017 photos in the official layout, as RaIN pretraining *content*.

Layout: ``ROOT/train2017/<12-digit image id>.jpg`` (e.g. ``000000000009.jpg``), as
unpacked from ``train2017.zip``; ``split="val2017"`` reads ``ROOT/val2017/``. These
are not faces: identity is the image id, no landmarks, no illumination label.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from facecore.errors import UserInputError
from datagen.sources.indexed import ImageIndex, IndexedSource, require

LAYOUT = "a COCO root holds train2017/ (and/or val2017/) with <image id>.jpg files"


class CocoImages(IndexedSource):
    """COCO ``train2017`` (or ``val2017``) images under ``root``."""

    name: ClassVar[str] = "coco"
    licence: ClassVar[str] = ("COCO images: Flickr terms of use, per-image Creative Commons "
                              "licences (see the COCO annotations); annotations CC BY 4.0")

    def __init__(self, *, root: str | Path,
                 split: Literal["train2017", "val2017"] = "train2017") -> None:
        if split not in ("train2017", "val2017"):
            raise UserInputError(f"coco source: split must be train2017 or val2017, got {split!r}")
        folder = require(Path(root) / split, LAYOUT)
        paths = sorted(folder.glob("*.jpg"))
        if not paths:
            raise UserInputError(f"{folder}: no .jpg images; {LAYOUT}")
        files = [p.relative_to(root).as_posix() for p in paths]
        super().__init__(ImageIndex(
            root=Path(root), files=files, identities=[p.stem for p in paths],
            illuminations=[None] * len(paths),
            meta=[{"image_id": int(p.stem) if p.stem.isdigit() else p.stem} for p in paths]))


__all__ = ["CocoImages"]
