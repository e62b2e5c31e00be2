"""Evaluation, hallucination and checkpoint loading on a tiny trained model; clear errors."""

import json

import numpy as np
import pytest
import torch

from cpgan.checkpoint import load_generator, read_checkpoint
from cpgan.config import ModelConfig
from cpgan.evaluate import bicubic_baseline, evaluate
from cpgan.hallucinate import hallucinate_files
from cpgan.losses import LossConfig
from cpgan.train import train
from cpgan.train_config import TrainConfig
from facecore.errors import UserInputError
from facecore.imageio import read_image, write_image


@pytest.fixture
def tiny_checkpoint(tiny_shards, tmp_path):
    config = TrainConfig(model=ModelConfig.preset("tiny"),
                         loss=LossConfig(terms=("mse", "adv"), perceptual_width=0.125,
                                         vgg_weights="random", identity_net="random"),
                         batch_size=2, steps=2, epoch_samples=4, shuffle_buffer=4)
    return train(config, tiny_shards, tmp_path / "run", show_progress=False).checkpoint


def test_eval_writes_finite_metrics_for_both_methods_and_a_grid(tiny_shards, tiny_checkpoint,
                                                                tmp_path):
    """Metrics are finite for both methods; the loaded generator holds exactly the saved tensors."""
    result = evaluate(tiny_checkpoint, tiny_shards, split="test", out=tmp_path / "m.json",
                      grid=tmp_path / "grid.png")
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["n"] == 4 and saved["step"] == 2 and saved["split"] == "test"
    for method in ("bicubic", "cpgan"):
        assert np.isfinite(saved[method]["psnr"]) and 0 < saved[method]["ssim"] <= 1
    grid = read_image(tmp_path / "grid.png")
    assert grid.shape[0] > 4 * 128 and grid.shape[1] > 5 * 128  # 4 rows × 5 columns
    assert evaluate(tiny_checkpoint, tiny_shards, out=tmp_path / "m2.json", max_samples=2)["n"] == 2
    # detail 0: the model adds nothing to its bicubic base, so it scores as bicubic does
    plain = evaluate(tiny_checkpoint, tiny_shards, out=tmp_path / "m0.json", detail=0.0)
    assert plain["detail"] == 0.0 and saved["detail"] == 1.0
    assert plain["cpgan"] == pytest.approx(plain["bicubic"])
    assert saved["cpgan"] != pytest.approx(saved["bicubic"])
    ckpt = torch.load(tiny_checkpoint, weights_only=False)
    ckpt["model_config"]["global_skip"] = False  # the released code's whole-face output
    torch.save(ckpt, tmp_path / "whole_face.pt")
    with pytest.raises(UserInputError, match="--detail 0.5: .*no residual"):
        evaluate(tmp_path / "whole_face.pt", tiny_shards, out=tmp_path / "w.json", detail=0.5)
    assert not (tmp_path / "w.json").exists()
    generator, ckpt = load_generator(tiny_checkpoint)
    for key, value in generator.state_dict().items():
        assert torch.equal(value, ckpt["generator"][key])


def test_identity_with_a_torchscript_embedding_and_the_shared_network_caveat(
        tiny_shards, tiny_checkpoint, tmp_path):
    """--identity-net: a user's TorchScript embedding judges rank-1 (here the mean colour
    of the crop at 32², for which UI-HR probes find their own gallery image); a
    checkpoint whose L_id used dlib's net gets the caveat only when dlib also judges."""
    class MeanColour(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            assert x.shape[-2:] == (32, 32)
            return x.mean(dim=(2, 3))

    net = tmp_path / "embed.pt"
    torch.jit.script(MeanColour()).save(str(net))
    result = evaluate(tiny_checkpoint, tiny_shards, out=tmp_path / "m.json", identity=True,
                      identity_net=net, identity_size=32)
    assert result["identity_net"] == str(net) and "identity_caveat" not in result
    assert result["identity_rank1"]["uihr"] > 0
    assert set(result["identity_rank1"]) == {"bicubic", "cpgan", "uihr", "nihr"}
    # the framing dlib's chip is cut at comes from the shards' UI-HR landmarks (random here)
    assert 0.05 <= result["identity_eye_distance"] <= 0.6
    ckpt = torch.load(tiny_checkpoint, weights_only=False)
    ckpt["loss_config"]["terms"] = ["mse", "id"]
    ckpt["loss_config"]["identity_net"] = "dlib"
    torch.save(ckpt, tmp_path / "dlib_trained.pt")
    shared = evaluate(tmp_path / "dlib_trained.pt", tiny_shards, out=tmp_path / "d.json",
                      identity=True, max_samples=2)
    assert "flatters" in shared["identity_caveat"] and shared["identity_net"] == "dlib"
    (tmp_path / "bad.pt").write_text("not a model")
    with pytest.raises(UserInputError, match="TorchScript"):
        evaluate(tiny_checkpoint, tiny_shards, out=tmp_path / "x.json", identity=True,
                 identity_net=tmp_path / "bad.pt")


def test_bicubic_of_a_constant_image_is_that_constant():
    x = torch.full((1, 3, 16, 16), 0.25)
    assert torch.allclose(bicubic_baseline(x), torch.full((1, 3, 128, 128), 0.25))


def test_hallucinate_writes_128px_pngs_with_the_input_stems(tiny_checkpoint, tmp_path):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "in/a.png", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    write_image(tmp_path / "in/b.jpg", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    write_image(tmp_path / "g.png", rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
    written = hallucinate_files(tiny_checkpoint, [tmp_path / "in"], guide=tmp_path / "g.png",
                                out=tmp_path / "out")
    assert sorted(p.name for p in written) == ["a.png", "b.png"]
    assert all(read_image(p).shape == (128, 128, 3) for p in written)
    (tmp_path / "notimage.png").write_text("hello")
    with pytest.raises(UserInputError, match="notimage.png: not a readable image"):
        hallucinate_files(tiny_checkpoint, [tmp_path / "in"], guide=tmp_path / "notimage.png",
                          out=tmp_path / "out2")


def test_foreign_or_other_version_checkpoints_are_one_clear_error(tmp_path):
    torch.save({"kind": "rain", "version": 1}, tmp_path / "rain.pt")
    with pytest.raises(UserInputError, match="not a CPGAN checkpoint \\(kind 'rain'\\)"):
        read_checkpoint(tmp_path / "rain.pt")
    torch.save({"kind": "cpgan", "version": 99, "generator": {}}, tmp_path / "v99.pt")
    with pytest.raises(UserInputError, match="version 99 is not supported"):
        load_generator(tmp_path / "v99.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserInputError, match="not a readable CPGAN checkpoint"):
        read_checkpoint(tmp_path / "junk.pt")
