"""The 3D face template of geometric relighting: a mean depth map in canonical coordinates.

The synthetic source's faces are height fields (head dome plus nose, cheek, lip, chin,
brow and eye reliefs) placed by the same canonical framing as ``datagen align``'s crops.
Their average over ``TEMPLATE_IDENTITIES`` identities (seed 0), each looking straight
into the camera with a neutral expression, is a mean face depth; the average of their
analytic iBUG-68 landmarks says where its features are. Computed on first use
(deterministic: exactly-rounded float32 sums in a fixed order, then cached).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from datagen.sources.synthetic.landmarks import landmarks_from_layout
from datagen.sources.synthetic.layout import make_layout
from datagen.sources.synthetic.params import neutral_nuisance, sample_identity
from datagen.sources.synthetic.render import face_height

TEMPLATE_SIZE = 128
TEMPLATE_IDENTITIES = 64
TEMPLATE_SEED = 0
CHUNK = 16


@dataclass(frozen=True)
class FaceTemplate:
    """A mean face in a ``size``² canonical crop.

    depth:     (size, size) float32 height towards the viewer, in units of half the crop
               (the crop spans [-1, 1]); 0 off the head.
    cover:     (size, size) float32 share of the averaged heads covering each pixel, [0, 1].
    landmarks: (68, 2) float64 mean iBUG-68 pixel (x, y), pixel centres at integers.
    """

    depth: torch.Tensor
    cover: torch.Tensor
    landmarks: np.ndarray

    @property
    def size(self) -> int:
        return int(self.depth.shape[-1])


@lru_cache(maxsize=4)
def face_template(size: int = TEMPLATE_SIZE) -> FaceTemplate:
    """The mean face of ``TEMPLATE_IDENTITIES`` synthetic identities at ``size``² (cached)."""
    depth = torch.zeros(size, size)
    cover = torch.zeros(size, size)
    landmarks = np.zeros((68, 2))
    for start in range(0, TEMPLATE_IDENTITIES, CHUNK):
        ids = range(start, min(start + CHUNK, TEMPLATE_IDENTITIES))
        layout = make_layout([sample_identity(TEMPLATE_SEED, i) for i in ids],
                             [neutral_nuisance() for _ in ids])
        head, z = face_height(layout, size)
        for b in range(len(ids)):  # one face at a time: a fixed order of float32 sums
            depth += z[b]
            cover += head[b]
        landmarks += landmarks_from_layout(layout, size).astype(np.float64).sum(0)
    n = float(TEMPLATE_IDENTITIES)
    return FaceTemplate(depth / n, cover / n, landmarks / n)
