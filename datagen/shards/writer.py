"""Writing one shard: samples → deterministic tar bytes → atomic file → its manifest record."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from datagen.shards.manifest import ShardRecord
from datagen.shards.schema import PairSample, shard_name
from datagen.shards.tarwrite import tar_bytes, write_atomic


def shard_bytes(samples: Sequence[PairSample]) -> bytes:
    """The tar bytes of ``samples`` in the order given (CPU-bound: run it in a worker)."""
    members = [m for s in samples for m in s.members()]
    return tar_bytes(members)


def write_shard(folder: str | Path, split: str, shard: int, samples: Sequence[PairSample],
                *, data: bytes | None = None) -> ShardRecord:
    """Write shard ``shard`` of ``split`` into ``folder`` atomically and describe it.

    ``data`` may carry bytes already made by ``shard_bytes`` (e.g. in a worker process).
    The caller records the returned ``ShardRecord`` in the manifest *after* this returns.
    """
    if not samples:
        raise ValueError("a shard needs at least one sample")
    folder = Path(folder)
    data = shard_bytes(samples) if data is None else data
    name = shard_name(split, shard)
    digest = write_atomic(folder / name, data)
    return ShardRecord(name=name, split=split, first_index=samples[0].index,
                       count=len(samples), sha256=digest, bytes=len(data))
