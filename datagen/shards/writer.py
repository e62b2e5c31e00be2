"""The one shard writer: members → deterministic tar → temporary file, fsync, rename → record.

``synth`` and the test fixtures write every shard through ``ShardWriter``: from members
(``shard_members``) or, as ``synth`` does, from tar pieces its worker processes encoded
(``shard_fragment``). A
shard's record reaches the manifest only after its file has its final name, so a
listed shard is always complete; a write killed half-way leaves at most a temporary
file (``.train-000001.tar.tmp-<pid>``), which ``verify`` reports and a resume redoes.
The directory checks a resume needs (``check_out_dir``, ``is_finished``) live here
too, beside the protocol they rely on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from facecore.errors import UserInputError
from datagen.shards.manifest import (
    MANIFEST_NAME,
    PARTS_DIR,
    Manifest,
    ManifestWriter,
    ShardRecord,
    load_manifest,
)
from datagen.shards.schema import PairSample, shard_name
from datagen.shards.tarwrite import tar_archive, tar_fragment, write_atomic


@dataclass(frozen=True)
class ShardJob:
    """Shard ``shard`` of ``split``: the samples with global indices [start, stop)."""

    split: str
    shard: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return shard_name(self.split, self.shard)

    @property
    def count(self) -> int:
        return self.stop - self.start


def shard_members(samples: Sequence[PairSample]) -> list[tuple[str, bytes]]:
    """The (member name, bytes) of ``samples`` in order, PNG-encoded (CPU-bound: ``synth``
    runs it in worker processes)."""
    return [m for s in samples for m in s.members()]


def shard_fragment(samples: Sequence[PairSample]) -> bytes:
    """``samples`` PNG-encoded as a piece of their shard's tar (``tar_fragment``): what a
    ``synth`` worker process hands back, so the model's process only joins pieces."""
    return tar_fragment(shard_members(samples))


class ShardWriter:
    """Writes one process's shards into ``folder`` and records each, in that order.

    The records go to ``manifest.json`` (``world_size == 1``) or to this rank's part in
    ``manifest.d/`` (see ``ManifestWriter``), which is created (or reopened) here.
    """

    def __init__(self, folder: str | Path, header: Mapping[str, Any], *, rank: int = 0,
                 world_size: int = 1) -> None:
        self.folder = Path(folder)
        self.records = ManifestWriter(self.folder, header, rank=rank, world_size=world_size)

    def write(self, job: ShardJob, members: Sequence[tuple[str, bytes]]) -> ShardRecord:
        """Write ``members`` ((name, bytes), in order: all of the job's samples) as shard
        ``job`` atomically, then record it; returns the record."""
        return self.write_fragments(job, [tar_fragment(members)])

    def write_fragments(self, job: ShardJob, fragments: Sequence[bytes]) -> ShardRecord:
        """``write`` from ``shard_fragment`` pieces (in order: all of the job's samples)."""
        if not any(fragments):
            raise ValueError(f"{job.name}: a shard needs at least one sample")
        data = tar_archive(fragments)
        digest = write_atomic(self.folder / job.name, data)
        record = ShardRecord(name=job.name, split=job.split, first_index=job.start,
                             count=job.count, sha256=digest, bytes=len(data))
        self.records.add(record)
        return record


def is_finished(folder: Path, manifest: Manifest | None, job: ShardJob) -> bool:
    """Whether ``job``'s shard is done: recorded with its count, and its file of that size."""
    rec = manifest.shards.get(job.name) if manifest else None
    path = folder / job.name
    return (rec is not None and rec.count == job.count and path.is_file()
            and path.stat().st_size == rec.bytes)


def check_out_dir(folder: Path, header: Mapping[str, Any]) -> Manifest | None:
    """Make sure shards of ``header`` can be written into ``folder`` (created if missing):
    writable, and holding no shards without a manifest nor shards of another header
    (config, models, generator or runtime). Returns the existing manifest, if any."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as err:
        raise UserInputError(f"{folder}: cannot write there ({err.strerror}); choose another "
                             f"--out") from None
    if not ((folder / MANIFEST_NAME).exists() or (folder / PARTS_DIR).exists()):
        if any(folder.glob("*.tar")):
            raise UserInputError(f"{folder}: holds shards but no manifest; use an empty --out")
        return None
    manifest = load_manifest(folder)
    if manifest.header != header:
        raise UserInputError(_header_change(folder, manifest.header, header))
    return manifest


def _header_change(folder: Path, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """Why a directory made under header ``old`` cannot take shards of header ``new``."""
    was, now = old.get("config", {}), new["config"]
    diff = sorted(k for k in set(was) | set(now) if was.get(k) != now.get(k))
    if old.get("models") != new["models"]:
        diff.append("models")
    if diff or old.get("generator") != new["generator"]:
        return (f"{folder}: holds shards made with a different config (differs in "
                f"{', '.join(diff) or 'datagen version'}); use a new --out or the same options")
    was, now = old.get("runtime", {}), new["runtime"]
    return (f"{folder}: holds shards made with torch {was.get('torch')} on "
            f"{was.get('device')!r}; this is torch {now['torch']} on {now['device']!r}, whose "
            f"float kernels may round a few pixels differently; finish the run there, or use a "
            f"new --out")
