"""Dataset readers on tiny fixtures written in each dataset's official layout and file formats."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from facecore.errors import UserInputError
from datagen.sources import SOURCES, FaceSource, open_source
from datagen.sources.base import LightingPairs
from datagen.sources.folder import LABEL_COLUMNS, LANDMARK_COLUMNS


def _face(seed: int, h: int = 24, w: int = 20) -> np.ndarray:
    """A small deterministic gray image (content is irrelevant to the readers)."""
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def _write(path: Path, gray: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), gray)
    return path


# ---------------------------------------------------------------- layout builders
def build_yale(root: Path, subjects=("yaleB01", "yaleB02"),
               lights=("A+000E+00", "A+035E+15", "A-110E-20")) -> Path:
    """CroppedYale/yaleBNN/yaleBNN_P00A±aaaE±ee.pgm + ambient image + .info file."""
    for s, subject in enumerate(subjects):
        folder = root / "CroppedYale" / subject
        for k, light in enumerate(lights):
            _write(folder / f"{subject}_P00{light}.pgm", _face(10 * s + k))
        _write(folder / f"{subject}_P00_Ambient.pgm", _face(99))
        (folder / f"{subject}_P00.info").write_text(
            "\n".join(f"{subject}_P00{light}.pgm" for light in lights) + "\n")
    return root


def build_celeba(root: Path, n: int = 4, *, partition: bool = True) -> Path:
    """img_align_celeba/ + list_landmarks_align_celeba.txt + identity_CelebA.txt (+ partition)."""
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    for i, name in enumerate(names):
        _write(root / "img_align_celeba" / name, _face(i, 218, 178))
    header = ("lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x "
              "leftmouth_y rightmouth_x rightmouth_y")
    rows = [f"{name}    {69 + i}  109  106  113   77  142   73  152  108  154"
            for i, name in enumerate(names)]
    (root / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\n{header}\n" + "\n".join(rows) + "\n")
    (root / "identity_CelebA.txt").write_text(
        "".join(f"{name} {2880 + i // 2}\n" for i, name in enumerate(names)))
    if partition:
        (root / "list_eval_partition.txt").write_text(
            "".join(f"{name} {min(i, 2)}\n" for i, name in enumerate(names)))
    return root


def build_multipie(root: Path) -> Path:
    """data/sessionNN/multiview/<subj>/<rec>/<cam>/<subj>_<sess>_<rec>_<cam>_<ill>.png."""
    for subject in ("001", "002"):
        for camera in ("05_1", "14_0"):
            for ill in ("00", "07", "12"):
                cam = camera.replace("_", "")
                _write(root / "data" / "session01" / "multiview" / subject / "01" / camera /
                       f"{subject}_01_01_{cam}_{ill}.png", _face(int(subject) + int(ill)))
    return root


def build_coco(root: Path) -> Path:
    for image_id in (9, 25, 30):
        _write(root / "train2017" / f"{image_id:012d}.jpg", _face(image_id))
    return root


def build_wikiart(root: Path) -> Path:
    _write(root / "Impressionism" / "claude-monet_water-lilies.jpg", _face(1))
    _write(root / "Impressionism" / "edgar-degas_dancers.jpg", _face(2))
    _write(root / "Cubism" / "pablo-picasso_guitar.jpg", _face(3))
    return root


def build_folder(root: Path) -> Path:
    """alice/a.png, alice/b.png, bob/c.png, top.png, with landmarks.csv for one image."""
    for rel in ("alice/a.png", "alice/b.png", "bob/c.png", "top.png"):
        _write(root / rel, _face(len(rel), 32, 32))
    with (root / "landmarks.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(LANDMARK_COLUMNS)
        w.writerow(["alice/b.png"] + [f"{v:.2f}" for v in np.arange(136) / 5.0])
    return root


# ---------------------------------------------------------------- Extended Yale B
def test_extended_yale_b_reads_official_layout(tmp_path):
    src = open_source("extended_yale_b", root=build_yale(tmp_path))
    assert isinstance(src, FaceSource) and isinstance(src, LightingPairs)
    assert len(src) == 6  # 2 subjects × 3 lights, ambient excluded
    assert src.identities == ["yaleB01", "yaleB02"]
    assert [src.illumination_of(i) for i in range(3)] == ["uniform", "non-uniform", "non-uniform"]
    rec = src[1]  # files sort as A+000E+00, A+035E+15, A-110E-20
    assert rec.image.shape == (24, 20, 3) and rec.image.dtype == np.uint8
    assert np.array_equal(rec.image[:, :, 0], _face(1)) and np.array_equal(rec.image[:, :, 2],
                                                                             _face(1))
    assert rec.meta["azimuth"] == 35 and rec.meta["elevation"] == 15
    assert src[2].meta["azimuth"] == -110 and src[2].meta["elevation"] == -20
    assert rec.landmarks is None and rec.identity == "yaleB01"
    assert src.uniform_index_of("yaleB02") == 3
    assert src.indices_of("yaleB02", "non-uniform") == [4, 5]
    # CroppedYale itself is accepted as the root too
    assert len(open_source("extended_yale_b", root=tmp_path / "CroppedYale")) == 6


def test_extended_yale_b_subjects_keeps_only_those(tmp_path):
    root = build_yale(tmp_path, subjects=("yaleB01", "yaleB02", "yaleB29"))
    assert open_source("extended_yale_b", root=root, subjects="29-39").identities == ["yaleB29"]
    assert open_source("extended_yale_b", root=root, subjects="1-28").identities == \
        ["yaleB01", "yaleB02"]
    with pytest.raises(UserInputError, match="no yaleBNN folder numbered in subjects '40-41'"):
        open_source("extended_yale_b", root=root, subjects="40-41")


def test_extended_yale_b_ambient_kept_when_asked(tmp_path):
    src = open_source("extended_yale_b", root=build_yale(tmp_path), include_ambient=True)
    assert len(src) == 8
    ambient = [i for i in range(len(src)) if src[i].meta["ambient"]]
    assert len(ambient) == 2 and all(src.illumination_of(i) is None for i in ambient)


def test_extended_yale_b_wrong_layout_errors(tmp_path):
    with pytest.raises(UserInputError, match="CroppedYale: not found"):
        open_source("extended_yale_b", root=tmp_path)
    build_yale(tmp_path)
    _write(tmp_path / "CroppedYale" / "yaleB01" / "yaleB01_P00A+35E+1.pgm", _face(0))
    with pytest.raises(UserInputError, match="yaleB01_P00A\\+35E\\+1.pgm: unexpected name"):
        open_source("extended_yale_b", root=tmp_path)


def test_uniform_index_of_missing_uniform_errors(tmp_path):
    src = open_source("extended_yale_b", root=build_yale(tmp_path, lights=("A+035E+15",)))
    with pytest.raises(UserInputError, match="no uniformly lit image"):
        src.uniform_index_of("yaleB01")
    with pytest.raises(UserInputError, match="unknown identity"):
        src.indices_of("yaleB77")


# ---------------------------------------------------------------- CelebA
def test_celeba_reads_official_files(tmp_path):
    src = open_source("celeba", root=build_celeba(tmp_path))
    assert len(src) == 4
    assert [src.identity_of(i) for i in range(4)] == ["2880", "2880", "2881", "2881"]
    rec = src[1]
    assert rec.image.shape == (218, 178, 3) and rec.landmarks is None
    assert rec.meta["landmarks5"] == [[70.0, 109.0], [106.0, 113.0], [77.0, 142.0],
                                      [73.0, 152.0], [108.0, 154.0]]
    assert rec.illumination is None and rec.meta["file"] == "img_align_celeba/000002.jpg"
    test = open_source("celeba", root=tmp_path, partition="test")
    assert [test.index.files[i] for i in range(len(test))] == \
        ["img_align_celeba/000003.jpg", "img_align_celeba/000004.jpg"]
    assert len(open_source("celeba", root=tmp_path, partition="val")) == 1


def test_celeba_wrong_layouts(tmp_path):
    with pytest.raises(UserInputError, match="img_align_celeba: not found; a CelebA root holds"):
        open_source("celeba", root=tmp_path)
    build_celeba(tmp_path, partition=False)
    with pytest.raises(UserInputError, match="list_eval_partition.txt: not found"):
        open_source("celeba", root=tmp_path, partition="train")
    (tmp_path / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(UserInputError, match="000003.jpg: listed in"):
        open_source("celeba", root=tmp_path)
    lines = (tmp_path / "list_landmarks_align_celeba.txt").read_text().splitlines()
    (tmp_path / "list_landmarks_align_celeba.txt").write_text("\n".join(["7"] + lines[1:]))
    with pytest.raises(UserInputError, match="says 7 images but lists 4"):
        open_source("celeba", root=tmp_path)
    (tmp_path / "list_landmarks_align_celeba.txt").write_text("\n".join(lines[2:]))
    with pytest.raises(UserInputError, match="count line then the header"):
        open_source("celeba", root=tmp_path)


# ---------------------------------------------------------------- Multi-PIE
def test_multipie_frontal_camera_and_flash_07_uniform(tmp_path):
    src = open_source("multipie", root=build_multipie(tmp_path))
    assert len(src) == 6  # 2 subjects × 3 illuminations, camera 05_1 only
    assert src.identities == ["001", "002"]
    assert [src.illumination_of(i) for i in range(3)] == ["non-uniform", "uniform", "non-uniform"]
    assert src[1].meta["flash"] == 7 and src[1].meta["camera"] == "05_1"
    assert src[1].meta["file"] == "data/session01/multiview/001/01/05_1/001_01_01_051_07.png"
    assert src.uniform_index_of("002") == 4
    assert len(open_source("multipie", root=tmp_path, camera="14_0")) == 6


def test_multipie_wrong_layouts(tmp_path):
    with pytest.raises(UserInputError, match="data: not found; a Multi-PIE root holds"):
        open_source("multipie", root=tmp_path)
    build_multipie(tmp_path)
    with pytest.raises(UserInputError, match="no images of camera 08_0"):
        open_source("multipie", root=tmp_path, camera="08_0")
    _write(tmp_path / "data/session01/multiview/001/01/05_1/002_01_01_051_07.png", _face(0))
    with pytest.raises(UserInputError, match="does not match its folders"):
        open_source("multipie", root=tmp_path)


# ---------------------------------------------------------------- COCO, WikiArt
def test_coco_and_wikiart(tmp_path):
    coco = open_source("coco", root=build_coco(tmp_path / "coco"))
    assert len(coco) == 3 and coco.identity_of(0) == "000000000009"
    assert coco[1].meta["image_id"] == 25 and coco[1].illumination is None
    art = open_source("wikiart", root=build_wikiart(tmp_path / "art"))
    assert len(art) == 3
    assert art.identity_of(0) == "Cubism/pablo-picasso_guitar.jpg"
    assert art[1].meta["style"] == "Impressionism"
    with pytest.raises(UserInputError, match="train2017: not found; a COCO root holds"):
        open_source("coco", root=tmp_path / "art")
    with pytest.raises(UserInputError, match="no <style>/<file>.jpg paintings"):
        open_source("wikiart", root=tmp_path / "coco/train2017")


# ---------------------------------------------------------------- folder
def test_folder_identities_landmarks_and_labels(tmp_path):
    src = open_source("folder", root=build_folder(tmp_path))
    files = list(src.index.files)
    assert files == ["alice/a.png", "alice/b.png", "bob/c.png", "top.png"]
    assert [src.identity_of(i) for i in range(4)] == ["alice", "alice", "bob", "top"]
    assert src[0].landmarks is None and src.illumination_of(0) is None
    lm = src[1].landmarks
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    assert lm[0].tolist() == pytest.approx([0.0, 0.2])
    assert lm[67].tolist() == pytest.approx([26.8, 27.0])
    with (tmp_path / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(LABEL_COLUMNS)
        w.writerow(["alice/a.png", "person-1", "uniform"])
        w.writerow(["bob/c.png", "person-1", "non-uniform"])
    src = open_source("folder", root=tmp_path)
    assert src.identity_of(0) == "person-1" and src.identity_of(1) == "alice"
    assert src.indices_of("person-1", "non-uniform") == [2]
    assert src.uniform_index_of("person-1") == 0


def test_folder_errors(tmp_path):
    with pytest.raises(UserInputError, match="no such folder"):
        open_source("folder", root=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="empty: no images found"):
        open_source("folder", root=tmp_path / "empty")
    build_folder(tmp_path / "f")
    (tmp_path / "f" / "bob" / "broken.png").write_bytes(b"not a png")
    src = open_source("folder", root=tmp_path / "f")
    broken = list(src.index.files).index("bob/broken.png")
    with pytest.raises(UserInputError, match="broken.png: not a readable image"):
        src[broken]
    with (tmp_path / "f" / "landmarks.csv").open("a", newline="") as fh:
        csv.writer(fh).writerow(["ghost.png"] + ["1"] * 136)
    with pytest.raises(UserInputError, match="lists 1 file.*ghost.png"):
        open_source("folder", root=tmp_path / "f")
    (tmp_path / "f" / "landmarks.csv").write_text("file,x0,y0\nalice/a.png,1,2\n")
    with pytest.raises(UserInputError, match="header must be file,x0,y0,x1"):
        open_source("folder", root=tmp_path / "f")


def test_all_real_sources_registered():
    assert {"folder", "coco", "wikiart", "celeba", "multipie", "extended_yale_b"} <= set(SOURCES)
    with pytest.raises(UserInputError, match="does not take option"):
        open_source("celeba", root=".", camera="05_1")
