"""How far a regenerated sample is from the stored one, in uint8 levels.

Bit identity holds on the machine (torch version, device) that made a shard; on
another CPU or GPU, float kernels may round a few values to the neighbouring
level. ``SampleDiff`` tells the two cases apart: "another machine" is ≤ 1 level
on a small fraction of pixels, "another config" is nearly every pixel.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from facecore.errors import UserInputError
from facecore.imageio import decode_png
from datagen.shards.schema import IMAGE_FIELDS


@dataclass(frozen=True)
class SampleDiff:
    """Stored vs regenerated members of one sample.

    max_delta: the largest |Δ| in uint8 levels over the four images (0: same pixels).
    differing: the fraction of pixels (over the four images) with any channel differing.
    json_same: whether the json member is byte-identical.
    """

    key: str
    identical: bool
    max_delta: int
    differing: float
    json_same: bool

    def describe(self) -> str:
        if self.identical:
            return f"{self.key}: identical"
        meta = "" if self.json_same else "; json differs"
        return (f"{self.key}: DIFFERS — max |Δ| {self.max_delta} uint8 levels, "
                f"{self.differing:.4%} of pixels{meta}")


def sample_members(shard: Path, key: str) -> dict[str, bytes]:
    """The members of sample ``key`` in ``shard`` (suffix → bytes), e.g. ``{"nilr.png": …}``."""
    try:
        with tarfile.open(shard, "r:") as tar:
            return {m.name[len(key) + 1:]: tar.extractfile(m).read()  # type: ignore[union-attr]
                    for m in tar.getmembers() if m.name.startswith(key + ".")}
    except (tarfile.TarError, OSError) as err:
        raise UserInputError(f"{shard}: not a readable shard ({err}); run `datagen verify` "
                             f"on its directory") from None


def compare_sample(key: str, stored: Mapping[str, bytes], made: Mapping[str, bytes]) -> SampleDiff:
    """Compare two samples' members (suffix → bytes) image by image."""
    if stored == made:
        return SampleDiff(key, True, 0, 0.0, True)
    max_delta, differing, pixels = 0, 0, 0
    for name in IMAGE_FIELDS:
        suffix = f"{name}.png"
        if suffix not in stored or suffix not in made:
            raise UserInputError(f"{key}: member {suffix} missing from "
                                 f"{'the shard' if suffix not in stored else 'the regenerated'}")
        a = decode_png(stored[suffix], where=f"{key}.{suffix}").astype(np.int16)
        b = decode_png(made[suffix], where=f"{key}.{suffix} (regenerated)").astype(np.int16)
        if a.shape != b.shape:
            return SampleDiff(key, False, 255, 1.0, stored.get("json") == made.get("json"))
        delta = np.abs(a - b)
        max_delta = max(max_delta, int(delta.max()))
        differing += int((delta.max(axis=-1) > 0).sum())
        pixels += delta.shape[0] * delta.shape[1]
    return SampleDiff(key, False, max_delta, differing / pixels,
                      stored.get("json") == made.get("json"))


def compare_with_shard(key: str, members: Iterable[tuple[str, bytes]], shard: Path) -> SampleDiff:
    """Compare a regenerated sample's ``(member name, bytes)`` list (``PairSample.members``)
    with the sample of the same key stored in ``shard``."""
    made = {name[len(key) + 1:]: data for name, data in members}
    return compare_sample(key, sample_members(shard, key), made)
