"""The determinism contract made checkable: regenerate samples and measure any difference."""

import json
import tarfile

import numpy as np
import pytest
from click.testing import CliRunner

from datagen.cli import main
from facecore.imageio import decode_png, encode_png
from datagen.shards.compare import compare_sample, sample_members
from datagen.shards.tarwrite import tar_bytes
from datagen.synth import SynthConfig, synth
from datagen.synth.regenerate import regenerate

CFG = SynthConfig(relight="physical", shard_size=4, batch_size=2, seed=3,
                  source_options={"n_identities": 30})


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("made")
    assert synth(CFG, out, {"train": 6}).complete
    return out


def _nudge_one_sample(shard, key: str) -> int:
    """Rewrite ``shard`` with three pixels of ``key``'s NI-HR one level brighter (as another
    CPU's rounding could make them); returns the number of pixels in the four images."""
    with tarfile.open(shard) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
    out = []
    for name, data in members:
        if name == f"{key}.nihr.png":
            img = decode_png(data)
            img[0, :3, 0] = np.where(img[0, :3, 0] < 255, img[0, :3, 0] + 1, 254)
            data = encode_png(img)
        out.append((name, data))
    shard.write_bytes(tar_bytes(out))
    return 16 * 16 + 3 * 128 * 128


def test_compare_measures_levels_and_share_of_pixels(made):
    """Byte-equal members are identical; a 1-level change of 3 pixels is reported as max |Δ| 1
    on exactly 3 of the sample's pixels, with the json unchanged."""
    key = "train/000000001"
    stored = sample_members(made / "train-000000.tar", key)
    assert set(stored) == {"nilr.png", "nihr.png", "uihr.png", "guide.png", "json"}
    same = compare_sample(key, stored, dict(stored))
    assert same.identical and same.max_delta == 0 and same.differing == 0
    img = decode_png(stored["nihr.png"])
    img[5, 5:8] = np.where(img[5, 5:8] < 255, img[5, 5:8] + 1, 254)
    diff = compare_sample(key, stored, {**stored, "nihr.png": encode_png(img)})
    pixels = 16 * 16 + 3 * 128 * 128
    assert not diff.identical and diff.json_same and diff.max_delta == 1
    assert diff.differing == pytest.approx(3 / pixels)
    assert "max |Δ| 1 uint8 levels" in diff.describe()


def test_regenerate_is_exact_on_the_machine_that_made_the_shards(made, tmp_path):
    """Same machine, torch version and config: every regenerated sample is byte-identical.
    A nudged sample is found and measured (this is what another CPU would look like)."""
    diffs = regenerate(made, 6)
    assert len(diffs) == 6 and all(d.identical for d in diffs)
    copy = tmp_path / "copy"
    copy.mkdir()
    for p in made.iterdir():
        if p.is_file():
            (copy / p.name).write_bytes(p.read_bytes())
    pixels = _nudge_one_sample(copy / "train-000001.tar", "train/000000005")
    diffs = {d.key: d for d in regenerate(copy, 6)}
    bad = [k for k, d in diffs.items() if not d.identical]
    assert bad == ["train/000000005"]
    assert diffs[bad[0]].max_delta == 1 and diffs[bad[0]].differing == pytest.approx(3 / pixels)


def test_cli_verify_regenerate_reports_zero_differing_pixels(made):
    res = CliRunner().invoke(main, ["verify", str(made), "--regenerate", "3"])
    assert res.exit_code == 0, res.output
    assert "regenerated 3 samples: 3 identical; max |Δ| 0 levels; 0.0000% of pixels differ" \
        in res.output


def test_verify_of_a_directory_without_a_manifest_is_one_error_line(tmp_path):
    res = CliRunner().invoke(main, ["verify", str(tmp_path)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.startswith("Error:") and "no manifest.json and no shards" in res.output
    (tmp_path / "train-000000.tar").write_bytes(b"")
    res = CliRunner().invoke(main, ["verify", str(tmp_path)])
    assert res.exit_code == 1 and "1 shard(s) without one" in res.output


def test_regenerate_with_the_wrong_rain_checkpoint_is_refused(tmp_path):
    doc = {"schema": 1, "shards": [], "header": {"config": {"relight": "rain"},
                                                  "models": {"rain_sha256": "ab" * 32}}}
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    (tmp_path / "rain.pt").write_bytes(b"not it")
    res = CliRunner().invoke(main, ["verify", str(tmp_path), "--regenerate", "2",
                                    "--rain", str(tmp_path / "rain.pt")])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "Error:" in res.output and "not the RaIN checkpoint" in res.output
