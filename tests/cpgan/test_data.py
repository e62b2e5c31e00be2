"""Training/eval batches from shards: ranges, shapes, defined epochs, determinism, clear errors."""

import pytest
import torch

from cpgan.data import eval_loader, train_loader
from facecore.errors import UserInputError


def _keys(loader):
    return [b["keys"] for b in loader]


def test_train_batches_have_the_contract_shapes_and_ranges(tiny_shards):
    batches = list(train_loader(tiny_shards, batch_size=2, num_workers=0, seed=0, batches=3))
    assert len(batches) == 3
    b = batches[0]
    assert b["nilr"].shape == (2, 3, 16, 16) and b["uihr"].shape == (2, 3, 128, 128)
    assert b["guide"].shape == (2, 3, 128, 128) and b["nihr"].shape == (2, 3, 128, 128)
    for name in ("nilr", "nihr", "uihr", "guide"):
        assert b[name].min() >= -1 and b[name].max() <= 1 and b[name].min() < 0 < b[name].max()
    assert b["landmarks"].shape == (2, 68, 2) and b["landmarks"].dtype == torch.float32
    assert torch.isfinite(b["landmarks"]).all()
    assert all(k.startswith("train/") for k in b["keys"])


def test_epoch_stream_is_a_pure_function_of_seed_and_epoch(tiny_shards):
    def keys(**kw):
        return _keys(train_loader(tiny_shards, batch_size=2, num_workers=0, batches=4, **kw))

    assert keys(seed=0, epoch=0) == keys(seed=0, epoch=0)
    assert keys(seed=0, epoch=0) != keys(seed=0, epoch=1)
    assert keys(seed=0, epoch=0) != keys(seed=5, epoch=0)
    two_workers = _keys(train_loader(tiny_shards, batch_size=2, num_workers=2, seed=0,
                                     batches=4))
    assert len(two_workers) == 4
    assert two_workers == _keys(train_loader(tiny_shards, batch_size=2, num_workers=2, seed=0,
                                             batches=4))
    with pytest.raises(ValueError, match="multiple of the 2 worker"):
        train_loader(tiny_shards, batch_size=2, num_workers=2, seed=0, batches=3)


def test_eval_loader_yields_every_sample_once_in_order(tiny_shards):
    keys = [k for b in eval_loader(tiny_shards, split="test", batch_size=3) for k in b["keys"]]
    assert keys == [f"test/{i:09d}" for i in range(4)]
    capped = [k for b in eval_loader(tiny_shards, split="test", max_samples=2) for k in b["keys"]]
    assert capped == keys[:2]


def test_missing_or_empty_or_corrupt_data_is_one_clear_error(tmp_path, tiny_shards):
    with pytest.raises(UserInputError, match="no such shard directory"):
        train_loader(tmp_path / "nope", batch_size=2, num_workers=0, seed=0, batches=2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no manifest.json"):
        train_loader(tmp_path / "empty", batch_size=2, num_workers=0, seed=0, batches=2)
    shard = sorted(tiny_shards.glob("train-*.tar"))[0]
    shard.write_bytes(shard.read_bytes()[:1000])  # truncated
    with pytest.raises(UserInputError, match=f"{shard.name} fails verification"):
        train_loader(tiny_shards, batch_size=2, num_workers=0, seed=0, batches=2)
