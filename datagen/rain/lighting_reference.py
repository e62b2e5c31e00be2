"""Lit faces to hold RaIN's light against: the lighting statistics of (NI, UI) pairs of one face.

- ``synthetic``: the synthetic source's physical renders, each face under a random
  non-uniform light against the same face under uniform light (held-out identities);
- ``extended_yale_b:ROOT``: real photos, each lit photo of a subject against the same
  subject's frontal ``A+000E+00`` photo (optionally only some subjects, e.g. 29–39);
- ``multipie:ROOT``: not supported yet (its frames are not face crops; see ``open_reference``).

Every reference is measured with ``datagen.rain.lighting`` at its ``MEASURE_SIZE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AbstractSet, Any

import numpy as np
import torch

from facecore.errors import UserInputError
from datagen.rain.data import square_resize, to_tensor
from datagen.rain.lighting import MEASURE_SIZE, STATISTICS, lighting_statistics
from datagen.sources.base import Split, numbered_identities, parse_subjects, split_of

Tensor = torch.Tensor
SYNTHETIC_IDENTITIES = 2000  # as the RaIN streams' synthetic source
CHUNK = 64


@dataclass(frozen=True)
class LightingReference:
    """The lighting statistics of a set of (NI, UI) pairs.

    name:       what was measured, e.g. ``synthetic physical`` or ``extended_yale_b 29-39``.
    stats:      per statistic of ``STATISTICS``, (N,) float64 values, one per pair.
    source:     a real reference's source (its uniform photos are what RaIN relights to
                be held against it), else None.
    identities: the identities of ``source`` measured.
    """

    name: str
    stats: dict[str, Tensor]
    source: Any = None
    identities: tuple[str, ...] = ()


def _concat(parts: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    return {k: torch.cat([p[k] for p in parts]) for k in STATISTICS}


def synthetic_reference(*, n: int, seed: int = 0, size: int = 128,
                        split: Split = "test") -> LightingReference:
    """The synthetic source's physical relighting: ``n`` faces of ``split`` identities (of the
    2000 the RaIN streams use), rendered at ``size`` under random non-uniform light
    (light seed = pair number) and under uniform light."""
    from datagen.sources.synthetic import SyntheticFaces  # local: the source is optional here

    if n < 1:
        raise UserInputError(f"synthetic reference: n must be ≥ 1, got {n}")
    source = SyntheticFaces(size=size, n_identities=SYNTHETIC_IDENTITIES, seed=seed)
    ids = np.array([i for i in range(SYNTHETIC_IDENTITIES)
                    if split_of(f"synthetic-{i:06d}") == split], np.int64)
    k = np.arange(n)
    faces = ids[k % ids.size]
    variants = (k // ids.size) % source.images_per_identity
    parts = []
    for start in range(0, n, CHUNK):
        sl = slice(start, start + CHUNK)
        ni = source.render(faces[sl], variants[sl], lighting="non-uniform", light_seeds=k[sl])
        ui = source.render(faces[sl], variants[sl], lighting="uniform")
        parts.append(lighting_statistics(to_tensor(ni.images), to_tensor(ui.images)))
    return LightingReference("synthetic physical", _concat(parts))


def real_reference(source, *, subjects: AbstractSet[int] | None = None,
                   label: str | None = None) -> LightingReference:
    """A source with lighting labels (``LightingPairs``, e.g. Extended Yale B): every
    non-uniformly lit image of each identity against that identity's uniform image.

    subjects: keep identities whose trailing number is in the set (``yaleB29`` → 29);
              None keeps all. Identities without a uniform image are skipped.
    """
    chosen = source.identities if subjects is None else numbered_identities(source, subjects)
    keep = [ident for ident in chosen
            if source.indices_of(ident, "uniform") and source.indices_of(ident, "non-uniform")]
    if not keep:
        raise UserInputError(f"{source.name} reference: no subject with both a uniform and a "
                             f"non-uniform image among those chosen")

    def load(i: int) -> np.ndarray:
        return square_resize(source[i].image, MEASURE_SIZE)

    parts = []
    for ident in keep:
        ui = to_tensor([load(source.uniform_index_of(ident))])
        lit = source.indices_of(ident, "non-uniform")
        for start in range(0, len(lit), CHUNK):
            ni = to_tensor([load(i) for i in lit[start:start + CHUNK]])
            parts.append(lighting_statistics(ni, ui.expand(ni.shape[0], -1, -1, -1)))
    name = f"{source.name} {label}" if label else source.name
    return LightingReference(name, _concat(parts), source, tuple(keep))


def shard_lighting(directory, split: str = "train", *, n: int | None = None) -> dict[str, Tensor]:
    """The lighting statistics of a shard directory's pairs: each sample's NI-HR (the relit
    face before its warp) over its UI-HR, in stream order — the light the shards hold, as
    CPGAN trains on it. ``n``: the first ``n`` samples of ``split`` (None: all)."""
    from itertools import islice

    from datagen.shards import open_pairs  # local: the shard reader pulls in webdataset

    parts, ni, ui = [], [], []
    for sample in islice(open_pairs(directory, split, split_by_worker=False), n):
        ni.append(sample["nihr"])
        ui.append(sample["uihr"])
        if len(ni) == CHUNK:
            parts.append(lighting_statistics(torch.stack(ni), torch.stack(ui)))
            ni, ui = [], []
    if ni:
        parts.append(lighting_statistics(torch.stack(ni), torch.stack(ui)))
    if not parts:
        raise UserInputError(f"{directory}: split {split!r} has no samples to measure")
    return _concat(parts)


def open_reference(spec: str, *, subjects: str | None = None, n: int = 512,
                   seed: int = 0) -> LightingReference:
    """The reference a user names: ``synthetic`` (``n`` physical renders, ``seed``),
    ``extended_yale_b:ROOT`` (``subjects`` e.g. ``"29-39"``, default all) or
    ``multipie:ROOT`` (not supported yet: a one-line error)."""
    from datagen.sources import open_source  # local: the source table is filled by its modules

    name, _, root = spec.partition(":")
    if name == "synthetic":
        if subjects is not None:
            raise UserInputError("--subjects chooses real subjects; the synthetic reference "
                                 "takes none")
        return synthetic_reference(n=n, seed=seed)
    if name == "multipie":
        raise UserInputError("multipie reference: not supported yet (Multi-PIE frames are "
                             "640×480 scenes, not face crops, and the lighting statistics "
                             "measure inside a face-centred mask); use extended_yale_b:ROOT")
    if name != "extended_yale_b":
        raise UserInputError(f"unknown lighting reference {spec!r}; choose synthetic, "
                             f"extended_yale_b:ROOT or multipie:ROOT")
    if not root:
        raise UserInputError(f"{name} reference: give its folder, {name}:ROOT")
    chosen = parse_subjects(subjects) if subjects else None
    return real_reference(open_source(name, root=root), subjects=chosen,
                          label=f"subjects {subjects}" if subjects else "all subjects")
