"""`cpgan train`, `eval` and `hallucinate` through click; bad input → one-line errors."""

import json

import numpy as np
import torch
from click.testing import CliRunner

from cpgan.cli import main
from facecore.imageio import read_image, write_image

TINY = ["--preset", "tiny", "--batch-size", "2", "--epoch-samples", "4", "--perceptual-width",
        "0.125", "--vgg-weights", "random", "--identity-net", "random", "--no-progress"]


def _run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_train_eval_hallucinate_end_to_end(tiny_shards, tmp_path):
    run = tmp_path / "run"
    result = _run(["train", "--data", str(tiny_shards), "--out", str(run), "--steps", "2",
                   "--variant", "L-+ic", "--loss-weights", "ic=0.25", *TINY])
    assert result.exit_code == 0, result.output
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["step"] == 2 and ckpt["loss_config"]["terms"] == ["mse", "ic"]
    assert ckpt["loss_config"]["weights"]["ic"] == 0.25
    assert (run / "plots" / "train.tsv").read_text().splitlines()[0].startswith("step\tepoch\tlr")
    resumed = _run(["train", "--data", str(tiny_shards), "--out", str(run), "--epochs", "2",
                    "--variant", "L-+ic", "--loss-weights", "ic=0.25", "--resume", *TINY])
    assert resumed.exit_code == 0 and torch.load(run / "last.pt", weights_only=True)["step"] == 4

    metrics, grid = tmp_path / "m.json", tmp_path / "grid.png"
    result = _run(["eval", "--checkpoint", str(run / "last.pt"), "--data", str(tiny_shards),
                   "--out", str(metrics), "--grid", str(grid)])
    assert result.exit_code == 0, result.output
    saved = json.loads(metrics.read_text())
    assert all(np.isfinite(saved[m][k]) for m in ("bicubic", "cpgan") for k in ("psnr", "ssim"))
    assert saved["step"] == 4 and read_image(grid).ndim == 3

    write_image(tmp_path / "thumb.png", np.full((16, 16, 3), 120, np.uint8))
    write_image(tmp_path / "guide.png", np.full((128, 128, 3), 200, np.uint8))
    result = _run(["hallucinate", "--checkpoint", str(run / "last.pt"), str(tmp_path / "thumb.png"),
                   "--guide", str(tmp_path / "guide.png"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "out" / "thumb.png").shape == (128, 128, 3)
    result = _run(["hallucinate", "--checkpoint", str(run / "last.pt"), str(tmp_path / "thumb.png"),
                   "--guide", str(tmp_path / "guide.png"), "--out", str(tmp_path / "plain"),
                   "--detail", "0"])  # nothing added to bicubic: the flat thumbnail, enlarged
    assert result.exit_code == 0, result.output
    assert (read_image(tmp_path / "plain" / "thumb.png") == 120).all()


def test_train_reads_params_and_flags_override_single_fields(tiny_shards, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  model: tiny\n  loss:\n    terms: [mse, ic]\n"
                      "    weights: {ic: 0.5}\n    vgg_weights: random\n"
                      "    perceptual_width: 0.125\n  steps: 1\n  batch_size: 2\n"
                      "  epoch_samples: 4\n")
    run = tmp_path / "run"
    result = _run(["train", "--params", str(params), "--data", str(tiny_shards), "--out",
                   str(run), "--loss-weights", "mse=2", "--hflip", "--grad-clip", "5",
                   "--no-progress"])
    assert result.exit_code == 0, result.output
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["train_config"]["model"]["trunk"] == 16 and ckpt["step"] == 1
    assert ckpt["train_config"]["hflip"] is True and ckpt["train_config"]["grad_clip"] == 5.0
    assert ckpt["loss_config"]["weights"] == {"mse": 2.0, "id": 1e-3, "h": 1e-2, "ic": 0.5,
                                              "adv": 1e-2}
    params.write_text("train:\n  loss:\n    weights: {icc: 1}\n")
    _one_line_error(_run(["train", "--params", f"{params}:train", "--data", str(tiny_shards),
                          "--out", str(run)]), "train.loss.weights", "icc")


def test_bad_inputs_are_one_line_errors(tiny_shards, tmp_path):
    (tmp_path / "empty").mkdir()
    _one_line_error(_run(["train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r"),
                          "--steps", "1", *TINY]), "empty", "manifest")
    shard = sorted(tiny_shards.glob("train-*.tar"))[0]
    shard.write_bytes(b"corrupt" + shard.read_bytes()[7:])
    _one_line_error(_run(["train", "--data", str(tiny_shards), "--out", str(tmp_path / "r"),
                          "--steps", "1", *TINY]), shard.name, "verification")
    _one_line_error(_run(["train", "--data", str(tiny_shards), "--out", str(tmp_path / "r"),
                          "--steps", "1", "--losses", "mse,fancy", *TINY]), "loss terms")
    _one_line_error(_run(["train", "--data", str(tiny_shards), "--out", str(tmp_path / "r"),
                          "--steps", "1", "--loss-weights", "ic:0.1", *TINY]),
                    "--loss-weights", "ic:0.1")
    torch.save({"kind": "rain", "version": 1}, tmp_path / "rain.pt")
    _one_line_error(_run(["eval", "--checkpoint", str(tmp_path / "rain.pt"), "--data",
                          str(tiny_shards), "--out", str(tmp_path / "m.json")]),
                    "rain.pt", "not a CPGAN checkpoint")
    _one_line_error(_run(["eval", "--checkpoint", str(tmp_path / "rain.pt"), "--data",
                          str(tiny_shards), "--out", str(tmp_path / "m.json"), "--detail", "2"]),
                    "--detail", "[0, 1]")
    torch.save({"kind": "cpgan", "version": 7}, tmp_path / "v7.pt")
    _one_line_error(_run(["hallucinate", "--checkpoint", str(tmp_path / "v7.pt"),
                          str(tmp_path / "rain.pt"), "--guide", str(tmp_path / "rain.pt"),
                          "--out", str(tmp_path / "o")]), "rain.pt")
    _one_line_error(_run(["eval", "--checkpoint", str(tmp_path / "v7.pt"), "--data",
                          str(tiny_shards), "--out", str(tmp_path / "m.json")]), "version 7")


def test_resume_with_nothing_to_resume_is_refused(tiny_shards, tmp_path):
    _one_line_error(_run(["train", "--data", str(tiny_shards), "--out", str(tmp_path / "new"),
                          "--steps", "1", "--resume", *TINY]),
                    "nothing to resume", "without --resume")
    assert not (tmp_path / "new" / "last.pt").exists()
