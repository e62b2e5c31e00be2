"""RaIN checkpoints: written atomically, loaded with a message that says how to make one.

A checkpoint is a dict (nanoGPT style): ``kind``, ``version``, ``config``,
``model`` (all weights, the frozen VGG included, so a relit face never depends
on which VGG file the loading machine has), ``weights`` (the VGG's weights record,
``facecore.perceptual``), ``encoder_pad_mode``, ``optimizer``, ``step``, ``rng`` (torch and numpy
generator states of the training loop), ``phase`` and ``last_losses``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from facecore.config import from_mapping, to_dict
from facecore.errors import UserInputError
from datagen.rain.model import Rain, RainConfig
from facecore.torchfiles import read_tagged, save_atomic

KIND = "datagen.rain"
VERSION = 3  # 2: the VGG's weights record and feature scale; 3: the light layout in z
HOW_TO_MAKE = "make one with `datagen train-rain --phase finetune ... --out PATH`"


def save_checkpoint(path: str | Path, model: Rain, **extra: Any) -> Path:
    """Write ``model`` plus ``extra`` entries (optimizer, step, rng, ...) to ``path`` atomically."""
    payload = {
        "kind": KIND, "version": VERSION, "config": to_dict(model.config),
        "model": model.state_dict(), "weights": model.encoder.weights_record,
        "encoder_pad_mode": model.encoder.pad_mode, **extra,
    }
    return save_atomic(payload, path)


def read_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The raw checkpoint dict; ``UserInputError`` if missing, unreadable or not a RaIN checkpoint."""
    return read_tagged(path, kind=KIND, version=VERSION, what="RaIN", how_to_make=HOW_TO_MAKE,
                       map_location=map_location)


def model_from_checkpoint(ckpt: dict[str, Any], *, where: str) -> Rain:
    """Rebuild a ``Rain`` (CPU, eval mode) from a checkpoint dict."""
    config = from_mapping(RainConfig, ckpt["config"], where=where)
    model = Rain(config, resolve_vgg=False)
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError:
        raise UserInputError(f"{where}: RaIN weights do not fit its config; {HOW_TO_MAKE}") from None
    model.encoder.weights_record = ckpt["weights"]
    model.encoder.pad_mode = ckpt["encoder_pad_mode"]
    return model.eval()


def load_rain(path: str | Path, *, map_location: str | torch.device = "cpu") -> Rain:
    """Load a trained RaIN model (eval mode, on ``map_location``) from a checkpoint file.

    Missing, corrupt or other-model files raise ``UserInputError`` saying how to make one.
    """
    ckpt = read_checkpoint(path, map_location="cpu")
    return model_from_checkpoint(ckpt, where=str(path)).to(map_location)
