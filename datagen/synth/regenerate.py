"""Re-make stored samples from a shard directory's own manifest and measure the difference.

This is how the determinism contract is checked after the fact: on the machine
that made the shards every sample comes back byte-identical; elsewhere the
``SampleDiff`` says how far (see ``datagen.shards.compare``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from facecore.config import from_mapping
from facecore.errors import UserInputError
from facecore.torchfiles import sha256_file
from datagen.shards import load_manifest, sample_key
from datagen.shards.compare import SampleDiff, compare_with_shard
from datagen.synth.config import SynthConfig
from datagen.synth.synthesizer import Synthesizer


def stored_config(header: Mapping[str, Any], folder: Path, rain: Path | None) -> SynthConfig:
    """The SynthConfig of a manifest ``header`` (of ``folder``); ``rain`` is its RaIN
    checkpoint, checked against the sha256 the manifest recorded."""
    values = dict(header.get("config", {}))
    want = header.get("models", {}).get("rain_sha256")
    if values.get("relight") == "rain":
        if rain is None or not Path(rain).is_file():
            raise UserInputError(f"{folder}: made with RaIN; give its checkpoint with --rain "
                                 f"PATH (not found: {rain})")
        if sha256_file(Path(rain)) != want:
            raise UserInputError(f"{rain}: not the RaIN checkpoint {folder} was made with "
                                 f"(sha256 differs from the manifest's {str(want)[:12]}…)")
        values["rain_checkpoint"] = str(rain)
    return from_mapping(SynthConfig, values, where=f"{folder}/manifest.json")


def regenerate(folder: str | Path, k: int, *, rain: Path | None = None,
               device: torch.device | str = "cpu", seed: int = 0) -> list[SampleDiff]:
    """Re-make ``k`` samples drawn at random (``seed``) from the directory's shards and
    compare each with the stored one."""
    folder = Path(folder)
    if k < 1:
        raise UserInputError(f"--regenerate must be ≥ 1, got {k}")
    manifest = load_manifest(folder)
    config = stored_config(manifest.header, folder, rain)
    indices = [(rec.name, rec.split, rec.first_index + j)
               for rec in sorted(manifest.shards.values(), key=lambda r: r.name)
               for j in range(rec.count)]
    if not indices:
        raise UserInputError(f"{folder}: the manifest lists no finished shards")
    picks = np.random.default_rng(seed).choice(len(indices), size=min(k, len(indices)),
                                               replace=False)
    syn = Synthesizer(config, device=device)
    diffs = []
    for i in sorted(int(p) for p in picks):
        name, split, index = indices[i]
        key = sample_key(split, index)
        diffs.append(compare_with_shard(key, syn.sample(split, index).members(), folder / name))
    return diffs
