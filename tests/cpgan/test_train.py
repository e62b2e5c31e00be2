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


def test_grad_clip_bounds_the_generators_gradient_norm(tiny_shards):
    """With grad_clip the gradient G steps on has at most that norm; without, it is larger
    (the clip is real, not a no-op at this scale)."""
    batch = next(eval_loader(tiny_shards, split="train", batch_size=2))
    norms = {}
    for clip in (None, 1e-3):
        config = tiny_config(grad_clip=clip, loss=LossConfig(terms=("mse",)))
        torch.manual_seed(0)
        gen, _ = build_models(config)
        opt_g = make_optimizer(gen.parameters(), config)
        out = gen(batch["nilr"], batch["guide"])
        g_step(out, None, opt_g, LossNets(config.loss), config, batch,
               amp=contextlib.nullcontext())
        grads = [p.grad for p in gen.parameters() if p.grad is not None]
        norms[clip] = float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(g) for g in grads])))
    assert norms[None] > 1e-2
    assert norms[1e-3] == pytest.approx(1e-3, rel=1e-3)


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
    resumed equals the unbroken run exactly — weights, optimisers, schedulers, losses, log —
    with the seeded mirroring of hflip on."""
    # 3 steps per epoch: the split at step 2 resumes mid-epoch, and the run crosses epoch 1.
    unbroken = train(tiny_config(hflip=True), tiny_shards, tmp_path / "a", show_progress=False)
    train(tiny_config(steps=2, hflip=True), tiny_shards, tmp_path / "b", show_progress=False)
    resumed = train(tiny_config(hflip=True), tiny_shards, tmp_path / "b", resume=True,
                    show_progress=False)
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


def test_validation_logs_val_scores_keeps_the_best_generator_and_leaves_training_unchanged(
        make_shards, tmp_path):
    """Same process: validating every 2 steps changes no weight of the run (it reads no RNG),
    logs one val.tsv row per check, and best.pt holds the generator of the best val SSIM."""
    shards = make_shards(tmp_path / "shards", counts={"train": 8, "val": 4, "test": 4})
    plain = train(tiny_config(), shards, tmp_path / "plain", show_progress=False)
    checked = train(tiny_config(val_every=2, val_samples=4), shards, tmp_path / "val",
                    show_progress=False)
    _assert_same(_state(plain)["generator"], _state(checked)["generator"], "generator")
    rows = list(csv.DictReader(open(tmp_path / "val/plots/val.tsv"), delimiter="\t"))
    assert [r["step"] for r in rows] == ["2", "4"]
    assert all(0 < float(r["ssim"]) <= 1 and float(r["psnr"]) > 0 for r in rows)
    assert rows[0]["bicubic_psnr"] == rows[1]["bicubic_psnr"]  # the baseline does not train
    best_row = max(rows, key=lambda r: float(r["ssim"]))
    best = read_checkpoint(tmp_path / "val/best.pt")
    assert best["step"] == int(best_row["step"]) == _state(checked)["best"]["step"]
    assert best["best"]["ssim"] == pytest.approx(float(best_row["ssim"]), rel=1e-5)
    assert not (tmp_path / "plain/best.pt").exists()


def test_validation_needs_a_val_split(tiny_shards, tmp_path):
    from facecore.errors import UserInputError

    with pytest.raises(UserInputError, match="val"):
        train(tiny_config(val_every=2), tiny_shards, tmp_path / "run", show_progress=False)


def test_warmup_trains_g_on_mse_and_h_alone_then_all_terms(tiny_shards, tmp_path):
    """During warmup_steps D is untouched and only L_mse and L_h are logged; afterwards all
    five terms and D's loss appear; resuming inside the warm-up equals the unbroken run."""
    config = tiny_config(warmup_steps=2)
    before = build_models(config)[1].state_dict()
    train(tiny_config(warmup_steps=2, steps=2), tiny_shards, tmp_path / "warm",
          show_progress=False)
    _assert_same(before, _state_of(tmp_path / "warm")["discriminator"], "D in warm-up")
    unbroken = train(config, tiny_shards, tmp_path / "a", show_progress=False)
    rows = list(csv.DictReader(open(tmp_path / "a/plots/train.tsv"), delimiter="\t"))
    assert [bool(r["adv"]) or bool(r["ic"]) or bool(r["id"]) for r in rows] == [False, False,
                                                                                 True, True]
    assert all(r["mse"] and r["h"] for r in rows) and not rows[0]["d_loss"] and rows[3]["d_loss"]
    assert not torch.equal(before["layers.0.parametrizations.weight.original"],
                           _state(unbroken)["discriminator"]["layers.0.parametrizations.weight.original"])
    resumed = train(config, tiny_shards, tmp_path / "warm", resume=True, show_progress=False)
    _assert_same(_state(unbroken)["generator"], _state(resumed)["generator"], "generator")


def _state_of(run_dir):
    return read_checkpoint(run_dir / "last.pt")
