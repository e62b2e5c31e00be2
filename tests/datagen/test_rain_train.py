import numpy as np
import pytest
import torch

from facecore.errors import UserInputError
from datagen.rain import RainConfig, load_rain, train_rain
from datagen.rain.checkpoint import read_checkpoint
from datagen.rain.train import LOSS_NAMES, rain_losses
from datagen.rain.data import LightingFieldStream, MixStream, PhotoStream

TINY = RainConfig(width=0.125, latent_dim=8, mlp_dim=16, image_size=16, light_grid=8, prior_bank=16)


def _streams():
    photo = np.random.default_rng(7).integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
    content = MixStream([PhotoStream([photo], size=16), LightingFieldStream(size=16)])
    return content, LightingFieldStream(size=16)


def _train(out, steps, **kw):
    content, style = _streams()
    if "init" not in kw:
        kw["vgg_weights"] = "random"  # tiny nets exist only as the explicit random init
    return train_rain(TINY, content, style, steps=steps, batch_size=2, out=out,
                      checkpoint_every=2, show_progress=False, phase="pretrain", **kw)


def test_resume_equals_an_unbroken_run(tmp_path):
    """Same process (same torch thread count throughout): training interrupted and resumed
    equals the unbroken run exactly, weights, optimiser and RNG state."""
    straight = _train(tmp_path / "a.pt", 6)
    _train(tmp_path / "b.pt", 3)
    resumed = _train(tmp_path / "b.pt", 6, resume=True)
    for (name, x), y in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(x, y), name
    a, b = read_checkpoint(tmp_path / "a.pt"), read_checkpoint(tmp_path / "b.pt")
    assert a["step"] == b["step"] == 6
    assert a["rng"]["numpy"] == b["rng"]["numpy"]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    exp_a, exp_b = a["optimizer"]["state"][0]["exp_avg"], b["optimizer"]["state"][0]["exp_avg"]
    assert torch.equal(exp_a, exp_b)
    assert a["last_losses"] == b["last_losses"] and set(a["last_losses"]) == set(LOSS_NAMES)


def test_checkpoint_roundtrip_records_what_vgg_was(tmp_path):
    """A saved and loaded checkpoint holds exactly the saved tensors (serialisation, no maths)."""
    model = _train(tmp_path / "r.pt", 2)
    ckpt = read_checkpoint(tmp_path / "r.pt")
    assert ckpt["weights"]["name"] == "vgg19-random-init" and ckpt["weights"]["seed"] == 0
    assert ckpt["config"]["width"] == 0.125
    loaded = load_rain(tmp_path / "r.pt")
    assert loaded.latent_dim == TINY.latent_dim and not loaded.training
    for x, y in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(x, y)


def test_init_starts_from_the_pretrained_weights(tmp_path):
    """Fine-tuning from --init starts from the pretrained weights exactly (a copy, no maths)."""
    pre = _train(tmp_path / "pre.pt", 2)
    fine = _train(tmp_path / "fine.pt", 1, init=tmp_path / "pre.pt")
    assert read_checkpoint(tmp_path / "fine.pt")["step"] == 1
    assert torch.equal(pre.encoder.convs[0].weight, fine.encoder.convs[0].weight)
    # one step moved the decoder a little from the pretrained weights, not from a fresh init
    delta = (pre.decoder.convs[0].weight - fine.decoder.convs[0].weight).abs().max()
    assert 0 < delta < 0.01
    other = RainConfig(width=0.25, latent_dim=8, mlp_dim=16, image_size=16)
    content, style = _streams()
    with pytest.raises(UserInputError, match="width"):
        train_rain(other, content, style, steps=1, batch_size=2, out=tmp_path / "x.pt",
                   init=tmp_path / "pre.pt", show_progress=False)


def test_resume_with_a_different_config_is_refused(tmp_path):
    _train(tmp_path / "c.pt", 1)
    content, style = _streams()
    with pytest.raises(UserInputError, match="config differs"):
        train_rain(RainConfig(**{**TINY.__dict__, "lr": 0.5}), content, style, steps=2,
                   batch_size=2, out=tmp_path / "c.pt", resume=True,
                   show_progress=False)


def test_load_rain_bad_files(tmp_path):
    with pytest.raises(UserInputError, match="datagen train-rain"):
        load_rain(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(UserInputError, match="not a readable RaIN checkpoint"):
        load_rain(bad)
    torch.save({"model": {}, "kind": "cpgan"}, bad)
    with pytest.raises(UserInputError, match="not a RaIN checkpoint.*datagen train-rain"):
        load_rain(bad)


@pytest.mark.parametrize("loss, ratio_weight", [("paired", 0.0), ("ratio", 10.0)])
def test_paired_finetune_lowers_the_paired_loss(tmp_path, loss, ratio_weight):
    """``train_rain`` on (content, style, target) triples (here one fixed batch of synthetic
    pairs, so the loss is comparable step to step) lowers the paired loss — and, when it is
    weighted, the light-strength loss — below that of a fresh model, which returns its
    input: the loss of not relighting at all."""
    from datagen.rain import Rain
    from datagen.rain.data import SyntheticPairs

    config = RainConfig(**{**TINY.__dict__, "lr": 3e-3, "ratio_weight": ratio_weight})
    fixed = SyntheticPairs(size=16, n_identities=40).sample_pairs(8, np.random.default_rng(1))

    class FixedPairs:
        size = 16

        def sample_pairs(self, n, rng):  # the batch, or as much of it as the prior bank asks
            return tuple(x[torch.arange(n) % 8] for x in fixed)

    eps = torch.zeros(8, TINY.latent_dim)

    def paired(model):
        with torch.no_grad():
            return float(rain_losses(model.eval(), *fixed[:2], eps, fixed[2])[loss])

    before = paired(Rain(config, vgg_weights="random"))
    model = train_rain(config, FixedPairs(), None, steps=40, batch_size=8, out=tmp_path / "p.pt",
                       checkpoint_every=40, show_progress=False, vgg_weights="random")
    # measured (a tiny random-VGG model, 40 steps): paired 0.478 → 0.209; ratio 0.786 → 0.185
    assert paired(model) < 0.95 * before
