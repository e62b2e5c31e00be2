"""Geometric relighting (``datagen.relight``) and ``datagen synth --relight geometric``."""

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from datagen.cli import main
from datagen.relight import GeometricLight, geometric_ratio, relight_geometric, \
    sample_geometric_light
from datagen.shards import load_manifest, open_pairs, verify
from datagen.sources.folder import LANDMARK_COLUMNS, write_landmarks_row
from datagen.sources.synthetic import SyntheticFaces
from datagen.sources.synthetic.params import directional_light
from datagen.synth import SynthConfig, Synthesizer, synth
from datagen.synth.regenerate import regenerate
from facecore.errors import UserInputError
from facecore.imageio import write_image

CFG = SynthConfig(relight="geometric", shard_size=4, batch_size=3, seed=3,
                  source_options={"n_identities": 40})
COUNTS = {"train": 8}


def _faces(n: int, size: int = 128):
    out = SyntheticFaces(size=size, n_identities=max(n, 2)).render(
        np.arange(n), np.zeros(n, np.int64), lighting="uniform")
    images = torch.from_numpy(out.images).permute(0, 3, 1, 2).float() / 255.0
    return out, images, torch.from_numpy(out.landmarks.astype(np.float64))


def _side_light(azimuth: float) -> dict:
    return {"lighting": "non-uniform", "kind": "geometric", "ambient": 0.05,
            "ambient_tint": [1.0, 1.0, 1.0],
            "lights": [directional_light(azimuth, 0.0, 1.5, [1.0, 1.0, 1.0])]}


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("geometric")
    assert synth(CFG, out, COUNTS).complete
    return out


def test_a_light_from_one_side_leaves_the_far_side_darker():
    """Azimuth > 0 is a light from the image right: the image-left half of the face (the
    cheek turned away) gets darker than the right, and the other way round for < 0."""
    _, images, marks = _faces(2)
    for azimuth, dark, lit in ((70.0, slice(34, 60), slice(68, 94)),
                               (-70.0, slice(68, 94), slice(34, 60))):
        relit = relight_geometric(images, marks, [_side_light(azimuth)] * 2)
        ratio = relit[:, :, 50:100].sum(1) / images[:, :, 50:100].sum(1).clamp(min=1e-3)
        assert (ratio[:, :, dark].mean((1, 2)) < 0.5 * ratio[:, :, lit].mean((1, 2))).all()
        assert (relit[:, :, 50:100, dark].mean((1, 2, 3))
                < images[:, :, 50:100, dark].mean((1, 2, 3))).all()


def test_the_nose_casts_a_shadow_that_a_frontal_light_does_not():
    _, _, marks = _faces(1)
    side = geometric_ratio(marks, [_side_light(-75.0)], 128)[0].mean(0)  # light from the left
    front = geometric_ratio(marks, [_side_light(0.0)], 128)[0].mean(0)
    nose_x, nose_y = (int(round(float(v))) for v in marks[0, 30])
    beside = side[nose_y - 2:nose_y + 3, nose_x + 4:nose_x + 9].mean()   # right of the tip
    before = side[nose_y - 2:nose_y + 3, nose_x - 9:nose_x - 4].mean()   # lit side of it
    assert beside < 0.6 * before
    assert (front[40:100, 40:90] > 0.5).all()


def test_a_face_relights_the_same_alone_or_in_a_batch(device):
    _, images, marks = _faces(4)
    images, marks = images.to(device), marks.to(device)
    lights = [sample_geometric_light(GeometricLight(), s) for s in range(4)]
    batch = relight_geometric(images, marks, lights)
    assert batch.device.type == device.type
    for b in range(4):
        assert torch.equal(relight_geometric(images[b:b + 1], marks[b:b + 1], lights[b:b + 1]),
                           batch[b:b + 1])


def test_sampled_lights_are_seeded_and_within_the_ranges():
    cfg = GeometricLight(azimuth=(20.0, 40.0), elevation=(-5.0, 5.0), intensity=(1.0, 1.2),
                         ambient=(0.1, 0.2))
    lights = [sample_geometric_light(cfg, s) for s in range(50)]
    assert lights[7] == sample_geometric_light(cfg, 7) and lights[7] != lights[8]
    azimuths = [d["lights"][0]["azimuth_deg"] for d in lights]
    assert all(20.0 <= abs(a) <= 40.0 for a in azimuths) and min(azimuths) < 0 < max(azimuths)
    assert all(0.1 <= d["ambient"] <= 0.2 and -5 <= d["lights"][0]["elevation_deg"] <= 5
               for d in lights)
    json.dumps(lights)  # JSON-ready


def test_the_light_is_in_the_json_and_a_sample_regenerates_from_it(shards):
    """NI-HR is a function of the stored UI-HR, landmarks and light alone."""
    samples = list(open_pairs(shards, "train", split_by_worker=False))
    assert len(samples) == 8
    for s in samples:
        meta = s["json"]
        light = meta["light"]
        assert meta["relight"] == "geometric" and light["kind"] == "geometric"
        assert {"azimuth_deg", "elevation_deg", "intensity", "tint", "direction"} \
            <= set(light["lights"][0])
        assert light == sample_geometric_light(CFG.geometric, meta["style_seed"])
        marks = torch.tensor(meta["landmarks_uihr"], dtype=torch.float64)[None]
        again = relight_geometric(s["uihr"][None], marks, [light])
        assert torch.equal(again.mul(255).round(), s["nihr"][None].mul(255).round())
        assert not torch.equal(s["nihr"], s["uihr"])


def test_same_config_same_bytes_and_verify_regenerates(shards, tmp_path):
    assert verify(shards).ok
    assert synth(CFG, tmp_path / "again", COUNTS, workers=1).complete
    assert _digests(tmp_path / "again") == _digests(shards)
    header = load_manifest(shards).header
    assert header["config"]["geometric"]["intensity"] == list(GeometricLight().intensity)
    diffs = regenerate(shards, 3)
    assert len(diffs) == 3 and all(d.identical for d in diffs)
    assert dict(Synthesizer(CFG).sample("train", 5).members()) == \
        dict(Synthesizer(CFG).sample("train", 5).members())


def test_the_light_ranges_come_from_params_and_other_relightings_record_none(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("synth:\n  n: 3\n  config:\n    relight: geometric\n    shard_size: 4\n"
                      "    batch_size: 3\n    source_options: {n_identities: 40}\n"
                      "    geometric:\n      azimuth: [80, 90]\n")
    res = CliRunner().invoke(main, ["synth", "--params", str(params), "--out",
                                    str(tmp_path / "a"), "--split", "train", "--workers", "0"])
    assert res.exit_code == 0, res.output
    for s in open_pairs(tmp_path / "a", "train", split_by_worker=False):
        assert 80 <= abs(s["json"]["light"]["lights"][0]["azimuth_deg"]) <= 90
    physical = SynthConfig(relight="physical", geometric=GeometricLight())
    assert physical.geometric is None
    assert "geometric" not in Synthesizer(physical).header()["config"]
    with pytest.raises(UserInputError, match="azimuth must be a range"):
        GeometricLight(azimuth=(90.0, 10.0))


def _folder(root: Path, *, landmarks: bool) -> Path:
    out = SyntheticFaces(size=64, n_identities=12).render(np.arange(12), np.zeros(12, np.int64),
                                                          lighting="uniform")
    rows = ["file,identity,illumination"]
    with (root.mkdir(parents=True) or (root / "landmarks.csv")).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(LANDMARK_COLUMNS)
        for i in range(12):
            name = f"p{i}/a.png"
            write_image(root / name, out.images[i])
            rows.append(f"{name},person{i},uniform")
            if landmarks:
                write_landmarks_row(writer, name, out.landmarks[i])
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_a_folder_of_aligned_photos_relights(tmp_path):
    root = _folder(tmp_path / "faces", landmarks=True)
    cfg = SynthConfig(source="folder", source_options={"root": str(root)}, relight="geometric",
                      shard_size=4, batch_size=2, split_fractions=(0.5, 0.0, 0.5))
    assert synth(cfg, tmp_path / "out", {"train": 4}).complete
    assert all(d.identical for d in regenerate(tmp_path / "out", 2))


def test_faces_without_landmarks_give_one_error_line(tmp_path):
    root = _folder(tmp_path / "faces", landmarks=False)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["synth", "--n", "4", "--out", str(out), "--source",
                                    f"folder:{root}", "--relight", "geometric", "--split",
                                    "train", "--split-fractions", "0.5", "0", "0.5",
                                    "--workers", "0"])
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert res.exit_code == 1 and "Traceback" not in res.output  # above it: the progress bar
    assert len(errors) == 1 and "has none: align the photos first (`datagen align" in errors[0]
    assert not list(out.glob("*.tar"))
    _, images, marks = _faces(1)
    with pytest.raises(UserInputError, match="landmarks"):
        relight_geometric(images, torch.full_like(marks, float("nan")), [_side_light(30.0)])
