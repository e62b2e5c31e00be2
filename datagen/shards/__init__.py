"""Shard format v1: sharded WebDataset tarballs of NI-LR / NI-HR / UI-HR / guide pairs.

The contract other projects rely on is documented in ``docs/shards.md``; this
package writes it (``ShardWriter``: deterministic bytes, atomic files, a manifest with sha256)
and reads it back (``open_pairs``), and checks it (``verify``).
"""

from datagen.shards.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestWriter,
    ShardRecord,
    load_manifest,
    merge_parts,
)
from datagen.shards.reader import decode_sample, open_pairs, shard_urls, to_tensor
from datagen.shards.schema import (
    IMAGE_FIELDS,
    JSON_FIELDS,
    SCHEMA_VERSION,
    PairSample,
    sample_key,
    shard_name,
)
from datagen.shards.verify import VerifyReport, verify
from datagen.shards.writer import (
    ShardJob,
    ShardWriter,
    check_out_dir,
    is_finished,
    shard_fragment,
    shard_members,
)

__all__ = [
    "IMAGE_FIELDS", "JSON_FIELDS", "MANIFEST_NAME", "SCHEMA_VERSION", "Manifest",
    "ManifestWriter", "PairSample", "ShardJob", "ShardRecord", "ShardWriter", "VerifyReport",
    "check_out_dir", "decode_sample", "is_finished", "load_manifest", "merge_parts",
    "open_pairs", "sample_key", "shard_fragment", "shard_members", "shard_name", "shard_urls",
    "to_tensor", "verify",
]
