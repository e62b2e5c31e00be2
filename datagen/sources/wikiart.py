"""``wikiart``: WikiArt paintings in the usual ArtGAN layout, as RaIN pretraining *style*.

Layout: ``ROOT/<style>/<artist_title>.jpg`` (e.g. ``Impressionism/claude-monet_water-lilies.jpg``).
Identity is the file (each painting its own "identity"); the style goes to meta.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from facecore.errors import UserInputError
from datagen.sources.indexed import ImageIndex, IndexedSource, require

LAYOUT = "a WikiArt root holds one folder per style with <artist_title>.jpg files"
SUFFIXES = (".jpg", ".jpeg", ".png")


class WikiArtPaintings(IndexedSource):
    """Paintings under ``root/<style>/``."""

    name: ClassVar[str] = "wikiart"
    licence: ClassVar[str] = ("WikiArt images: mostly public domain or fair use for research; "
                              "check each painting's terms before redistribution")

    def __init__(self, *, root: str | Path) -> None:
        root = require(Path(root), LAYOUT)
        styles = sorted(d for d in root.iterdir() if d.is_dir())
        paths = [p for d in styles for p in sorted(d.iterdir())
                 if p.is_file() and p.suffix.lower() in SUFFIXES]
        if not paths:
            raise UserInputError(f"{root}: no <style>/<file>.jpg paintings found; {LAYOUT}")
        files = [p.relative_to(root).as_posix() for p in paths]
        super().__init__(ImageIndex(root=root, files=files, identities=files,
                                    illuminations=[None] * len(files),
                                    meta=[{"style": p.parent.name} for p in paths]))
