"""The CPGAN trainer on the tiny preset: it learns, it logs, and resume equals an unbroken run."""

import contextlib
import csv

import pytest
import torch

from cpgan.checkpoint import read_checkpoint
from cpgan.config import ModelConfig
from cpgan.data import eval_loader
from cpgan.losses import LossConfig, LossNets
from cpgan.train import build_models, d_step, g_step, make_optimizer, train
from cpgan.train_config import TrainConfig


def tiny_config(**overrides) -> TrainConfig:
    options = dict(model=ModelConfig.preset("tiny"), loss=LossConfig(perceptual_width=0.125, vgg_weights="random", identity_net="random"),
                   batch_size=2, steps=4, epoch_samples=6, checkpoint_every=2, log_every=1,
                   shuffle_buffer=4)
    return TrainConfig(**{**options, **overrides})


def test_a_few_steps_lower_the_generator_loss_on_a_fixed_batch(tiny_shards):
    config = tiny_config()
    gen, disc = build_models(config)
    nets = LossNets(config.loss)
    opt_g = make_optimizer(gen.parameters(), config)
    opt_d = make_optimizer(disc.parameters(), config)
    batch = next(eval_loader(tiny_shards, split="train", batch_size=2))
    plain = contextlib.nullcontext()
    losses = []
    for _ in range(8):  # the trainer's step: G forward once, D step, G step
        out = gen(batch["nilr"], batch["guide"])
        d_loss = d_step(disc, opt_d, out.sr, batch["uihr"], amp=plain)
        losses.append({"d_loss": d_loss, **g_step(out, disc, opt_g, nets, config, batch,
                                                   amp=plain)})
    assert set(losses[0]) == {"d_loss", "mse", "id", "h", "ic", "adv", "total"}
    assert losses[-1]["total"] < 0.8 * losses[0]["total"]
    assert losses[-1]["mse"] < losses[0]["mse"]


def _state(result):
    return read_checkpoint(result.checkpoint)


def _assert_same(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_resume_equals_an_unbroken_run_across_an_epoch_boundary(tiny_shards, tmp_path):
    """Same process (same torch thread count for both runs): a run stopped at step 2 and
    resumed equals the unbroken run exactly — weights, optimisers, schedulers, losses, log."""
    # 3 steps per epoch: the split at step 2 resumes mid-epoch, and the run crosses epoch 1.
    unbroken = train(tiny_config(), tiny_shards, tmp_path / "a", show_progress=False)
    train(tiny_config(steps=2), tiny_shards, tmp_path / "b", show_progress=False)
    resumed = train(tiny_config(), tiny_shards, tmp_path / "b", resume=True, show_progress=False)
    a, b = _state(unbroken), _state(resumed)
    assert a["step"] == b["step"] == 4 and a["epoch"] == b["epoch"] == 1
    for key in ("generator", "discriminator", "opt_g", "opt_d", "scheduler_g", "scheduler_d",
                "train_config", "last_losses"):
        _assert_same(a[key], b[key], key)
    assert a["opt_g"]["param_groups"][0]["lr"] == pytest.approx(1e-3 * 0.99)
    assert a["kind"] == "cpgan" and a["version"] == 1 and a["weights"]["vgg19"]["name"] == "vgg19-random-init"
    rows_a = list(csv.DictReader(open(tmp_path / "a/plots/train.tsv"), delimiter="\t"))
    rows_b = list(csv.DictReader(open(tmp_path / "b/plots/train.tsv"), delimiter="\t"))
    assert [r["step"] for r in rows_a] == ["1", "2", "3", "4"] and rows_a == rows_b
    assert float(rows_a[0]["lr"]) == pytest.approx(1e-3) and rows_a[0]["adv"] != ""


def test_training_without_adv_skips_the_discriminator(tiny_shards, tmp_path):
    config = tiny_config(loss=LossConfig(terms=("mse",), perceptual_width=0.125, vgg_weights="random", identity_net="random"), steps=2)
    before = build_models(config)[1].state_dict()
    ckpt = _state(train(config, tiny_shards, tmp_path / "run", show_progress=False))
    _assert_same(before, ckpt["discriminator"])
    assert set(ckpt["last_losses"]) == {"mse", "total"}
