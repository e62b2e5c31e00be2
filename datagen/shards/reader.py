"""Reading shards back: a ``webdataset`` pipeline that yields decoded tensors and the json.

Only top-level functions go into the pipeline, so it pickles into DataLoader
worker processes; node and worker splitting are webdataset's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import webdataset as wds

from facecore.errors import UserInputError
from facecore.imageio import decode_png
from datagen.shards.manifest import load_manifest
from datagen.shards.schema import IMAGE_FIELDS, SCHEMA_VERSION


def shard_urls(source: str | Path | Sequence[str], split: str | None = "train") -> list[str]:
    """Shard paths of ``split`` (all splits if None) in a shard directory, or the given list."""
    if isinstance(source, (list, tuple)):
        if not source:
            raise UserInputError("no shard paths given")
        return [str(s) for s in source]
    folder = Path(source)
    if not folder.is_dir():
        raise UserInputError(f"{folder}: no such shard directory")
    manifest = load_manifest(folder)
    names = sorted(r.name for r in manifest.shards.values() if split is None or r.split == split)
    if not names:
        raise UserInputError(f"{folder}: no finished shards for split {split!r}; make them with "
                             f"`datagen synth --split {split or 'all'} --out {folder}`")
    return [str(folder / n) for n in names]


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


def decode_sample(sample: dict[str, Any]) -> dict[str, Any]:
    """A raw webdataset sample (bytes per member) → {"key", image tensors, "json"}."""
    key = sample["__key__"]
    missing = [f for f in (*[f"{n}.png" for n in IMAGE_FIELDS], "json") if f not in sample]
    if missing:
        raise UserInputError(f"{sample.get('__url__', 'shard')}: sample {key} lacks "
                             f"{', '.join(missing)}; run `datagen verify` on the directory")
    meta = json.loads(sample["json"])
    if meta.get("schema") != SCHEMA_VERSION:
        raise UserInputError(f"sample {key}: schema {meta.get('schema')} is not "
                             f"{SCHEMA_VERSION}")
    out: dict[str, Any] = {"key": key, "json": meta}
    for name in IMAGE_FIELDS:
        out[name] = to_tensor(decode_png(sample[f"{name}.png"], where=f"{key}.{name}.png"))
    return out


def open_pairs(source: str | Path | Sequence[str], split: str | None = "train", *,
               shuffle: int = 0, resampled: bool = False, seed: int = 0,
               split_by_node: bool = False, split_by_worker: bool = True) -> wds.WebDataset:
    """Stream the pairs of ``split`` from a shard directory (or an explicit list of shard URLs).

    Yields dicts: ``key`` ("train/000000123"), ``nilr`` (3, 16, 16), ``nihr``, ``uihr``,
    ``guide`` (3, 128, 128) float32 in [0, 1], and ``json`` (the sample's metadata).

    shuffle:         sample shuffle buffer (0 = stream order); shards are shuffled too.
    resampled:       draw shards with replacement forever (use ``.with_epoch(n)`` to bound).
    split_by_node:   give each torch.distributed rank its own shards (DDP training).
    split_by_worker: give each DataLoader worker its own shards.
    """
    urls = shard_urls(source, split)
    dataset = wds.WebDataset(
        urls,
        resampled=resampled,
        shardshuffle=(len(urls) if shuffle and not resampled else False),
        nodesplitter=wds.split_by_node if split_by_node else wds.single_node_only,
        workersplitter=wds.split_by_worker if split_by_worker else None,
        empty_check=False,
        seed=seed,
    )
    if shuffle:
        dataset = dataset.shuffle(shuffle, seed=seed)
    return dataset.map(decode_sample)
