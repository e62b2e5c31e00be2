import numpy as np
import pytest

from facecore.errors import UserInputError
from datagen.sources.base import FaceRecord, SplitFractions, split_indices, split_of


class _Toy:
    """A minimal FaceSource: 3 images for each of 300 identities."""

    name = "toy"
    licence = "test"

    def __len__(self):
        return 900

    def identity_of(self, index):
        return f"id{index // 3}"

    def illumination_of(self, index):
        return None

    def __getitem__(self, index):
        return FaceRecord(np.zeros((4, 4, 3), np.uint8), self.identity_of(index))


def test_split_is_stable_and_identity_disjoint():
    src = _Toy()
    parts = {s: split_indices(src, s) for s in ("train", "val", "test")}
    ids = {s: {src.identity_of(i) for i in idx} for s, idx in parts.items()}
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"])
    assert not (ids["val"] & ids["test"])
    assert sum(len(v) for v in parts.values()) == len(src)
    # roughly the default 80/10/10 over 300 identities
    assert 0.7 < len(ids["train"]) / 300 < 0.9
    # stable: the same identity always lands in the same split, across calls and salts differ
    assert split_of("id7") == split_of("id7")
    assert {split_of(f"x{i}", salt="a") for i in range(50)} == {"train", "val", "test"}


def test_fractions_validated():
    with pytest.raises(UserInputError):
        SplitFractions(0.5, 0.5, 0.5)
    only_test = SplitFractions(0.0, 0.0, 1.0)
    assert all(split_of(f"p{i}", only_test) == "test" for i in range(20))
    with pytest.raises(UserInputError, match="unknown split"):
        split_indices(_Toy(), "dev")


def test_face_record_checks_shapes():
    with pytest.raises(ValueError):
        FaceRecord(np.zeros((4, 4), np.uint8), "a")
    with pytest.raises(ValueError):
        FaceRecord(np.zeros((4, 4, 3), np.uint8), "a", landmarks=np.zeros((5, 2), np.float32))
