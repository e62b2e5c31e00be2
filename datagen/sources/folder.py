"""``folder``: any directory of face images (the user's own data, or ``datagen align`` output).

Layout (everything but the images is optional)::

    ROOT/<any/sub/folders>/<name>.<png|jpg|pgm|...>   face images, found recursively
    ROOT/landmarks.csv   header ``file,x0,y0,x1,y1,...,x67,y67``: one row per image that has
                         iBUG-68 landmarks, pixel (x, y) in that image; ``file`` is the path
                         relative to ROOT with ``/`` separators
    ROOT/labels.csv      header ``file,identity,illumination``: identity label and
                         ``uniform`` / ``non-uniform`` (or empty: unknown) per image

Without ``labels.csv`` an image's identity is its parent folder's name (the file
stem for images directly in ROOT) and its illumination is unknown. A CSV row naming
a file that is not there, a malformed row, an empty folder or (when read) a corrupt
image raise ``UserInputError``: data is never skipped silently.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import ClassVar

import numpy as np

from facecore.errors import UserInputError
from facecore.imageio import IMAGE_SUFFIXES
from datagen.sources.base import N_LANDMARKS, Illumination, check_landmarks
from datagen.sources.indexed import ImageIndex, IndexedSource, sorted_images

LANDMARKS_CSV = "landmarks.csv"
LABELS_CSV = "labels.csv"
LANDMARK_COLUMNS = ["file"] + [f"{a}{k}" for k in range(N_LANDMARKS) for a in ("x", "y")]
LABEL_COLUMNS = ["file", "identity", "illumination"]
_ILLUMINATIONS = {"uniform": "uniform", "non-uniform": "non-uniform", "": None}


def read_csv_rows(path: Path, columns: list[str]) -> list[dict[str, str]]:
    """Rows of a CSV whose header must be exactly ``columns``."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != columns:
            shown = ",".join(columns[:4]) + (",..." if len(columns) > 4 else "")
            raise UserInputError(f"{path}: header must be {shown} ({len(columns)} columns), got "
                                 f"{','.join(reader.fieldnames or [])[:80] or 'nothing'}")
        rows = list(reader)
    for n, row in enumerate(rows, start=2):
        if None in row or any(v is None for v in row.values()):
            raise UserInputError(f"{path}:{n}: row has {len(columns)} columns expected")
    return rows


def read_landmarks_csv(path: Path) -> dict[str, np.ndarray]:
    """``landmarks.csv`` → {relative file: (68, 2) float32}."""
    out: dict[str, np.ndarray] = {}
    for n, row in enumerate(read_csv_rows(path, LANDMARK_COLUMNS), start=2):
        try:
            values = [float(row[c]) for c in LANDMARK_COLUMNS[1:]]
        except ValueError:
            raise UserInputError(f"{path}:{n}: landmark values must be numbers") from None
        if not np.all(np.isfinite(values)):
            raise UserInputError(f"{path}:{n}: landmark values must be finite")
        out[row["file"]] = check_landmarks(np.reshape(values, (N_LANDMARKS, 2)), f"{path}:{n}")
    return out


def write_landmarks_row(writer: "csv.writer", file: str, landmarks: np.ndarray) -> None:
    """One ``landmarks.csv`` row (6 decimals: sub-pixel, and stable text)."""
    writer.writerow([file] + [f"{v:.6f}" for v in np.asarray(landmarks, np.float64).reshape(-1)])


def read_labels_csv(path: Path) -> dict[str, tuple[str, Illumination | None]]:
    """``labels.csv`` → {relative file: (identity, illumination)}."""
    out: dict[str, tuple[str, Illumination | None]] = {}
    for n, row in enumerate(read_csv_rows(path, LABEL_COLUMNS), start=2):
        if row["illumination"] not in _ILLUMINATIONS:
            raise UserInputError(f"{path}:{n}: illumination must be uniform, non-uniform or "
                                 f"empty, got {row['illumination']!r}")
        if not row["identity"]:
            raise UserInputError(f"{path}:{n}: empty identity for {row['file']!r}")
        out[row["file"]] = (row["identity"], _ILLUMINATIONS[row["illumination"]])
    return out


class FolderFaces(IndexedSource):
    """Face images under ``root``, with optional ``landmarks.csv`` and ``labels.csv``."""

    name: ClassVar[str] = "folder"
    licence: ClassVar[str] = "as licensed by the owner of the folder's images"

    def __init__(self, *, root: str | Path) -> None:
        root = Path(root)
        if not root.is_dir():
            raise UserInputError(f"{root}: no such folder (the folder source wants a directory "
                                 f"of face images)")
        paths = sorted_images(root, suffixes=IMAGE_SUFFIXES)
        if not paths:
            raise UserInputError(f"{root}: no images found (looked for "
                                 f"{', '.join(IMAGE_SUFFIXES)}, recursively)")
        files = [p.relative_to(root).as_posix() for p in paths]
        known = set(files)
        landmarks = read_landmarks_csv(root / LANDMARKS_CSV) \
            if (root / LANDMARKS_CSV).is_file() else {}
        labels = read_labels_csv(root / LABELS_CSV) if (root / LABELS_CSV).is_file() else {}
        for csv_name, table in ((LANDMARKS_CSV, landmarks), (LABELS_CSV, labels)):
            missing = sorted(set(table) - known)
            if missing:
                raise UserInputError(f"{root / csv_name}: lists {len(missing)} file(s) not in the "
                                     f"folder, e.g. {missing[0]!r}")
        identities, illuminations = [], []
        for rel in files:
            default = Path(rel).parent.name if "/" in rel else Path(rel).stem
            ident, light = labels.get(rel, (default, None))
            identities.append(ident)
            illuminations.append(light)
        super().__init__(ImageIndex(root=root, files=files, identities=identities,
                                    illuminations=illuminations, landmarks=landmarks))
