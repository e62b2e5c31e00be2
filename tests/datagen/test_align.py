"""Face alignment: template, similarity fit, dlib on a real photo, and ``datagen align``."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from facecore.align import (EYE_DISTANCE, FaceFinder, alignment_matrix, canonical_template,
                           eye_distance_of, padding_fraction,
                           similarity_transform, transform_points, warp_face)
from datagen.align_dataset import REPORT_CSV, AlignConfig, align_source
from datagen.cli import main
from facecore.errors import UserInputError
from facecore.imageio import read_image, write_image
from datagen.sources import open_source

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """A 240×240 crop of scikit-image's astronaut photo (Eileen Collins) around her face."""
    return np.ascontiguousarray(skimage_data.astronaut()[0:240, 100:340])


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    return FaceFinder()


def _facial_order(lm: np.ndarray) -> None:
    """Eyes above nose tip above mouth; subject's right eye (36–41) on the image left."""
    eyes_y = lm[36:48, 1].mean()
    assert eyes_y < lm[30, 1] < lm[48:68, 1].mean()
    assert lm[36:42, 0].mean() < lm[30, 0] < lm[42:48, 0].mean()


def test_template_is_a_face_inside_the_crop():
    t = canonical_template(128)
    assert t.shape == (68, 2) and t.dtype == np.float32
    _facial_order(t)
    assert t.min() >= 0 and t.max() < 128
    right, left = t[36:42].mean(0), t[42:48].mean(0)
    assert np.linalg.norm(left - right) == pytest.approx(0.225 * 128, rel=1e-5)
    assert np.allclose(canonical_template(256), 2 * t, atol=1e-3)
    with pytest.raises(UserInputError, match="eye_distance"):
        canonical_template(128, eye_distance=0.9)


def test_eye_distance_of_reads_the_framing_back_from_landmarks():
    for framing in (EYE_DISTANCE, 0.356):
        marks = np.stack([canonical_template(128, eye_distance=framing),
                          np.full((68, 2), np.nan, np.float32)])  # a sample without landmarks
        assert eye_distance_of(marks, 128) == pytest.approx(framing, abs=1e-4)
    assert np.isnan(eye_distance_of(np.full((2, 68, 2), np.nan), 128))


def test_similarity_transform_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (20, 2))
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -8.0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + shift
    m = similarity_transform(src, dst)
    assert np.allclose(m[:, :2], scale * rot) and np.allclose(m[:, 2], shift)
    assert np.allclose(transform_points(src, m), dst, atol=1e-4)


def test_astronaut_face_found_and_aligned_to_the_template(astronaut, finder):
    fit = finder.find(astronaut)
    assert fit is not None and fit.n_faces == 1 and fit.score > 0.5
    _facial_order(fit.landmarks)
    left, top, right, bottom = fit.box
    inside = (fit.landmarks[:, 0] > left - 10) & (fit.landmarks[:, 0] < right + 10) \
        & (fit.landmarks[:, 1] > top - 10) & (fit.landmarks[:, 1] < bottom + 20)
    assert inside.all()
    m = alignment_matrix(fit.landmarks, 128)
    crop = warp_face(astronaut, m, 128)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    lm = transform_points(fit.landmarks, m)
    _facial_order(lm)
    error = np.linalg.norm(lm[17:] - canonical_template(128)[17:], axis=1)
    assert error.mean() < 3.0 and error.max() < 8.0  # pixels of the 128² crop
    # the aligned crop itself is found again, at the template
    again = finder.find(crop)
    assert again is not None
    assert np.linalg.norm(again.landmarks[17:] - lm[17:], axis=1).mean() < 3.0


def test_cnn_detector_finds_the_same_face(astronaut, finder):
    fit = FaceFinder(detector="cnn", upsample=0).find(astronaut)
    assert fit is not None and fit.n_faces == 1
    _facial_order(fit.landmarks)
    hog = finder.find(astronaut)
    assert np.linalg.norm(fit.landmarks[17:] - hog.landmarks[17:], axis=1).mean() < 4.0
    with pytest.raises(UserInputError, match="unknown detector"):
        FaceFinder(detector="haar")


def test_no_face_in_a_flat_gray_image(finder):
    assert finder.find(np.full((160, 160, 3), 128, np.uint8)) is None


def test_padding_fraction_counts_the_crop_outside_the_source():
    """A 128² crop of a 128² image through the identity has no padding; shifted by 32 px
    a quarter of it is outside; shrunk to half size three quarters are — and warp_face
    paints exactly those pixels black."""
    shape = (128, 128, 3)
    identity = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    assert padding_fraction(shape, identity, 128) == 0.0
    shifted = np.array([[1.0, 0, 32], [0, 1.0, 0]])  # crop x = source x + 32
    assert padding_fraction(shape, shifted, 128) == pytest.approx(0.25)
    half = np.array([[0.5, 0, 0], [0, 0.5, 0]])
    assert padding_fraction(shape, half, 128) == pytest.approx(0.75)
    crop = warp_face(np.full(shape, 200, np.uint8), half, 128)
    assert (crop.max(2) == 0).mean() == pytest.approx(0.75, abs=0.01)


def _tiny_folder(root: Path, astronaut: np.ndarray) -> Path:
    write_image(root / "collins" / "a.png", astronaut)
    write_image(root / "collins" / "b.jpg", np.ascontiguousarray(astronaut[:, ::-1]))
    write_image(root / "gray.png", np.full((96, 96, 3), 128, np.uint8))
    return root


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_align_folder_writes_crops_landmarks_and_report(tmp_path, astronaut):
    """Same process, same input files: a second alignment run writes byte-identical crops."""
    src = _tiny_folder(tmp_path / "src", astronaut)
    counts = align_source(open_source("folder", root=src), tmp_path / "out", progress=False)
    assert counts == {"aligned": 2, "no_face": 1}
    report = {r["source_file"]: r for r in _rows(tmp_path / "out" / REPORT_CSV)}
    assert report["gray.png"]["status"] == "no_face" and report["gray.png"]["file"] == ""
    assert report["collins/b.jpg"]["file"] == "collins/b.png"
    # the astronaut photo holds the face with room around it: its crops invent no border
    assert float(report["collins/a.png"]["padding"]) == 0.0 and report["gray.png"]["padding"] == ""
    assert not (tmp_path / "out" / "gray.png").exists()
    aligned = open_source("folder", root=tmp_path / "out")
    assert list(aligned.index.files) == ["collins/a.png", "collins/b.png"]
    for i in range(2):
        rec = aligned[i]
        assert rec.image.shape == (128, 128, 3) and rec.identity == "collins"
        _facial_order(rec.landmarks)
        assert np.abs(rec.landmarks[17:] - canonical_template(128)[17:]).mean() < 3.0
    # determinism: a second run elsewhere writes the same bytes
    align_source(open_source("folder", root=src), tmp_path / "out2", progress=False)
    for name in ("collins/a.png", "collins/b.png", "landmarks.csv", "labels.csv", REPORT_CSV):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes()


def test_align_resumes_without_redoing_or_duplicating(tmp_path, astronaut):
    src = _tiny_folder(tmp_path / "src", astronaut)
    out = tmp_path / "out"
    align_source(open_source("folder", root=src), out, progress=False)
    full = {n: (out / n).read_bytes() for n in ("landmarks.csv", "labels.csv", REPORT_CSV)}
    # simulate a crash after collins/b's crop and CSV rows but before its report row
    lines = (out / REPORT_CSV).read_text().splitlines(keepends=True)
    (out / REPORT_CSV).write_text("".join(l for l in lines if not l.startswith("collins/b.jpg")))
    (out / "collins" / "a.png").write_bytes(b"sentinel: must not be rewritten")
    counts = align_source(open_source("folder", root=src), out, progress=False)
    assert counts == {"aligned": 2, "no_face": 1}
    assert (out / "collins" / "a.png").read_bytes() == b"sentinel: must not be rewritten"
    assert len(_rows(out / "landmarks.csv")) == 2
    assert sorted(_rows(out / REPORT_CSV), key=str) == \
        sorted(csv.DictReader(full[REPORT_CSV].decode().splitlines()), key=str)
    with pytest.raises(UserInputError, match="aligned with other options"):
        align_source(open_source("folder", root=src), out, AlignConfig(size=64), progress=False)


def test_per_identity_reference_reuses_the_uniform_transform(tmp_path, astronaut, finder):
    gray = astronaut.mean(2).astype(np.uint8)
    dark = (gray * 0.03).astype(np.uint8)
    folder = tmp_path / "yale" / "CroppedYale" / "yaleB01"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "yaleB01_P00A+000E+00.pgm"), gray)
    cv2.imwrite(str(folder / "yaleB01_P00A+110E+65.pgm"), dark)
    source = open_source("extended_yale_b", root=tmp_path / "yale")
    assert finder.find(read_image(folder / "yaleB01_P00A+110E+65.pgm")) is None
    counts = align_source(source, tmp_path / "plain", progress=False)
    assert counts == {"aligned": 1, "no_face": 1}
    config = AlignConfig(per_identity_reference=True)
    counts = align_source(source, tmp_path / "ref", config, progress=False)
    assert counts == {"aligned": 1, "reference": 1}
    out = open_source("folder", root=tmp_path / "ref")
    uniform = out.uniform_index_of("yaleB01")
    dark_index = out.indices_of("yaleB01", "non-uniform")[0]
    assert np.array_equal(out[uniform].landmarks, out[dark_index].landmarks)
    # the reused transform invents the same border as the reference's
    padding = [float(r["padding"]) for r in _rows(tmp_path / "ref" / REPORT_CSV)]
    assert len(padding) == 2 and padding[0] == padding[1]
    fit = finder.find(read_image(folder / "yaleB01_P00A+000E+00.pgm"))
    expected = warp_face(read_image(folder / "yaleB01_P00A+110E+65.pgm"),
                         alignment_matrix(fit.landmarks, 128), 128)
    assert np.array_equal(out[dark_index].image, expected)


def test_align_cli(tmp_path, astronaut):
    src = _tiny_folder(tmp_path / "src", astronaut)
    runner = CliRunner()
    result = runner.invoke(main, ["align", str(src), str(tmp_path / "out"), "--size", "64",
                                  "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "aligned: 2" in result.output and "no_face: 1" in result.output
    assert read_image(tmp_path / "out" / "collins" / "a.png").shape == (64, 64, 3)
    assert "padding" in result.output and "0 of 2 crops over 5%" in result.output
    result = runner.invoke(main, ["align", str(src), str(tmp_path / "o4"), "--subjects", "1-3"])
    assert result.exit_code == 1 and "Error: " in result.output \
        and "--source extended_yale_b" in result.output
    result = runner.invoke(main, ["align", str(tmp_path / "nope"), str(tmp_path / "o2")])
    assert result.exit_code == 1 and "Error: " in result.output and "nope" in result.output
    result = runner.invoke(main, ["align", str(src), str(tmp_path / "o3"),
                                  "--source", "extended_yale_b"])
    assert result.exit_code == 1 and "CroppedYale: not found" in result.output
