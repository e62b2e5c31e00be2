"""CPGAN checkpoints: one dict written atomically; loading checks it really is one.

Keys: ``kind`` ("cpgan"), ``version``, ``train_config`` / ``model_config`` /
``loss_config`` (plain dicts), ``generator``, ``discriminator``, ``opt_g``, ``opt_d``,
``scheduler_g``, ``scheduler_d``, ``step``, ``epoch``, ``rng`` (torch CPU and CUDA
states), ``weights`` (the records of the perceptual nets' weights) and
``last_losses``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cpgan.config import ModelConfig
from cpgan.nets import Generator
from facecore.config import from_mapping
from facecore.errors import UserInputError
from facecore.torchfiles import read_tagged, save_atomic

KIND = "cpgan"
VERSION = 1
HOW_TO_MAKE = "make one with `cpgan train --data SHARDS --out RUN` (it writes RUN/last.pt)"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus kind and version) to ``path`` atomically (tmp file + rename)."""
    return save_atomic({"kind": KIND, "version": VERSION, **payload}, path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict on CPU; one ``UserInputError`` if missing, unreadable, another
    model's file (``kind`` is not "cpgan") or another format version."""
    return read_tagged(path, kind=KIND, version=VERSION, what="CPGAN", how_to_make=HOW_TO_MAKE)


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
