"""Training/eval batches from shards: ranges, shapes, defined epochs, determinism, clear errors."""

import pytest
import torch

from cpgan.data import MIRROR_68, eval_loader, mirror_sample, train_loader
from cpgan.heatmaps import render_heatmaps
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


def test_mirror_sample_mirrors_images_and_renumbers_landmarks():
    """Mirroring twice is the identity; a mirrored sample's heatmaps are the original's
    mirrored (left eye's map ↔ right eye's); the permutation is an involution of 68."""
    assert sorted(MIRROR_68) == list(range(68))
    assert all(MIRROR_68[MIRROR_68[i]] == i for i in range(68))
    assert (MIRROR_68[36], MIRROR_68[30], MIRROR_68[48]) == (45, 30, 54)
    gen = torch.Generator().manual_seed(0)
    sample = {k: torch.rand(3, s, s, generator=gen)
              for k, s in (("nilr", 16), ("nihr", 128), ("uihr", 128), ("guide", 128))}
    sample["json"] = {"landmarks_uihr": (torch.rand(68, 2, generator=gen) * 127).tolist(),
                      "identity": "a"}
    once, twice = mirror_sample(sample), mirror_sample(mirror_sample(sample))
    for k in ("nilr", "nihr", "uihr", "guide"):
        assert torch.equal(once[k], sample[k].flip(-1)) and torch.equal(twice[k], sample[k])
    torch.testing.assert_close(torch.tensor(twice["json"]["landmarks_uihr"]),
                               torch.tensor(sample["json"]["landmarks_uihr"]))
    maps = render_heatmaps(torch.tensor([sample["json"]["landmarks_uihr"]]))
    mirrored = render_heatmaps(torch.tensor([once["json"]["landmarks_uihr"]]))
    torch.testing.assert_close(mirrored, maps[:, MIRROR_68].flip(-1))
    assert once["json"]["identity"] == "a" and sample["json"]["landmarks_uihr"] != \
        once["json"]["landmarks_uihr"]


def test_hflip_mirrors_a_seeded_share_of_the_same_stream(tiny_shards):
    """hflip leaves the sample order alone and mirrors some samples exactly, the same ones
    on every run of the epoch."""
    def batches(hflip):
        return list(train_loader(tiny_shards, batch_size=2, num_workers=0, seed=0, batches=6,
                                 hflip=hflip))
    plain, flipped, again = batches(False), batches(True), batches(True)
    assert _keys(plain) == _keys(flipped)
    kinds = []
    for a, b, c in zip(plain, flipped, again):
        assert torch.equal(b["uihr"], c["uihr"])
        for i in range(2):
            same = torch.equal(a["uihr"][i], b["uihr"][i])
            assert same or torch.equal(a["uihr"][i].flip(-1), b["uihr"][i])
            assert torch.equal(b["nilr"][i], a["nilr"][i] if same else a["nilr"][i].flip(-1))
            kinds.append(same)
    assert any(kinds) and not all(kinds)


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
