"""Torch files (checkpoints, weight files): written atomically, read with errors a person can act on,
and the sha256 that records which file a run used.

Shared by RaIN and CPGAN checkpoints and the perceptual weight loader, so a
corrupt or foreign file gets the same one-line treatment everywhere.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from facecore.errors import UserInputError

# What torch.load raises on a truncated, corrupt or non-torch file.
LOAD_ERRORS = (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError)


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary name, then rename: a crash never leaves a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def load_file(path: Path, *, what: str, hint: str = "",
              map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)``; ``UserInputError`` naming ``what`` if unreadable."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except LOAD_ERRORS as err:
        raise UserInputError(f"{path}: not a readable {what} ({err.__class__.__name__})"
                             f"{'; ' + hint if hint else ''}") from None


def read_tagged(path: str | Path, *, kind: str, version: int, what: str, how_to_make: str,
                map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint dict whose ``kind`` and ``version`` must match; one ``UserInputError``
    (ending with ``how_to_make``) if it is missing, unreadable, another model's or version's."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such {what} checkpoint; {how_to_make}")
    ckpt = load_file(path, what=f"{what} checkpoint", hint=how_to_make,
                     map_location=map_location)
    if not isinstance(ckpt, dict) or ckpt.get("kind") != kind:
        found = ckpt.get("kind") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise UserInputError(f"{path}: not a {what} checkpoint (kind {found!r}); {how_to_make}")
    if ckpt.get("version") != version:
        raise UserInputError(f"{path}: {what} checkpoint version {ckpt.get('version')} is not "
                             f"supported (this is version {version}); {how_to_make}")
    return ckpt


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes (shards, checkpoints, weight files)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
