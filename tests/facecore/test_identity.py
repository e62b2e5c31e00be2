"""Face-identity embedding (dlib ResNet) and rank-1 identification."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facecore.align import FaceFinder, alignment_matrix, canonical_template, warp_face
from facecore.errors import UserInputError
from facecore.identity import FaceEmbedder, rank1_accuracy, rank1_hits

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def crops() -> dict[str, np.ndarray]:
    """Aligned 128² crops: the astronaut, mirrored, shifted, darkened; and 4 LFW strangers."""
    finder = FaceFinder()
    photo = np.ascontiguousarray(skimage_data.astronaut()[0:240, 100:340])

    def aligned(image: np.ndarray) -> np.ndarray:
        fit = finder.find(np.ascontiguousarray(image))
        assert fit is not None
        return warp_face(image, alignment_matrix(fit.landmarks, 128), 128)

    shift = np.float32([[1, 0, 11], [0, 1, -7]])
    out = {
        "astronaut": aligned(photo),
        "mirrored": aligned(photo[:, ::-1]),
        "shifted": aligned(cv2.warpAffine(photo, shift, (240, 240),
                                          borderMode=cv2.BORDER_REFLECT)),
        "darker": aligned((photo * 0.6 + 20).astype(np.uint8)),
    }
    # scikit-image's LFW subset: its first 100 images are 25×25 faces of other people
    lfw = skimage_data.lfw_subset()[:4]
    for k, face in enumerate(lfw):
        rgb = np.repeat((face[:, :, None] * 255).round().astype(np.uint8), 3, axis=2)
        out[f"stranger{k}"] = cv2.resize(rgb, (128, 128), interpolation=cv2.INTER_CUBIC)
    return out


@pytest.fixture(scope="module")
def embedder() -> FaceEmbedder:
    return FaceEmbedder()


def test_embed_shape_dtype_and_determinism(crops, embedder):
    batch = np.stack([crops["astronaut"], crops["stranger0"]])
    a, b = embedder.embed(batch), embedder.embed(batch)
    assert a.shape == (2, 128) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.isfinite(a).all() and (np.linalg.norm(a, axis=1) > 0.1).all()
    # landmarks equal to the template give the template embedding
    lm = np.stack([canonical_template(128)] * 2)
    assert np.allclose(embedder.embed(batch, lm), a, atol=1e-5)


def test_same_person_is_closer_than_other_people(crops):
    for mode in ("template", "predict"):
        emb = FaceEmbedder(shape=mode).embed(np.stack(list(crops.values())))
        d = dict(zip(crops, np.linalg.norm(emb - emb[0], axis=1)))
        same = max(d["mirrored"], d["shifted"], d["darker"])
        others = min(v for k, v in d.items() if k.startswith("stranger"))
        assert same < 0.45 < others, (mode, d)  # dlib's same-person threshold is 0.6


def test_embed_rejects_bad_input(embedder):
    with pytest.raises(UserInputError, match="square crops"):
        embedder.embed(np.zeros((1, 64, 48, 3), np.uint8))
    with pytest.raises(UserInputError, match="square crops"):
        embedder.embed(np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(UserInputError, match="landmarks must be"):
        embedder.embed(np.zeros((2, 64, 64, 3), np.uint8), np.zeros((1, 68, 2)))


def test_rank1_accuracy_on_constructed_embeddings():
    gallery = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    gallery_ids = ["a", "b", "c"]
    probes = np.array([[1.0, 1.0], [9.0, 1.0], [1.0, 9.0], [6.0, 0.0], [0.0, 4.0]])
    # nearest:          a            b           c           b (wrong)   a
    probe_ids = ["a", "b", "c", "a", "a"]
    assert rank1_accuracy(probes, probe_ids, gallery, gallery_ids) == pytest.approx(4 / 5)
    assert rank1_hits(probes, probe_ids, gallery, gallery_ids).tolist() == [True, True, True,
                                                                          False, True]
    assert rank1_accuracy(gallery, gallery_ids, gallery, gallery_ids) == 1.0
    assert rank1_accuracy(probes[:1], ["z"], gallery, gallery_ids) == 0.0  # not in gallery
    with pytest.raises(UserInputError, match="one identity per"):
        rank1_accuracy(probes, probe_ids[:2], gallery, gallery_ids)
    with pytest.raises(UserInputError, match="embeddings"):
        rank1_accuracy(probes, probe_ids, gallery[:, :1], gallery_ids)


def test_rank1_with_real_embeddings(crops, embedder):
    names = list(crops)
    emb = embedder.embed(np.stack(list(crops.values())))
    ids = ["collins" if not n.startswith("stranger") else n for n in names]
    gallery = [0] + [i for i, n in enumerate(names) if n.startswith("stranger")]
    probes = [names.index(n) for n in ("mirrored", "shifted", "darker")]
    acc = rank1_accuracy(emb[probes], [ids[i] for i in probes], emb[gallery],
                         [ids[i] for i in gallery])
    assert acc == 1.0


def test_aligned_descriptor_is_dlibs_descriptor_with_gradients(crops, embedder):
    """The torch path (fixed chip grid of the canonical template + the port of dlib's net)
    gives dlib's own template-mode descriptor up to chip interpolation: measured ≈ 0.01,
    against ≥ 0.4 between the astronaut and strangers; gradients reach the crop."""
    import torch

    from facecore.identity import AlignedFaceDescriptor

    names = ["astronaut", "darker", "stranger0", "stranger1"]
    batch = np.stack([crops[k] for k in names])
    expected = embedder.embed(batch)
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255).requires_grad_(True)
    net = AlignedFaceDescriptor()
    got = net(x)
    gaps = np.linalg.norm(got.detach().numpy() - expected, axis=1)
    assert (gaps < 0.03).all(), gaps
    assert np.linalg.norm(expected[0] - expected[2]) > 10 * gaps.max()
    got.pow(2).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert net.weights_record["package"] == "face-recognition-models"
    with pytest.raises(ValueError, match="square"):
        net(torch.zeros(1, 3, 64, 32))
