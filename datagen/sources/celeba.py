"""``celeba``: CelebA, aligned-and-cropped images with the official annotation files.

Layout, as distributed (Liu et al., ICCV 2015)::

    ROOT/img_align_celeba/000001.jpg ...            178×218 aligned crops
    ROOT/list_landmarks_align_celeba.txt            line 1: image count; line 2: the column
        names ``lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y
        rightmouth_x rightmouth_y``; then ``000001.jpg 69 109 106 113 77 142 73 152 108 154``
    ROOT/identity_CelebA.txt                        ``000001.jpg 2880`` (no header)
    ROOT/list_eval_partition.txt (optional)         ``000001.jpg 0`` (0 train, 1 val, 2 test)

CelebA's landmarks are 5 points, not iBUG-68, so ``FaceRecord.landmarks`` is None
and the 5 points (eyes, nose, mouth corners; (5, 2) pixel x, y) are in
``meta["landmarks5"]``; run ``datagen align`` for 68 points. Illumination is unknown.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

from facecore.errors import UserInputError
from datagen.sources.indexed import ImageIndex, IndexedSource, require

IMAGES = "img_align_celeba"
LANDMARKS = "list_landmarks_align_celeba.txt"
IDENTITIES = "identity_CelebA.txt"
PARTITION = "list_eval_partition.txt"
LAYOUT = f"a CelebA root holds {IMAGES}/, {LANDMARKS}, {IDENTITIES}"
LANDMARK_NAMES = ["lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
                  "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y"]
PARTITIONS = {"train": "0", "val": "1", "test": "2"}


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def read_landmarks5(path: Path) -> dict[str, list[list[float]]]:
    """``list_landmarks_align_celeba.txt`` → {file: [[x, y] × 5]}; checks count and header."""
    lines = _lines(path)
    if len(lines) < 2 or len(lines[0]) != 1 or not lines[0][0].isdigit() \
            or lines[1] != LANDMARK_NAMES:
        raise UserInputError(f"{path}: expected a count line then the header "
                             f"'{' '.join(LANDMARK_NAMES[:2])} ...' (the official CelebA format)")
    rows = lines[2:]
    if int(lines[0][0]) != len(rows):
        raise UserInputError(f"{path}: says {lines[0][0]} images but lists {len(rows)}")
    out = {}
    for n, row in enumerate(rows, start=3):
        if len(row) != 11:
            raise UserInputError(f"{path}:{n}: expected a file name and 10 numbers")
        try:
            xy = [float(v) for v in row[1:]]
        except ValueError:
            raise UserInputError(f"{path}:{n}: landmark values must be numbers") from None
        out[row[0]] = [xy[k:k + 2] for k in range(0, 10, 2)]
    return out


def read_two_columns(path: Path) -> dict[str, str]:
    """``file value`` lines (identity_CelebA.txt, list_eval_partition.txt) → {file: value}."""
    out = {}
    for n, row in enumerate(_lines(path), start=1):
        if len(row) != 2:
            raise UserInputError(f"{path}:{n}: expected '<file> <value>', got {' '.join(row)!r}")
        out[row[0]] = row[1]
    return out


class CelebA(IndexedSource):
    """CelebA aligned images; ``partition`` picks the official train/val/test list."""

    name: ClassVar[str] = "celeba"
    licence: ClassVar[str] = ("CelebA: non-commercial research purposes only (CelebA "
                              "agreement); cite Liu et al., ICCV 2015")

    def __init__(self, *, root: str | Path,
                 partition: Literal["all", "train", "val", "test"] = "all") -> None:
        root = Path(root)
        if partition != "all" and partition not in PARTITIONS:
            raise UserInputError(f"celeba source: partition must be all, train, val or test, got "
                                 f"{partition!r}")
        images = require(root / IMAGES, LAYOUT)
        landmarks5 = read_landmarks5(require(root / LANDMARKS, LAYOUT))
        identities = read_two_columns(require(root / IDENTITIES, LAYOUT))
        files = sorted(landmarks5)
        missing = [f for f in files if f not in identities]
        if missing:
            raise UserInputError(f"{root / IDENTITIES}: no identity for {len(missing)} image(s), "
                                 f"e.g. {missing[0]}")
        if partition != "all":
            split = read_two_columns(require(root / PARTITION,
                                             f"partition={partition!r} needs {PARTITION}"))
            files = [f for f in files if split.get(f) == PARTITIONS[partition]]
        present = set(os.listdir(images))
        absent = [f for f in files if f not in present]
        if absent:
            raise UserInputError(f"{images / absent[0]}: listed in {LANDMARKS} but not found "
                                 f"({len(absent)} missing); {LAYOUT}")
        super().__init__(ImageIndex(
            root=root, files=[f"{IMAGES}/{f}" for f in files],
            identities=[identities[f] for f in files], illuminations=[None] * len(files),
            meta=[{"landmarks5": landmarks5[f]} for f in files]))
