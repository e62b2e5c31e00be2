"""The synthesis run: shards as units of work, distributed by rank, resumable, verified.

Shard k of a split holds indices [k·S, (k+1)·S) and belongs to rank k mod W.
Work is always done in full batches of ``batch_size`` starting at a shard start
(extra samples discarded), so each sample's bytes are a pure function of
(config, split, index). Each batch goes through three hands:

  worker processes   plan the batch and load its faces (synthetic renders, image
                     decoding): ``BatchLoader``, ahead of the device;
  the main process   relights, warps and downsamples it on the device
                     (``Synthesizer.make``) — the only work left on the device's path;
  worker processes   PNG-encode it; the main process hands each finished shard to
                     ``datagen.shards.ShardWriter`` (atomic file, then its record).

At most ``2 × workers`` batches wait on each side, so memory does not grow with N.

What the bytes depend on (the contract, also in docs/shards.md): the config (which
includes ``threads``, the intra-op thread count the device half always runs with),
the RaIN checkpoint and perceptual weights, the code version, the torch version and
the device (CPU model or GPU name) — the last two are recorded in the manifest
header as ``runtime``. Not on workers, ranks, interruption, or the process's own
torch thread setting.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import platform
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch

from datagen import __version__
from datagen.config import to_dict
from datagen.errors import UserInputError
from datagen.rain import Rain, load_rain
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
    shard_members,
)
from datagen.shards.tarwrite import sha256_file
from datagen.sources import SPLITS, FaceSource, open_source
from datagen.synth.card import write_card
from datagen.synth.config import SynthConfig
from datagen.synth.pairs import LoadedBatch, guide_gallery, load_batch, make_pairs, \
    plan_sample
from datagen.synth.pools import FacePool, FaceRef, make_pool

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


class BatchLoader:
    """The host half of a config: the face source and its split pools; plans a batch and
    loads the faces it names. Cheap to build, so every worker process has its own."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        options = dict(config.source_options)
        if config.source == "synthetic":
            options.setdefault("size", config.hr_size)
        self.source: FaceSource = open_source(config.source, **options)
        self._pools: dict[str, FacePool] = {}
        self._galleries: dict[str, list[FaceRef]] = {}
        self._guides: dict[FaceRef, tuple[np.ndarray, np.ndarray]] = {}

    def pool(self, split: str) -> FacePool:
        if split not in self._pools:
            self._pools[split] = make_pool(self.source, split, self.config)
            if self.config.guide_gallery:
                self._galleries[split] = guide_gallery(self.config, self._pools[split], split)
        return self._pools[split]

    def load(self, split: str, start: int) -> LoadedBatch:
        """Plans and faces of the full batch [start, start + batch_size) of ``split``.

        Always on one torch thread, in a worker or in the main process alike."""
        with intra_op_threads(1):
            pool = self.pool(split)
            gallery = self._galleries.get(split)
            plans = [plan_sample(self.config, pool, split, i, gallery)
                     for i in range(start, start + self.config.batch_size)]
            return load_batch(self.config, pool, plans, self._guides if gallery else None)


@contextmanager
def intra_op_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the process's count."""
    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


def device_name(device: torch.device) -> str:
    """The hardware the device half ran on: the GPU's name, or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class Synthesizer:
    """Loaded source, pools and relighting model for one config; makes pairs on ``device``."""

    def __init__(self, config: SynthConfig, *, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        if self.device.type != config.device_type:
            raise UserInputError(f"synth: config device_type {config.device_type!r} but running "
                                 f"on {self.device}")
        self.loader = BatchLoader(config)
        self.rain: Rain | None = None
        self.rain_sha256: str | None = None
        if config.relight == "rain":
            path = Path(str(config.rain_checkpoint))
            if not path.is_file():
                raise UserInputError(f"{path}: RaIN checkpoint not found; make one with "
                                     f"`datagen train-rain --phase finetune --out {path}` "
                                     f"(or use --relight physical)")
            self.rain = load_rain(path, map_location=self.device)
            self.rain_sha256 = sha256_file(path)

    def header(self) -> dict[str, Any]:
        """What decides the bytes: config (minus the checkpoint's path), model hashes, and
        the runtime (torch version, device) whose float kernels compute them."""
        config = to_dict(self.config)
        config.pop("rain_checkpoint")
        perceptual = getattr(getattr(self.rain, "encoder", None), "weights_state", None)
        return {"config": config, "generator": f"datagen {__version__}",
                "models": {"rain_sha256": self.rain_sha256, "perceptual": perceptual},
                "runtime": {"torch": torch.__version__, "device": device_name(self.device)}}

    def make(self, loaded: LoadedBatch) -> list[PairSample]:
        """The device half: relight, warp and downsample a loaded batch into pairs, on
        ``config.threads`` intra-op threads whatever the process's own setting."""
        with intra_op_threads(self.config.threads):
            return make_pairs(self.config, loaded, rain=self.rain, device=self.device,
                              source_name=self.config.source)

    def batch(self, split: str, start: int) -> list[PairSample]:
        """The full batch of samples [start, start + batch_size) of ``split``."""
        return self.make(self.loader.load(split, start))

    def sample(self, split: str, index: int) -> PairSample:
        """Regenerate sample ``index`` of ``split`` alone; equals the one in its shard."""
        if split not in SPLITS or index < 0:
            raise UserInputError(f"no sample {split}/{index}")
        S, B = self.config.shard_size, self.config.batch_size
        shard_start = index // S * S
        start = shard_start + (index - shard_start) // B * B
        return self.batch(split, start)[index - start]


_WORKER_LOADER: BatchLoader | None = None


def _init_worker(config: SynthConfig) -> None:
    """Worker start: one torch thread (the workers are the parallelism), its own loader."""
    global _WORKER_LOADER
    torch.set_num_threads(1)
    _WORKER_LOADER = BatchLoader(config)


def _load_in_worker(split: str, start: int) -> LoadedBatch:
    assert _WORKER_LOADER is not None
    return _WORKER_LOADER.load(split, start)


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


def preflight(syn: "Synthesizer", out: Path, counts: Mapping[str, int], rank: int,
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
    members: list[tuple[str, bytes]] = []

    def finish(job: ShardJob) -> ShardRecord:
        record = writer.write(job, members)
        members.clear()
        return record

    def make(b: _Batch, loaded: LoadedBatch) -> list[PairSample]:
        return syn.make(loaded)[: b.job.stop - b.start]

    if workers <= 0:
        for b in _batches(jobs, syn.config.batch_size):
            members.extend(shard_members(make(b, syn.loader.load(b.job.split, b.start))))
            if b.last:
                yield finish(b.job)
        return
    # fork starts workers without re-importing torch; spawn (other platforms) rebuilds the
    # loader from the config in each worker.
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    todo = _batches(jobs, syn.config.batch_size)
    with ctx.Pool(workers, initializer=_init_worker, initargs=(syn.config,)) as pool:
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
            encoding.append((b, pool.apply_async(shard_members, (make(b, loaded.get()),))))
            while len(encoding) > 2 * workers:
                yield from _drain_one(encoding, members, finish)
        while encoding:
            yield from _drain_one(encoding, members, finish)


def _drain_one(encoding: deque, members: list, finish: Callable) -> Iterator[ShardRecord]:
    b, result = encoding.popleft()
    members.extend(result.get())
    if b.last:
        yield finish(b.job)
