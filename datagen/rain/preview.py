"""Stylize grids: each content face followed by several random relightings of it."""

from __future__ import annotations

import numpy as np
import torch

from facecore.errors import UserInputError
from facecore.grid import make_grid
from datagen.rain.data import square_resize, to_tensor
from datagen.rain.model import Rain
from datagen.rain.relight import relight
from datagen.sources.base import FaceSource, Split, split_indices


def preview_faces(source: FaceSource, *, n: int, size: int, split: Split = "test") -> torch.Tensor:
    """The first ``n`` faces of ``split`` (one per identity), (n, 3, size, size) in [0, 1]."""
    picks, seen = [], set()
    for i in split_indices(source, split):
        ident = source.identity_of(int(i))
        if ident not in seen:
            seen.add(ident)
            picks.append(int(i))
        if len(picks) == n:
            break
    if not picks:
        raise UserInputError(f"source {getattr(source, 'name', '?')!r} has no faces in the {split} split")
    return to_tensor([square_resize(source[i].image, size) for i in picks])


def stylize_grid(model: Rain, faces: torch.Tensor, *, samples: int,
                 generator: torch.Generator, cell: int = 96) -> np.ndarray:
    """Grid image (uint8 RGB): row r = face r (first column) then ``samples`` relightings,
    each with its own z drawn from ``generator``."""
    b = faces.shape[0]
    relit = relight(model, faces.repeat_interleave(samples, 0), generator=generator)
    relit = relit.view(b, samples, *faces.shape[1:])  # (B, samples, 3, H, W)

    def u8(x: torch.Tensor) -> np.ndarray:
        return (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)

    rows = [[u8(faces[r])] + [u8(relit[r, k]) for k in range(samples)] for r in range(b)]
    labels = [["input"] + [f"z{k + 1}" for k in range(samples)] for _ in range(b)]
    return make_grid(rows, cell=cell, labels=labels)
