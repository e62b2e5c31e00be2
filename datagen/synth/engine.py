"""The synthesis run: shards as units of work, distributed by rank, resumable, verified.

Shard k of a split holds indices [k·S, (k+1)·S) and belongs to rank k mod W.
Work is always done in full batches of ``batch_size`` starting at a shard start
(extra samples discarded), so each sample's bytes are a pure function of
(config, split, index). Each batch goes through three hands:

  worker processes   plan the batch and load what it names (synthetic face parameters,
                     image decoding): ``BatchLoader``, ahead of the device;
  the main process   renders its synthetic faces, relights, warps and downsamples it on
                     the device (``Synthesizer.make``);
  worker processes   PNG-encode it into a piece of its shard's tar
                     (``shard_fragment``); the main process joins a finished shard's
                     pieces through ``datagen.shards.ShardWriter`` (atomic file, then its
                     record): on a small machine every host step the model's process
                     does not do is time the model gets.

When the synth device is the CPU, the workers render the synthetic faces too (the same
device code on the same device type, so the same bytes): the CPU's cores are the
device, and the workers are where they are spread; the main process keeps the model.

At most ``2 × workers`` batches wait on each side, so memory does not grow with N.
What the bytes depend on is said in ``datagen.synth.synthesizer``; this module only
schedules the work.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

import torch

from facecore.errors import UserInputError
from datagen.shards import (
    Manifest,
    PairSample,
    ShardJob,
    ShardRecord,
    ShardWriter,
    check_out_dir,
    is_finished,
    load_manifest,
    merge_parts,
    shard_fragment,
)
from datagen.sources import SPLITS
from datagen.synth.card import write_card
from datagen.synth.config import SynthConfig
from datagen.synth.pairs import LoadedBatch
from datagen.synth.synthesizer import BatchLoader, Synthesizer

log = logging.getLogger(__name__)


@dataclass
class SynthSummary:
    """What a run did: shards written and skipped, samples made, seconds, final manifest."""

    written: int = 0
    skipped: int = 0
    samples: int = 0
    seconds: float = 0.0
    complete: bool = False
    manifest: Manifest | None = None
    per_split: dict[str, int] = field(default_factory=dict)

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0


_WORKER_LOADER: BatchLoader | None = None


_WORKER_RENDERS = False


def _init_worker(config: SynthConfig, render: bool) -> None:
    """Worker start: one torch thread (the workers are the parallelism), its own loader;
    ``render``: it renders the synthetic faces as well (CPU synth device)."""
    global _WORKER_LOADER, _WORKER_RENDERS
    torch.set_num_threads(1)
    _WORKER_LOADER = BatchLoader(config)
    _WORKER_RENDERS = render


def _load_in_worker(split: str, start: int) -> LoadedBatch:
    assert _WORKER_LOADER is not None
    return _WORKER_LOADER.load(split, start, render=_WORKER_RENDERS)


def plan_jobs(counts: Mapping[str, int], shard_size: int, rank: int,
              world_size: int) -> list[ShardJob]:
    """The shards this rank owns: k ≡ rank (mod world_size), per split."""
    jobs = []
    for split in SPLITS:
        n = counts.get(split, 0)
        for k in range((n + shard_size - 1) // shard_size):
            if k % world_size == rank:
                jobs.append(ShardJob(split, k, k * shard_size, min(n, (k + 1) * shard_size)))
    return jobs


def preflight(syn: Synthesizer, out: Path, counts: Mapping[str, int], rank: int,
              world_size: int) -> Manifest | None:
    """Every check that can fail on user input, before any work: counts, rank, each split's
    faces, the output directory (writable; no shards of another config). Returns the
    existing manifest."""
    if sum(counts.values()) <= 0 or any(v < 0 for v in counts.values()):
        raise UserInputError(f"synth: --n must be ≥ 1 (got {dict(counts)})")
    if not 0 <= rank < world_size:
        raise UserInputError(f"synth: rank {rank} not in [0, {world_size})")
    for split, n in counts.items():
        if n > 0:
            syn.loader.pool(split)  # a split without enough identities fails here
    return check_out_dir(out, syn.header())


def synth(config: SynthConfig, out: str | Path, counts: Mapping[str, int], *,
          device: torch.device | str = "cpu", rank: int = 0, world_size: int = 1,
          workers: int = 0, on_progress: Callable[[int, int], None] | None = None,
          synthesizer: Synthesizer | None = None) -> SynthSummary:
    """Write this rank's shards of ``counts`` (samples per split) into ``out``.

    Finished shards are skipped, unfinished ones redone. ``on_progress(samples, shards)``
    is called after each shard. When every shard of the run is recorded (by whichever
    rank finishes last), rank parts are merged into ``manifest.json`` and the dataset
    card is written.
    """
    out = Path(out)
    syn = synthesizer or Synthesizer(config, device=device)
    manifest = preflight(syn, out, counts, rank, world_size)
    header = syn.header()
    jobs = plan_jobs(counts, config.shard_size, rank, world_size)
    todo = [j for j in jobs if not is_finished(out, manifest, j)]
    writer = ShardWriter(out, header, rank=rank, world_size=world_size)
    summary = SynthSummary(skipped=len(jobs) - len(todo))
    t0 = time.perf_counter()
    for record in _write_shards(syn, writer, todo, workers):
        summary.written += 1
        summary.samples += record.count
        if on_progress:
            on_progress(record.count, 1)
    summary.seconds = time.perf_counter() - t0
    final = load_manifest(out)
    every = plan_jobs(counts, config.shard_size, 0, 1)
    summary.complete = all(is_finished(out, final, j) for j in every)
    if summary.complete:
        final = merge_parts(out) if world_size > 1 else final
        write_card(out, final)
    summary.manifest = final
    summary.per_split = final.split_counts()
    return summary


@dataclass(frozen=True)
class _Batch:
    job: ShardJob
    start: int
    last: bool  # the job's last batch: its shard is complete after it


def _batches(jobs: list[ShardJob], batch_size: int) -> Iterator[_Batch]:
    for job in jobs:
        starts = range(job.start, job.stop, batch_size)
        for j, start in enumerate(starts):
            yield _Batch(job, start, j == len(starts) - 1)


def _write_shards(syn: Synthesizer, writer: ShardWriter, jobs: list[ShardJob],
                  workers: int) -> Iterator[ShardRecord]:
    """Make, encode and write ``jobs`` in order; yields each shard's record once written."""
    pieces: list[bytes] = []

    def finish(job: ShardJob) -> ShardRecord:
        record = writer.write_fragments(job, pieces)
        pieces.clear()
        return record

    def make(b: _Batch, loaded: LoadedBatch) -> list[PairSample]:
        return syn.make(loaded)[: b.job.stop - b.start]

    if workers <= 0:
        for b in _batches(jobs, syn.config.batch_size):
            pieces.append(shard_fragment(make(b, syn.loader.load(b.job.split, b.start))))
            if b.last:
                yield finish(b.job)
        return
    # fork starts workers without re-importing torch; spawn (other platforms) rebuilds the
    # loader from the config in each worker.
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    todo = _batches(jobs, syn.config.batch_size)
    render = syn.device.type == "cpu"
    with ctx.Pool(workers, initializer=_init_worker, initargs=(syn.config, render)) as pool:
        loading: deque = deque()
        encoding: deque = deque()

        def load_next() -> None:
            b = next(todo, None)
            if b is not None:
                loading.append((b, pool.apply_async(_load_in_worker, (b.job.split, b.start))))

        for _ in range(2 * workers):
            load_next()
        while loading:
            b, loaded = loading.popleft()
            load_next()
            encoding.append((b, pool.apply_async(shard_fragment, (make(b, loaded.get()),))))
            while len(encoding) > 2 * workers:
                yield from _drain_one(encoding, pieces, finish)
        while encoding:
            yield from _drain_one(encoding, pieces, finish)


def _drain_one(encoding: deque, pieces: list, finish: Callable) -> Iterator[ShardRecord]:
    b, result = encoding.popleft()
    pieces.append(result.get())
    if b.last:
        yield finish(b.job)
