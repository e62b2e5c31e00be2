"""The synthesis run: shards as units of work, distributed by rank, resumable, verified.

Shard k of a split holds indices [k·S, (k+1)·S) and belongs to rank k mod W.
The device renders batches (always full batches of ``batch_size`` starting at a
shard start, extra samples discarded, so each sample's bytes are a pure
function of (config, split, index)); worker processes PNG-encode them; the main
process writes each finished shard atomically and then records it. At most
``2 × workers`` batches are in flight, so memory does not grow with N.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch

from datagen import __version__
from datagen.config import to_dict
from datagen.errors import UserInputError
from datagen.rain import Rain, load_rain
from datagen.shards import (
    Manifest,
    ManifestWriter,
    PairSample,
    ShardRecord,
    load_manifest,
    merge_parts,
    shard_name,
)
from datagen.shards.manifest import MANIFEST_NAME, PARTS_DIR
from datagen.shards.tarwrite import sha256_file, tar_bytes, write_atomic
from datagen.sources import SPLITS, FaceSource, open_source
from datagen.synth.card import write_card
from datagen.synth.config import SynthConfig
from datagen.synth.pairs import make_pairs, plan_sample
from datagen.synth.pools import FacePool, make_pool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardJob:
    split: str
    shard: int
    start: int
    stop: int


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


class Synthesizer:
    """Loaded source, pools and relighting model for one config; makes pairs on ``device``."""

    def __init__(self, config: SynthConfig, *, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        if self.device.type != config.device_type:
            raise UserInputError(f"synth: config device_type {config.device_type!r} but running "
                                 f"on {self.device}")
        options = dict(config.source_options)
        if config.source == "synthetic":
            options.setdefault("size", config.hr_size)
        self.source: FaceSource = open_source(config.source, **options)
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
        self._pools: dict[str, FacePool] = {}

    def pool(self, split: str) -> FacePool:
        if split not in self._pools:
            self._pools[split] = make_pool(self.source, split, self.config)
        return self._pools[split]

    def header(self) -> dict[str, Any]:
        """What decides the bytes: config (minus the checkpoint's path) and model hashes."""
        config = to_dict(self.config)
        config.pop("rain_checkpoint")
        perceptual = getattr(getattr(self.rain, "encoder", None), "weights_state", None)
        return {"config": config, "generator": f"datagen {__version__}",
                "models": {"rain_sha256": self.rain_sha256, "perceptual": perceptual}}

    def batch(self, split: str, start: int) -> list[PairSample]:
        """The full batch of samples [start, start + batch_size) of ``split``."""
        pool = self.pool(split)
        plans = [plan_sample(self.config, pool, split, i)
                 for i in range(start, start + self.config.batch_size)]
        return make_pairs(self.config, pool, plans, rain=self.rain, device=self.device,
                          source_name=self.config.source)

    def sample(self, split: str, index: int) -> PairSample:
        """Regenerate sample ``index`` of ``split`` alone; equals the one in its shard."""
        if split not in SPLITS or index < 0:
            raise UserInputError(f"no sample {split}/{index}")
        S, B = self.config.shard_size, self.config.batch_size
        shard_start = index // S * S
        start = shard_start + (index - shard_start) // B * B
        return self.batch(split, start)[index - start]


def encode_batch(samples: list[PairSample]) -> list[tuple[str, bytes]]:
    """PNG/JSON members of a batch (runs in worker processes)."""
    return [m for s in samples for m in s.members()]


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
    """Every check that can fail on user input, before any work: counts, rank, the output
    directory (writable; no shards of another config). Returns the existing manifest."""
    if sum(counts.values()) <= 0 or any(v < 0 for v in counts.values()):
        raise UserInputError(f"synth: --n must be ≥ 1 (got {dict(counts)})")
    if not 0 <= rank < world_size:
        raise UserInputError(f"synth: rank {rank} not in [0, {world_size})")
    _check_out_dir(out)
    return _existing(out, syn.header())


def _check_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as err:
        raise UserInputError(f"{out}: cannot write there ({err.strerror}); choose another --out") \
            from None


def _existing(out: Path, header: Mapping[str, Any]) -> Manifest | None:
    if not ((out / MANIFEST_NAME).exists() or (out / PARTS_DIR).exists()):
        if any(out.glob("*.tar")):
            raise UserInputError(f"{out}: holds shards but no manifest; use an empty --out")
        return None
    manifest = load_manifest(out)
    if manifest.header != header:
        old, new = manifest.header.get("config", {}), header["config"]
        diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if manifest.header.get("models") != header["models"]:
            diff.append("models")
        raise UserInputError(f"{out}: holds shards made with a different config (differs in "
                             f"{', '.join(diff) or 'header'}); use a new --out or the same options")
    return manifest


def _is_done(out: Path, manifest: Manifest | None, job: ShardJob) -> bool:
    rec = manifest.shards.get(shard_name(job.split, job.shard)) if manifest else None
    path = out / shard_name(job.split, job.shard)
    return (rec is not None and rec.count == job.stop - job.start and path.is_file()
            and path.stat().st_size == rec.bytes)


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
    todo = [j for j in jobs if not _is_done(out, manifest, j)]
    writer = ManifestWriter(out, header, rank=rank, world_size=world_size)
    summary = SynthSummary(skipped=len(jobs) - len(todo))
    t0 = time.perf_counter()
    for record in _write_shards(syn, out, todo, workers):
        writer.add(record)
        summary.written += 1
        summary.samples += record.count
        if on_progress:
            on_progress(record.count, 1)
    summary.seconds = time.perf_counter() - t0
    final = load_manifest(out)
    every = plan_jobs(counts, config.shard_size, 0, 1)
    summary.complete = all(_is_done(out, final, j) for j in every)
    if summary.complete:
        final = merge_parts(out) if world_size > 1 else final
        write_card(out, final)
    summary.manifest = final
    summary.per_split = final.split_counts()
    return summary


def _batches(syn: Synthesizer, jobs: list[ShardJob]) -> Iterator[tuple[ShardJob, bool, list]]:
    """(job, last batch of the job?, samples) for every batch of every job, in order."""
    B = syn.config.batch_size
    for job in jobs:
        starts = list(range(job.start, job.stop, B))
        for j, start in enumerate(starts):
            samples = syn.batch(job.split, start)[: job.stop - start]
            yield job, j == len(starts) - 1, samples


def _write_shards(syn: Synthesizer, out: Path, jobs: list[ShardJob],
                  workers: int) -> Iterator[ShardRecord]:
    members: list[tuple[str, bytes]] = []

    def finish(job: ShardJob) -> ShardRecord:
        data = tar_bytes(members)
        members.clear()
        name = shard_name(job.split, job.shard)
        digest = write_atomic(out / name, data)
        return ShardRecord(name=name, split=job.split, first_index=job.start,
                           count=job.stop - job.start, sha256=digest, bytes=len(data))

    if workers <= 0:
        for job, last, samples in _batches(syn, jobs):
            members.extend(encode_batch(samples))
            if last:
                yield finish(job)
        return
    # fork starts workers without re-importing torch; they only run numpy/OpenCV encoding.
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Pool(workers) as pool:
        pending: deque = deque()
        for job, last, samples in _batches(syn, jobs):
            pending.append((job, last, pool.apply_async(encode_batch, (samples,))))
            while len(pending) > 2 * workers:
                yield from _drain_one(pending, members, finish)
        while pending:
            yield from _drain_one(pending, members, finish)


def _drain_one(pending: deque, members: list, finish: Callable) -> Iterator[ShardRecord]:
    job, last, result = pending.popleft()
    members.extend(result.get())
    if last:
        yield finish(job)
