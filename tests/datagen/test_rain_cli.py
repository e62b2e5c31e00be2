import pytest
from click.testing import CliRunner

from datagen.cli import main
from facecore.imageio import read_image
from datagen.rain import load_rain

TINY_OPTS = ["--image-size", "16", "--width", "0.125", "--vgg-weights", "random", "--latent-dim", "8", "--batch-size", "2"]


def _run(args):
    return CliRunner().invoke(main, args)


def test_train_rain_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "rain.pt"
    res = _run(["train-rain", "--phase", "pretrain", "--content", "lighting-fields", "--style",
                "lighting-fields", "--steps", "2", "--out", str(out), *TINY_OPTS])
    assert res.exit_code == 0, res.output
    assert load_rain(out).config.image_size == 16


def test_train_then_stylize_on_synthetic_faces(tmp_path):
    """Same process, same checkpoint and seed: two stylize grids are byte-identical."""
    pytest.importorskip("datagen.sources.synthetic")
    out, grid = tmp_path / "rain.pt", tmp_path / "grid.png"
    res = _run(["train-rain", "--phase", "finetune", "--content", "synthetic", "--style",
                "synthetic", "--steps", "2", "--out", str(out), *TINY_OPTS])
    assert res.exit_code == 0, res.output
    res = _run(["stylize", "--checkpoint", str(out), "--n", "2", "--samples", "3",
                "--out", str(grid)])
    assert res.exit_code == 0, res.output
    image = read_image(grid)
    assert image.shape[1] > image.shape[0]  # 2 rows of 1 + 3 cells
    again = tmp_path / "again.png"
    assert _run(["stylize", "--checkpoint", str(out), "--n", "2", "--samples", "3",
                 "--out", str(again)]).exit_code == 0
    assert grid.read_bytes() == again.read_bytes()  # same seed → same bytes
    metrics, plot = tmp_path / "rain.json", tmp_path / "lighting.png"
    res = _run(["eval-rain", "--checkpoint", str(out), "--n", "4", "--reference-n", "8",
                "--out", str(metrics), "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    values = __import__("json").loads(metrics.read_text())
    assert values["style_dist_content_to_ni"] > 0 and values["content_dist_between_faces"] > 0
    assert values["perceptual_weights"]["name"] == "vgg19-random-init"
    # lighting ratio against the default reference, the synthetic physical renders
    ratio = values["lighting_ratio"]
    assert ratio["reference"] == "synthetic physical"
    assert ratio["rain"]["range"]["n"] == 4 and ratio["reference_stats"]["range"]["n"] == 8
    assert set(ratio["rain"]["asymmetry"]) == {"p05", "p25", "median", "p75", "p95", "mean", "n"}
    # a 2-step model barely changes its input's light; the physical renders do
    assert ratio["wasserstein_rain_to_reference"]["range"] > 0.3
    assert "lighting ratio range: median RaIN" in res.output
    assert read_image(plot).shape == (280, 880, 3)
    res = _run(["eval-rain", "--checkpoint", str(out), "--reference", f"multipie:{tmp_path}",
                "--out", str(metrics)])
    assert res.exit_code == 1 and res.output.startswith("Error: multipie reference: not "
                                                        "supported yet")
    assert len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args, needle", [
    (["stylize", "--checkpoint", "nope.pt", "--out", "g.png"], "datagen train-rain"),
    (["train-rain", "--content", "nosuchsource", "--style", "lighting-fields", "--steps", "1",
      "--out", "r.pt", *TINY_OPTS], "unknown source 'nosuchsource'"),
    (["train-rain", "--content", "lighting-fields", "--style", "lighting-fields", "--steps", "1",
      "--out", "r.pt", "--image-size", "20"], "multiple of 8"),
    (["train-rain", "--content", "lighting-fields", "--style", "lighting-fields", "--steps", "1",
      "--out", "r.pt", "--resume", *TINY_OPTS], "nothing to resume"),
    (["eval-rain", "--checkpoint", "nope.pt", "--out", "m.json"], "datagen train-rain"),
    (["eval-rain", "--checkpoint", "nope.pt", "--out", "m.json", "--lighting-n", "-1"],
     "lighting_n"),
    (["lighting", ".", "--out", "m.json"], "not a shard directory"),
])
def test_bad_inputs_are_one_line_errors(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    res = _run(args)
    assert res.exit_code == 1
    assert needle in res.output and res.output.startswith("Error: ")
    assert len(res.output.strip().splitlines()) == 1
    assert "Traceback" not in res.output


def test_lighting_of_shards_writes_metrics_and_a_plot(tiny_shards, tmp_path):
    import json

    out, plot = tmp_path / "light.json", tmp_path / "light.png"
    res = _run(["lighting", str(tiny_shards), "--reference-n", "16", "--out", str(out),
                "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    ratio = json.loads(out.read_text())["lighting_ratio"]
    assert ratio["rain"]["asymmetry"]["n"] == 8 and ratio["reference_stats"]["range"]["n"] == 16
    assert set(ratio["wasserstein_reference_half_to_half"]) == {"asymmetry", "range"}
    assert read_image(plot).shape[0] > 100 and "Wasserstein" in res.output
