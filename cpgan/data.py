"""Batches of CPGAN training/evaluation pairs streamed from ``datagen`` shards.

Images come out in the generator's range [-1, 1]; landmarks as a float tensor.

Determinism (for exact ``--resume``): ``webdataset.WebDataset(resampled=True)``
(which ``open_pairs`` uses) draws shards from an unseeded RNG, so the training
stream is built here from the same parts (``shard_urls``, ``decode_sample``) with a
*deterministic* ``ResampledShards`` whose seed is derived from (seed, epoch, rank,
worker). Epoch e of a run is therefore always the same batch sequence, and a
resumed run re-creates the current epoch's stream and skips the batches it had
already consumed.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset

from facecore.errors import UserInputError
from datagen.shards import decode_sample, open_pairs, shard_urls, verify

Batch = dict[str, Any]
N_LANDMARKS = 68
IMAGE_KEYS = ("nilr", "nihr", "uihr", "guide")
# iBUG-68: the index of each landmark's mirror image (jaw, brows, nose, eyes, mouth)
MIRROR_68 = (list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30]
             + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
             + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]
             + [64, 63, 62, 61, 60, 67, 66, 65])


def check_data(data_dir: str | Path, split: str) -> list[str]:
    """Fast check (manifest, sizes; no decoding) of a shard directory; its ``split`` shard paths.

    Raises one ``UserInputError`` naming the first problem and what to do.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise UserInputError(f"{folder}: no such shard directory; make one with "
                             f"`datagen synth --out {folder}`")
    report = verify(folder, deep=False)
    if not report.ok:
        name, why = next(iter(report.problems.items()))
        if name == "manifest.json":
            raise UserInputError(why)
        raise UserInputError(f"{folder}: shard {name} fails verification ({why}); re-make it "
                             "with `datagen synth` or run `datagen verify` for details")
    return shard_urls(folder, split)


def collate(samples: list[dict[str, Any]]) -> Batch:
    """Samples from ``open_pairs`` → a batch: images (B, 3, H, W) in [-1, 1], ``landmarks``
    (B, 68, 2) float32 in 128-px coordinates (NaN rows for samples without landmarks),
    ``keys`` and ``identity`` (lists of str)."""
    batch: Batch = {name: torch.stack([s[name] for s in samples]).mul_(2).sub_(1)
                    for name in IMAGE_KEYS}
    marks = np.full((len(samples), N_LANDMARKS, 2), np.nan, np.float32)
    for i, s in enumerate(samples):
        if s["json"].get("landmarks_uihr") is not None:
            marks[i] = np.asarray(s["json"]["landmarks_uihr"], np.float32)
    batch["landmarks"] = torch.from_numpy(marks)
    batch["keys"] = [s["key"] for s in samples]
    batch["identity"] = [str(s["json"].get("identity")) for s in samples]
    return batch


def mirror_sample(sample: dict[str, Any]) -> dict[str, Any]:
    """A decoded sample mirrored left-right: every image, and the UI-HR landmarks (x → W−1−x,
    pixel centres at integers, renumbered so the left eye is still landmark 36). A mirrored
    face is a valid pair for training: same light model, same jitter, mirrored."""
    out = {**sample, **{k: sample[k].flip(-1) for k in IMAGE_KEYS if k in sample}}
    marks = sample["json"].get("landmarks_uihr")
    if marks is not None:
        width = sample["uihr"].shape[-1]
        out["json"] = {**sample["json"], "landmarks_uihr": [
            [width - 1 - marks[j][0], marks[j][1]] for j in MIRROR_68]}
    return out


def _collate_list(samples: list[dict[str, Any]]) -> Batch:
    return collate(list(samples))


def epoch_seed(seed: int, epoch: int) -> int:
    """The stream seed of one epoch: a pure function of (seed, epoch)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


class _EpochStream(IterableDataset):
    """One epoch of training batches for this rank and DataLoader worker (picklable)."""

    def __init__(self, urls: list[str], *, batch_size: int, batches_per_worker: int,
                 shuffle: int, seed: int, rank: int, hflip: bool = False) -> None:
        super().__init__()
        self.urls, self.batch_size, self.batches = urls, batch_size, batches_per_worker
        self.shuffle, self.seed, self.rank, self.hflip = shuffle, seed, rank, hflip

    def __iter__(self) -> Iterator[Batch]:
        info = torch.utils.data.get_worker_info()
        worker = 0 if info is None else info.id
        seed = int(np.random.SeedSequence([self.seed, self.rank, worker]).generate_state(1)[0])
        stages: list[Any] = [
            wds.ResampledShards(self.urls, seed=seed, deterministic=True,
                                worker_seed=lambda: 0),
            wds.tarfile_to_samples(),
        ]
        if self.shuffle:
            stages.append(wds.shuffle(self.shuffle, initial=self.shuffle, seed=seed))
        stages.append(wds.map(decode_sample))
        if self.hflip:  # half the samples mirrored, drawn from the stream's own seed
            coin = random.Random(seed)
            stages.append(wds.map(lambda s: mirror_sample(s) if coin.random() < 0.5 else s))
        stages.append(wds.batched(self.batch_size, collation_fn=_collate_list, partial=False))
        pipeline = wds.DataPipeline(*stages)
        for i, batch in enumerate(pipeline):
            if i >= self.batches:
                return
            yield batch


def train_loader(data_dir: str | Path, *, batch_size: int, num_workers: int, seed: int,
                 batches: int, device: str | torch.device = "cpu", epoch: int = 0,
                 shuffle: int = 256, rank: int = 0, split: str = "train",
                 hflip: bool = False) -> DataLoader:
    """The ``batches`` batches of one training epoch on this rank (the trainer passes
    ``TrainConfig.steps_per_epoch``); ``batches`` is a multiple of ``max(1, num_workers)``,
    since each DataLoader worker yields an equal share.

    Each rank and worker reads its own resampled shard stream seeded from
    (seed, epoch, rank, worker), so epochs differ and re-running one repeats it exactly;
    ``hflip`` mirrors a seeded half of its samples (``mirror_sample``).
    """
    workers = max(1, num_workers)
    if batches < 1 or batches % workers:
        raise ValueError(f"batches per epoch must be a positive multiple of the {workers} "
                         f"worker(s), got {batches}")
    urls = check_data(data_dir, split)
    stream = _EpochStream(urls, batch_size=batch_size, batches_per_worker=batches // workers,
                          shuffle=shuffle, seed=epoch_seed(seed, epoch), rank=rank, hflip=hflip)
    cuda = torch.device(device).type == "cuda"
    return DataLoader(stream, batch_size=None, num_workers=num_workers, pin_memory=cuda,
                      persistent_workers=False)


def eval_loader(data_dir: str | Path, *, split: str = "test", batch_size: int = 16,
                max_samples: int | None = None) -> Iterator[Batch]:
    """Every sample of ``split`` once, in shard order (deterministic), batched as ``collate``."""
    check_data(data_dir, split)
    pairs = open_pairs(data_dir, split, shuffle=0, resampled=False, split_by_node=False,
                       split_by_worker=False)
    buffer: list[dict[str, Any]] = []
    seen = 0
    for sample in pairs:
        if max_samples is not None and seen >= max_samples:
            break
        buffer.append(sample)
        seen += 1
        if len(buffer) == batch_size:
            yield collate(buffer)
            buffer = []
    if buffer:
        yield collate(buffer)
