"""CPGAN checkpoints: one dict written atomically; loading checks it really is one.

Keys: ``kind`` ("cpgan"), ``version``, ``train_config`` / ``model_config`` /
``loss_config`` (plain dicts), ``generator``, ``discriminator``, ``opt_g``, ``opt_d``,
``scheduler_g``, ``scheduler_d``, ``step``, ``epoch``, ``rng`` (torch CPU and CUDA
states), ``weights_state`` (where the perceptual nets' weights came from) and
``last_losses``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from cpgan.config import ModelConfig
from cpgan.nets import Generator
from datagen.config import from_mapping
from datagen.errors import UserInputError

KIND = "cpgan"
VERSION = 1
HOW_TO_MAKE = "make one with `cpgan train --data SHARDS --out RUN` (it writes RUN/last.pt)"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus kind and version) to ``path`` atomically (tmp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"kind": KIND, "version": VERSION, **payload}, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict on CPU; one ``UserInputError`` if missing, unreadable, another
    model's file (``kind`` is not "cpgan") or another format version."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such CPGAN checkpoint; {HOW_TO_MAKE}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as err:
        raise UserInputError(f"{path}: not a readable CPGAN checkpoint ({err.__class__.__name__}); "
                             f"{HOW_TO_MAKE}") from None
    if not isinstance(ckpt, dict) or ckpt.get("kind") != KIND:
        kind = ckpt.get("kind") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise UserInputError(f"{path}: not a CPGAN checkpoint (kind {kind!r}); {HOW_TO_MAKE}")
    if ckpt.get("version") != VERSION:
        raise UserInputError(f"{path}: CPGAN checkpoint version {ckpt.get('version')} is not "
                             f"supported (this is version {VERSION}); {HOW_TO_MAKE}")
    return ckpt


def load_generator(path: str | Path, *, device: str | torch.device = "cpu"
                   ) -> tuple[Generator, dict[str, Any]]:
    """The trained generator (eval mode, on ``device``) and the checkpoint dict it came from."""
    ckpt = read_checkpoint(path)
    config = from_mapping(ModelConfig, ckpt["model_config"], where=str(path))
    generator = Generator(config)
    try:
        generator.load_state_dict(ckpt["generator"])
    except RuntimeError:
        raise UserInputError(f"{path}: generator weights do not fit its model config; "
                             f"{HOW_TO_MAKE}") from None
    return generator.to(device).eval(), ckpt
