"""Checking a shard directory against its manifest, shard by shard."""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from facecore.errors import UserInputError
from datagen.shards.manifest import MANIFEST_NAME, PARTS_DIR, Manifest, load_manifest
from datagen.shards.schema import MEMBER_SUFFIXES, SHARD_PATTERN, sample_key
from datagen.shards.tarwrite import is_temp
from facecore.torchfiles import sha256_file


@dataclass
class VerifyReport:
    """What ``verify`` found: per-shard problems (file name → message) and totals."""

    folder: Path
    manifest: Manifest | None
    problems: dict[str, str] = field(default_factory=dict)
    shards_ok: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_members(path: Path, first_index: int, count: int, split: str) -> str | None:
    """None if the tar holds exactly the ``count`` complete samples it should, else why not."""
    try:
        with tarfile.open(path, "r:") as tar:
            names = tar.getnames()
    except (tarfile.TarError, OSError, EOFError) as err:
        return f"not a readable tar ({err})"
    expected = [f"{sample_key(split, first_index + j)}.{suffix}"
                for j in range(count) for suffix in MEMBER_SUFFIXES]
    if names == expected:
        return None
    if len(names) != len(expected):
        return f"holds {len(names)} members, manifest implies {len(expected)}"
    bad = next(n for n, e in zip(names, expected) if n != e)
    return f"unexpected member {bad!r}"


def verify(folder: str | Path, *, deep: bool = True) -> VerifyReport:
    """Check every shard listed in the manifest: exists, size, sha256, and (deep) its members.

    Also reports ``*.tar`` files the manifest does not list and leftover temporary
    files from an interrupted writer. A missing or unreadable manifest is a
    problem of the directory itself (key ``manifest.json``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"{folder}: no such shard directory")
    if not (folder / MANIFEST_NAME).exists() and not (folder / PARTS_DIR).exists():
        tars = len(list(folder.glob("*.tar")))
        raise UserInputError(f"{folder}: no {MANIFEST_NAME} and " + (
            f"{tars} shard(s) without one: their records are lost; remake them with the "
            f"`datagen synth` command into a new --out" if tars else
            f"no shards: not a shard directory; make one with `datagen synth --out {folder}`"))
    try:
        manifest = load_manifest(folder)
    except UserInputError as err:
        return VerifyReport(folder, None, {"manifest.json": str(err)})
    report = VerifyReport(folder, manifest)
    for name in sorted(manifest.shards):
        rec = manifest.shards[name]
        path = folder / name
        if not path.is_file():
            report.problems[name] = "missing"
        elif path.stat().st_size != rec.bytes:
            report.problems[name] = f"size {path.stat().st_size} bytes, manifest says {rec.bytes}"
        elif sha256_file(path) != rec.sha256:
            report.problems[name] = "sha256 differs from the manifest (corrupted)"
        elif deep and (why := _check_members(path, rec.first_index, rec.count, rec.split)):
            report.problems[name] = why
        else:
            report.shards_ok += 1
    for path in sorted(folder.iterdir()):
        if SHARD_PATTERN.match(path.name) and path.name not in manifest.shards:
            report.problems[path.name] = "not in the manifest (unfinished or foreign shard)"
        elif is_temp(path):
            report.problems[path.name] = "leftover temporary file of an interrupted write"
    return report
