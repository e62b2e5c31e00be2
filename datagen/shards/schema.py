"""Shard schema v1: names, keys and the members of one sample (the contract in docs/shards.md).

Keys are zero-padded and dot-free (``train/000001234``) because webdataset splits
a member name into key and suffix at the first dot of its basename.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

import numpy as np

from facecore.imageio import encode_png

SCHEMA_VERSION = 1
Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")  # identity-disjoint; sources assign them
IMAGE_FIELDS: tuple[str, ...] = ("nilr", "nihr", "uihr", "guide")
MEMBER_SUFFIXES: tuple[str, ...] = tuple(f"{f}.png" for f in IMAGE_FIELDS) + ("json",)
JSON_FIELDS: tuple[str, ...] = ("schema", "identity", "guide_identity", "source",
                                "landmarks_uihr", "landmarks_nilr", "affine", "style_seed",
                                "split", "index")
IMAGE_SIZES: Mapping[str, int] = {"nilr": 16, "nihr": 128, "uihr": 128, "guide": 128}
SHARD_PATTERN = re.compile(r"^(train|val|test)-(\d{6})\.tar$")


def sample_key(split: str, index: int) -> str:
    """The webdataset key of sample ``index`` of ``split``, e.g. ``train/000001234``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    return f"{split}/{index:09d}"


def shard_name(split: str, shard: int) -> str:
    """File name of shard ``shard`` of ``split``, e.g. ``train-000003.tar``."""
    return f"{split}-{shard:06d}.tar"


def dumps_json(obj: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, fixed separators): same content, same bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True)
class PairSample:
    """One training pair as stored in a shard.

    nilr:  (16, 16, 3) uint8 RGB, non-uniformly lit, warped, downsampled input.
    nihr:  (128, 128, 3) uint8 RGB, the relit face before warping.
    uihr:  (128, 128, 3) uint8 RGB, uniformly lit ground truth.
    guide: (128, 128, 3) uint8 RGB, uniformly lit face of another identity.
    meta:  the json member; must hold every key of ``JSON_FIELDS`` (``schema`` is filled in).
    """

    split: str
    index: int
    nilr: np.ndarray
    nihr: np.ndarray
    uihr: np.ndarray
    guide: np.ndarray
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return sample_key(self.split, self.index)

    def members(self) -> list[tuple[str, bytes]]:
        """(member name, bytes) in the fixed schema order: images as PNG, then json."""
        meta = dict(self.meta)
        meta.update(schema=SCHEMA_VERSION, split=self.split, index=self.index)
        missing = [k for k in JSON_FIELDS if k not in meta]
        if missing:
            raise ValueError(f"sample {self.key}: json lacks {', '.join(missing)}")
        out = []
        for name in IMAGE_FIELDS:
            img = getattr(self, name)
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise ValueError(f"sample {self.key}: {name} must be (H, W, 3) uint8, "
                                 f"got {img.shape} {img.dtype}")
            out.append((f"{self.key}.{name}.png", encode_png(img)))
        out.append((f"{self.key}.json", dumps_json(meta)))
        return out
