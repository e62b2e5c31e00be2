"""dlib's face-recognition ResNet rebuilt in torch from dlib's own model file."""

from __future__ import annotations

import importlib.metadata
import re

import numpy as np
import pytest
import torch

from facecore import dlib_resnet
from facecore.dlib_models import FRONTAL_5, RESNET_DESCRIPTOR, model_path
from facecore.dlib_resnet import DlibFaceResNet, load_dlib_face_resnet, weights_record
from facecore.errors import UserInputError


@pytest.fixture(scope="module")
def net() -> DlibFaceResNet:
    return load_dlib_face_resnet()


def to_tensor(chips: np.ndarray) -> torch.Tensor:
    """(B, 150, 150, 3) uint8 RGB → (B, 3, 150, 150) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float() / 255


@pytest.fixture(scope="module")
def chips_and_dlib() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Chips cut as dlib cuts them, and dlib's own descriptors of those chips.

    The astronaut and her mirror image are detected and aligned separately (different
    landmarks, different chips); uniform noise is far from any face, so the three exercise
    different activation patterns.
    """
    dlib = pytest.importorskip("dlib")
    skimage_data = pytest.importorskip("skimage.data")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(model_path(FRONTAL_5)))
    photo = np.ascontiguousarray(skimage_data.astronaut())
    chips = {}
    for name, image in (("astronaut", photo), ("mirrored", np.ascontiguousarray(photo[:, ::-1]))):
        faces = detector(image, 1)
        assert len(faces) >= 1
        face = min(faces, key=lambda r: r.top())  # her face; a lower hit is on the suit
        chips[name] = np.asarray(dlib.get_face_chip(image, predictor(image, face), 150, 0.25))
    chips["noise"] = np.random.default_rng(0).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    reference = dlib.face_recognition_model_v1(str(model_path(RESNET_DESCRIPTOR)))
    wanted = {name: np.asarray(reference.compute_face_descriptor(chip), dtype=np.float32)
              for name, chip in chips.items()}
    return chips, wanted


def test_architecture_and_output_shape(net: DlibFaceResNet) -> None:
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 29
    assert sum(p.numel() for p in net.parameters()) == 5_614_592  # ≈ 5.6M as dlib reports
    assert not any(p.requires_grad for p in net.parameters())  # frozen metric
    with torch.no_grad():
        out = net(torch.rand(3, 3, 150, 150))
    assert out.shape == (3, 128) and out.dtype == torch.float32
    with pytest.raises(ValueError, match="150"):
        net(torch.rand(1, 3, 128, 128))


@pytest.mark.parametrize("name", ["astronaut", "mirrored", "noise"])
def test_matches_dlib_descriptor(net: DlibFaceResNet, chips_and_dlib, name: str) -> None:
    chips, wanted = chips_and_dlib
    with torch.no_grad():
        got = net(to_tensor(chips[name][None]))[0].numpy()
    assert np.abs(got - wanted[name]).max() <= 1e-5
    assert np.linalg.norm(wanted[name]) > 0.5  # a real descriptor, not a degenerate one


def test_batched_chips_match_and_differ(net: DlibFaceResNet, chips_and_dlib) -> None:
    """A batch gives each chip its own dlib descriptor; the chips are genuinely different."""
    chips, wanted = chips_and_dlib
    names = list(chips)
    with torch.no_grad():
        got = net(to_tensor(np.stack([chips[n] for n in names]))).numpy()
    np.testing.assert_allclose(got, np.stack([wanted[n] for n in names]), rtol=0, atol=1e-5)
    assert np.linalg.norm(wanted["astronaut"] - wanted["mirrored"]) > 0.05
    assert np.linalg.norm(wanted["astronaut"] - wanted["noise"]) > 0.3


def test_gradients_reach_the_input() -> None:
    """Input gradients are finite, nonzero and agree with a central finite difference
    (in float64, so the check measures the gradient and not float32 noise)."""
    net = load_dlib_face_resnet().double()
    gen = torch.Generator().manual_seed(0)
    x = (0.1 + 0.8 * torch.rand(1, 3, 150, 150, generator=gen, dtype=torch.float64))
    x.requires_grad_(True)
    weights = torch.randn(128, generator=gen, dtype=torch.float64)
    (net(x)[0] @ weights).backward()
    grad = x.grad
    assert grad is not None and torch.isfinite(grad).all()
    assert (grad != 0).float().mean() > 0.5
    direction = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    eps = 1e-7  # small enough that (almost) no relu or max-pool switches between x ± eps·d
    with torch.no_grad():
        plus = net(x + eps * direction)[0] @ weights
        minus = net(x - eps * direction)[0] @ weights
    numeric = float((plus - minus) / (2 * eps))
    analytic = float((grad * direction).sum())
    assert analytic == pytest.approx(numeric, rel=1e-5)


def test_parsed_once_and_modules_independent() -> None:
    hits = dlib_resnet._parsed.cache_info().hits
    a, b = load_dlib_face_resnet(), load_dlib_face_resnet()
    assert dlib_resnet._parsed.cache_info().hits >= hits + 1
    with torch.no_grad():
        a.fc.weight.zero_()
    assert b.fc.weight.abs().sum() > 0
    assert torch.equal(load_dlib_face_resnet().fc.weight, b.fc.weight)  # the cache is intact


def test_weights_record() -> None:
    record = weights_record()
    assert record["name"] == RESNET_DESCRIPTOR
    assert record["package"] == "face-recognition-models"
    assert record["version"] == importlib.metadata.version("face_recognition_models")
    assert re.fullmatch(r"[0-9a-f]{64}", record["sha256"] or "")


def _corrupt(data: bytes, how: str) -> bytes:
    if how == "truncated":
        return data[: len(data) // 2]
    if how == "header only":
        return data[:40]
    if how == "empty":
        return b""
    if how == "trailing bytes":
        return data + b"\x01\x00"
    if how == "renamed layer":
        return data.replace(b"con_4", b"con_9", 1)
    if how == "wrong filter count":  # the stem con's num_filters 32 → 33
        at = data.index(b"\x05con_4") + 6  # its params: 4736 = 32·3·7·7 + 32 floats
        assert data[at:at + 11] == b"\x01\x02\x02\x80\x12\x01\x01\x01\x01\x01\x01"
        at += 11 + 4 * 4736
        assert data[at:at + 2] == b"\x01\x20"
        return data[:at + 1] + b"\x21" + data[at + 2:]
    if how == "not dlib":
        return b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    raise AssertionError(how)


@pytest.mark.parametrize(("how", "says"), [
    ("truncated", "file ends inside"), ("header only", "file ends inside"),
    ("empty", "file ends inside"), ("trailing bytes", "2 unexpected bytes"),
    ("renamed layer", "'con_9'"), ("wrong filter count", r"\(33, 7, 7, 2, 2, 0, 0\)"),
    ("not dlib", "control byte")])
def test_corrupt_file_is_a_user_error(tmp_path, how: str, says: str) -> None:
    bad = tmp_path / "broken.dat"
    bad.write_bytes(_corrupt(model_path(RESNET_DESCRIPTOR).read_bytes(), how))
    with pytest.raises(UserInputError, match=f"broken.dat: not dlib's face-recognition ResNet"
                                             f".*{says}"):
        load_dlib_face_resnet(bad)


def test_other_dlib_model_and_missing_file_are_user_errors(tmp_path) -> None:
    with pytest.raises(UserInputError, match=FRONTAL_5):  # a real dlib file, another model
        load_dlib_face_resnet(model_path(FRONTAL_5))
    with pytest.raises(UserInputError, match="missing.dat"):
        load_dlib_face_resnet(tmp_path / "missing.dat")


def test_copy_elsewhere_loads_but_is_not_attributed_to_the_package(tmp_path,
                                                                   net: DlibFaceResNet) -> None:
    copy = tmp_path / "resnet_copy.dat"
    copy.write_bytes(model_path(RESNET_DESCRIPTOR).read_bytes())
    other = load_dlib_face_resnet(copy)
    for (name, p), q in zip(net.state_dict().items(), other.state_dict().values(),
                            strict=True):
        assert torch.equal(p, q), name
    record = weights_record(copy)
    assert record["package"] is None and record["version"] is None
    assert record["sha256"] == weights_record()["sha256"]
