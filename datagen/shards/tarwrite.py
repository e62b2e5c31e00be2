"""Deterministic, atomic tar files.

Every header field that could vary between runs (mtime, owner, mode, order) is
fixed, so the same samples always give the same bytes and the same sha256. The
tar is written under a temporary name, fsynced and renamed: a crash never leaves
a file with the final name that looks complete (webdataset's ShardWriter writes
to the final name directly, which is why it is not used here).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path
from typing import Iterable

TMP_MARK = ".tmp-"


def temp_path(final: Path) -> Path:
    """The name a file is written under before it is renamed to ``final``."""
    return final.with_name(f".{final.name}{TMP_MARK}{os.getpid()}")


def is_temp(path: Path) -> bool:
    return path.name.startswith(".") and TMP_MARK in path.name


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def tar_fragment(members: Iterable[tuple[str, bytes]]) -> bytes:
    """The ustar records (header block, data, NUL padding) of ``members``, in order: a
    piece of an archive that worker processes build, so the process running the model
    only joins pieces (``tar_archive``)."""
    out = []
    for name, data in members:
        out.append(_tarinfo(name, len(data)).tobuf(tarfile.USTAR_FORMAT, tarfile.ENCODING,
                                                   "surrogateescape"))
        out.append(data)
        out.append(tarfile.NUL * (-len(data) % tarfile.BLOCKSIZE))
    return b"".join(out)


def tar_archive(fragments: Iterable[bytes]) -> bytes:
    """A complete ustar archive from ``tar_fragment`` pieces, in order: the bytes
    ``tarfile`` writes for their members (two NUL end blocks, padded to a whole record)."""
    body = b"".join(fragments) + tarfile.NUL * (2 * tarfile.BLOCKSIZE)
    return body + tarfile.NUL * (-len(body) % tarfile.RECORDSIZE)


def tar_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A complete ustar archive of ``members`` (in the given order) as bytes."""
    return tar_archive([tar_fragment(members)])


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` via temp file + fsync + rename; return its sha256 hex."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return hashlib.sha256(data).hexdigest()
