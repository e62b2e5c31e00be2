"""Face sources: the embedded synthetic faces, a user folder, and real datasets in their layouts.

``SOURCES`` is the one explicit name → class table; ``open_source`` is how a CLI
or a pipeline turns a name from the user into a source.
"""

from __future__ import annotations

import inspect
from typing import Any

from facecore.errors import UserInputError
from datagen.sources.base import (
    N_LANDMARKS,
    SPLITS,
    FaceRecord,
    FaceSource,
    Illumination,
    Split,
    SplitFractions,
    split_indices,
    split_of,
)

SOURCES: dict[str, type] = {}
# Entries (one per source module), e.g. SOURCES["synthetic"] = SyntheticFaces:
from datagen.sources.synthetic import SyntheticFaces  # noqa: E402

SOURCES["synthetic"] = SyntheticFaces
from datagen.sources.celeba import CelebA  # noqa: E402
from datagen.sources.coco import CocoImages  # noqa: E402
from datagen.sources.extended_yale_b import ExtendedYaleB  # noqa: E402
from datagen.sources.folder import FolderFaces  # noqa: E402
from datagen.sources.multipie import MultiPie  # noqa: E402
from datagen.sources.wikiart import WikiArtPaintings  # noqa: E402

SOURCES["folder"] = FolderFaces
SOURCES["coco"] = CocoImages
SOURCES["wikiart"] = WikiArtPaintings
SOURCES["celeba"] = CelebA
SOURCES["multipie"] = MultiPie
SOURCES["extended_yale_b"] = ExtendedYaleB


def open_source(name: str, **options: Any) -> FaceSource:
    """Instantiate source ``name`` with keyword ``options`` (``root=...`` for datasets on disk).

    Unknown names and options raise ``UserInputError`` listing what is accepted.
    """
    cls = SOURCES.get(name)
    if cls is None:
        raise UserInputError(
            f"unknown source {name!r}; choose one of {', '.join(sorted(SOURCES))}"
        )
    params = inspect.signature(cls.__init__).parameters
    accepted = {p for p in params if p != "self"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise UserInputError(
            f"source {name!r} does not take option(s) {', '.join(unknown)}; "
            f"it takes {', '.join(sorted(accepted)) or 'no options'}"
        )
    return cls(**options)


__all__ = [
    "N_LANDMARKS", "SPLITS", "SOURCES", "FaceRecord", "FaceSource", "Illumination", "Split",
    "SplitFractions", "open_source", "split_indices", "split_of",
]
