"""The manifest: what a shard directory holds and how it was made.

``manifest.json`` carries the schema version, a header (producing config,
source, model hashes) and one record per finished shard (name, split, count,
sha256, bytes). A shard's record is written after the shard itself, so a listed
shard is always complete. Ranks of a distributed run each keep their own part in
``manifest.d/`` (no two processes ever write one file); ``load_manifest`` merges
parts and ``merge_parts`` folds them into ``manifest.json``, giving the same
bytes as a single-process run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from facecore.errors import UserInputError
from datagen.shards.schema import SCHEMA_VERSION
from datagen.shards.tarwrite import write_atomic

MANIFEST_NAME = "manifest.json"
PARTS_DIR = "manifest.d"


@dataclass(frozen=True)
class ShardRecord:
    """One finished shard: ``count`` samples starting at global index ``first_index``."""

    name: str
    split: str
    first_index: int
    count: int
    sha256: str
    bytes: int


@dataclass
class Manifest:
    """Schema version, producing header, and the finished shards keyed by file name."""

    header: dict[str, Any]
    shards: dict[str, ShardRecord] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        doc = {"schema": self.schema, "header": self.header,
               "shards": [asdict(self.shards[k]) for k in sorted(self.shards)]}
        return (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode()

    def split_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rec in self.shards.values():
            counts[rec.split] = counts.get(rec.split, 0) + rec.count
        return counts


def _parse(path: Path) -> Manifest:
    try:
        doc = json.loads(path.read_text())
        shards = {r["name"]: ShardRecord(**r) for r in doc["shards"]}
        return Manifest(header=doc["header"], shards=shards, schema=int(doc["schema"]))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserInputError(f"{path}: not a readable shard manifest ({err.__class__.__name__}: "
                             f"{err}); remove the directory and re-run `datagen synth`") from None


def part_name(rank: int, world_size: int) -> str:
    return f"rank-{rank:05d}-of-{world_size:05d}.json"


def load_manifest(folder: str | Path) -> Manifest:
    """The directory's manifest with every rank part merged in.

    Raises ``UserInputError`` if there is none, if its schema is not one this
    reader knows, or if parts disagree on the header (outputs of different configs).
    """
    folder = Path(folder)
    main = folder / MANIFEST_NAME
    parts = sorted((folder / PARTS_DIR).glob("rank-*.json")) if (folder / PARTS_DIR).is_dir() \
        else []
    docs = ([_parse(main)] if main.is_file() else []) + [_parse(p) for p in parts]
    if not docs:
        raise UserInputError(f"{folder}: no {MANIFEST_NAME} (not a shard directory); make one "
                             f"with `datagen synth --out {folder}`")
    merged = Manifest(header=docs[0].header, schema=docs[0].schema)
    for doc, path in zip(docs, ([main] if main.is_file() else []) + parts):
        if doc.schema != SCHEMA_VERSION:
            raise UserInputError(f"{path}: shard schema {doc.schema} is not supported by this "
                                 f"reader (knows {SCHEMA_VERSION})")
        if doc.header != merged.header:
            raise UserInputError(f"{path}: made with a different config than the rest of {folder}; "
                                 f"use a new output directory")
        merged.shards.update(doc.shards)
    return merged


class ManifestWriter:
    """Records finished shards for one process; each ``add`` rewrites its file atomically.

    With ``world_size == 1`` it writes ``manifest.json``; otherwise its own part file.
    """

    def __init__(self, folder: Path, header: Mapping[str, Any], *, rank: int = 0,
                 world_size: int = 1) -> None:
        self.folder = Path(folder)
        self.path = (self.folder / MANIFEST_NAME if world_size == 1
                     else self.folder / PARTS_DIR / part_name(rank, world_size))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        existing = _parse(self.path) if self.path.is_file() else None
        self.manifest = Manifest(header=dict(header),
                                 shards=dict(existing.shards) if existing else {})
        self._flush()

    def add(self, record: ShardRecord) -> None:
        self.manifest.shards[record.name] = record
        self._flush()

    def _flush(self) -> None:
        write_atomic(self.path, self.manifest.to_json())


def merge_parts(folder: str | Path) -> Manifest:
    """Fold ``manifest.d/*`` into ``manifest.json`` (atomically) and remove the parts."""
    folder = Path(folder)
    merged = load_manifest(folder)
    write_atomic(folder / MANIFEST_NAME, merged.to_json())
    parts_dir = folder / PARTS_DIR
    if parts_dir.is_dir():
        for p in parts_dir.glob("rank-*.json"):
            p.unlink()
        parts_dir.rmdir()
    return merged
