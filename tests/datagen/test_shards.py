import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from click.testing import CliRunner

from datagen.cli import main
from facecore.errors import UserInputError
from facecore.imageio import decode_png, read_image
from datagen.shards import (
    ManifestWriter,
    PairSample,
    ShardJob,
    ShardWriter,
    load_manifest,
    merge_parts,
    open_pairs,
    verify,
)



def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_through_plain_webdataset(tiny_shards):
    urls = sorted(str(p) for p in tiny_shards.glob("train-*.tar"))
    raw = list(wds.WebDataset(urls, shardshuffle=False))
    assert [s["__key__"] for s in raw] == [f"train/{i:09d}" for i in range(8)]
    ours = list(open_pairs(tiny_shards, "train", split_by_worker=False))
    for r, o in zip(raw, ours):
        meta = json.loads(r["json"])
        assert meta == o["json"] and meta["schema"] == 1 and meta["index"] == int(r["__key__"][-9:])
        for name in ("nilr", "nihr", "uihr", "guide"):
            arr = decode_png(r[f"{name}.png"])
            np.testing.assert_array_equal(arr, (o[name].permute(1, 2, 0).numpy() * 255).round())
    assert ours[0]["nilr"].shape == (3, 16, 16) and ours[0]["uihr"].shape == (3, 128, 128)


def test_same_samples_same_bytes(tmp_path, make_shards):
    """The writer is a pure function of the samples: same arrays and json, same tar bytes
    (no timestamps, owners or ordering from the file system)."""
    a = make_shards(tmp_path / "a")
    b = make_shards(tmp_path / "b")
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    assert all(_sha(a / n) == _sha(b / n) for n in names)
    with tarfile.open(a / "train-000000.tar") as tar:
        info = tar.getmembers()[0]
    assert (info.mtime, info.uid, info.gid, info.uname) == (0, 0, 0, "")


def test_tar_pieces_join_to_the_archive_tarfile_writes():
    """Workers encode tar pieces and the model's process joins them: the joined bytes are
    those of one tarfile archive of all members, wherever the pieces were cut."""
    import io
    from datagen.shards.tarwrite import _tarinfo, tar_archive, tar_bytes, tar_fragment

    def reference(members):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data in members:
                tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
        return buf.getvalue()

    rng = np.random.default_rng(0)
    for n in (1, 5, 23):  # archives ending before, at and past a 10 KiB record boundary
        members = [(f"train/{i:09d}.{ext}", rng.bytes(int(rng.integers(0, 3000))))
                   for i in range(n) for ext in ("nilr.png", "json")]
        whole = reference(members)
        assert tar_bytes(members) == whole
        for cut in (0, 1, len(members) // 2, len(members)):
            assert tar_archive([tar_fragment(members[:cut]),
                                tar_fragment(members[cut:])]) == whole
    assert tar_bytes([("a/é.json", b"x" * 512), ("b.png", b"")]) == \
        reference([("a/é.json", b"x" * 512), ("b.png", b"")])


def test_interrupted_writer_leaves_nothing_that_looks_finished(tmp_path):
    """The writer synth uses, killed between writing the temp file and renaming it: no file
    with the shard's name, no record, and verify names the leftover."""
    script = f"""
import os, signal, numpy as np
import datagen.shards.tarwrite as tw
def killed(src, dst):  # die on the shard's rename (the manifest's own renames go through)
    if str(dst).endswith(".tar"):
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
real, tw.os.replace = tw.os.replace, killed
from datagen.shards import PairSample, ShardJob, ShardWriter, shard_members
img = np.zeros((16, 16, 3), np.uint8); big = np.zeros((128, 128, 3), np.uint8)
s = PairSample("train", 0, img, big, big, big, dict(identity="a", guide_identity="b",
    source="t", landmarks_uihr=[], landmarks_nilr=[], affine=[], style_seed=0))
ShardWriter({str(tmp_path)!r}, {{"config": {{}}}}).write(ShardJob("train", 0, 0, 1),
                                                         shard_members([s]))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -9, proc.stderr
    assert not (tmp_path / "train-000000.tar").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "manifest.json"]
    assert leftovers and all(n.startswith(".train-000000.tar.tmp-") for n in leftovers)
    assert not load_manifest(tmp_path).shards
    report = verify(tmp_path)
    assert not report.ok and "leftover temporary file" in next(iter(report.problems.values()))


def test_the_writer_records_each_shard_after_its_file(tmp_path):
    """ShardWriter.write: the file has its final name and bytes before the record is added,
    and the record describes exactly those bytes."""
    members = [(f"train/{i:09d}.json", b"{}") for i in range(2)]
    writer = ShardWriter(tmp_path, {"config": {}})
    seen = []

    def add(record):
        path = tmp_path / record.name
        seen.append((record, path.is_file() and _sha(path) == record.sha256))
        real_add(record)

    real_add, writer.records.add = writer.records.add, add
    record = writer.write(ShardJob("train", 3, 6, 8), members)
    assert seen == [(record, True)]
    assert (record.name, record.first_index, record.count) == ("train-000003.tar", 6, 2)
    assert record.bytes == (tmp_path / record.name).stat().st_size
    assert load_manifest(tmp_path).shards == {record.name: record}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

def test_verify_catches_flipped_byte_truncation_and_missing(tiny_shards):
    assert verify(tiny_shards).ok
    shard = tiny_shards / "train-000000.tar"
    data = bytearray(shard.read_bytes())
    data[700] ^= 0x01
    shard.write_bytes(bytes(data))
    second = tiny_shards / "train-000001.tar"
    second.write_bytes(second.read_bytes()[:1500])
    (tiny_shards / "test-000000.tar").unlink()
    (tiny_shards / "train-000099.tar").write_bytes(b"")
    problems = verify(tiny_shards).problems
    assert "sha256" in problems["train-000000.tar"]
    assert "size" in problems["train-000001.tar"]
    assert problems["test-000000.tar"] == "missing"
    assert "not in the manifest" in problems["train-000099.tar"]
    assert "test-000001.tar" not in problems


def test_verify_deep_catches_wrong_members_with_matching_hash(tmp_path, make_shards):
    folder = make_shards(tmp_path / "s", counts={"train": 4})
    # A shard whose manifest record is self-consistent but whose samples are incomplete.
    shard = folder / "train-000000.tar"
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()][:-1]
    from datagen.shards.tarwrite import tar_bytes
    data = tar_bytes([(m.name, d) for m, d in members])
    shard.write_bytes(data)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["shards"][0].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert "members" in verify(folder).problems["train-000000.tar"]


def test_rank_parts_merge_to_the_single_process_manifest(tmp_path, make_shards):
    """Same shard records: the merged rank parts are byte-identical to the single-process
    manifest."""
    single = make_shards(tmp_path / "one", counts={"train": 8})
    multi = tmp_path / "two"
    samples = list(open_pairs(single, "train", split_by_worker=False))
    header = {"config": {"fixture": "tiny", "seed": 0}}
    for rank in (1, 0):  # rank r of 2 owns shards k ≡ r (mod 2); rank 1 finishes first
        writer = ManifestWriter(multi, header, rank=rank, world_size=2)
        name = f"train-{rank:06d}.tar"
        (multi / name).write_bytes((single / name).read_bytes())
        writer.add(load_manifest(single).shards[name])
    assert load_manifest(multi).shards == load_manifest(single).shards
    merge_parts(multi)
    assert (multi / "manifest.json").read_bytes() == (single / "manifest.json").read_bytes()
    assert not (multi / "manifest.d").exists() and verify(multi).ok
    assert len(samples) == 8


def test_mixing_configs_is_refused(tmp_path, make_shards):
    folder = make_shards(tmp_path / "s", counts={"train": 4})
    ManifestWriter(folder, {"config": {"other": 1}}, rank=1, world_size=2)
    with pytest.raises(UserInputError, match="different config"):
        load_manifest(folder)


def test_reader_errors_are_user_errors(tmp_path, tiny_shards):
    with pytest.raises(UserInputError, match="no manifest.json"):
        open_pairs(tmp_path)
    with pytest.raises(UserInputError, match="no finished shards for split 'val'"):
        open_pairs(tiny_shards, "val")
    with pytest.raises(ValueError, match="json lacks"):
        PairSample("train", 0, *[np.zeros((2, 2, 3), np.uint8)] * 4, {}).members()


def test_docs_snippet_reads_shards_without_our_code(tiny_shards):
    doc = (Path(__file__).parents[2] / "docs" / "shards.md").read_text()
    block = doc.split("```python plain-webdataset\n", 1)[1].split("```", 1)[0]
    code = f"SHARDS = {str(tiny_shards / 'train-{000000..000001}.tar')!r}\n" + block
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tiny_shards.parent)
    assert proc.returncode == 0, proc.stderr
    assert "train/000000000 (16, 16, 3) (128, 128, 3)" in proc.stdout
    assert "datagen" not in block and "cpgan" not in block


def test_cli_inspect_verify_preview(tiny_shards, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["inspect", str(tiny_shards)])
    assert res.exit_code == 0, res.output
    assert "train" in res.output and "ok" in res.output
    res = runner.invoke(main, ["verify", str(tiny_shards)])
    assert res.exit_code == 0 and "3 shards verified" in res.output
    out = tmp_path / "preview.png"
    res = runner.invoke(main, ["preview", str(tiny_shards), "--out", str(out), "--n", "3"])
    assert res.exit_code == 0, res.output
    grid = read_image(out)
    assert grid.shape[1] == 4 * 130 + 2 and grid.shape[0] == 3 * (128 + 14 + 2) + 2
    (tiny_shards / "test-000000.tar").write_bytes(b"garbage")
    res = runner.invoke(main, ["verify", str(tiny_shards)])
    assert res.exit_code == 1 and "test-000000.tar" in res.output
    res = runner.invoke(main, ["inspect", str(tmp_path / "nowhere")])
    assert res.exit_code == 1 and "Error:" in res.output and "Traceback" not in res.output


def test_docs_snippet_reads_shards_with_hf_datasets(tiny_shards, tmp_path):
    doc = (Path(__file__).parents[2] / "docs" / "shards.md").read_text()
    block = doc.split("```python hf-datasets\n", 1)[1].split("```", 1)[0]
    files = sorted(str(p) for p in tiny_shards.glob("train-*.tar"))
    code = f"SHARD_FILES = {files!r}\n" + block
    env = {**__import__("os").environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "train/000000000 (16, 16) (128, 128) id0" in proc.stdout
