"""The CPGAN training loop, flat: per batch one generator forward, then one discriminator
step on its detached output (when "adv" is a term), then one generator step; Adam for
both, lr × ``lr_decay`` at every epoch boundary.

Runs the same in one process and under ``torchrun`` (DDP; G and D wrapped, rank 0
logs and writes checkpoints). Exact resume: the checkpoint holds weights, both
optimisers and schedulers, step, epoch and the RNG states; the data stream of an
epoch is a pure function of (seed, epoch, rank, worker) (see ``cpgan.data``), so a
resumed run rebuilds the current epoch and skips the batches already consumed.
Per-step losses and lr go to ``RUN/plots/train.tsv`` (``dvc plots show`` draws it).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from cpgan import distributed as dist
from cpgan.checkpoint import read_checkpoint, save_checkpoint
from cpgan.data import Batch, check_data, train_loader
from cpgan.evaluate import validate
from cpgan.losses import LOSS_TERMS, LossNets, discriminator_loss, generator_loss
from cpgan.nets import Discriminator, Generator, GeneratorOutput
from cpgan.train_config import TrainConfig
from facecore.config import from_mapping, to_dict
from facecore.errors import UserInputError

log = logging.getLogger(__name__)
CHECKPOINT_NAME = "last.pt"
BEST_NAME = "best.pt"
LOG_COLUMNS = ("step", "epoch", "lr", "d_loss", *LOSS_TERMS, "total")
VAL_COLUMNS = ("step", "psnr", "ssim", "bicubic_psnr", "bicubic_ssim")


def build_models(config: TrainConfig) -> tuple[Generator, Discriminator]:
    """G and D initialised from ``config.seed`` (the global RNG is forked, not disturbed)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return Generator(config.model), Discriminator(config.model)


def make_optimizer(params: Any, config: TrainConfig) -> torch.optim.Adam:
    """Adam with the paper's lr, betas and eps."""
    return torch.optim.Adam(params, lr=config.lr, betas=tuple(config.betas), eps=config.eps)


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def d_step(disc: nn.Module, opt_d: torch.optim.Optimizer, sr: torch.Tensor, uihr: torch.Tensor,
           *, amp: contextlib.AbstractContextManager) -> float:
    """One discriminator update on real UI-HR vs (detached) generated faces, (B, 3, 128, 128)
    in [-1, 1]; one D forward on both halves (one DDP forward per backward)."""
    opt_d.zero_grad(set_to_none=True)
    with amp:
        logits = disc(torch.cat([uihr, sr.detach()]))
    real, fake = logits.float().chunk(2)
    loss = discriminator_loss(real, fake)
    loss.backward()
    opt_d.step()
    return float(loss.detach())


def g_step(out: GeneratorOutput, raw_disc: Discriminator | None, opt_g: torch.optim.Optimizer,
           loss_nets: LossNets, config: TrainConfig, batch: Batch, *,
           amp: contextlib.AbstractContextManager) -> dict[str, float]:
    """One generator update from this batch's generator output ``out`` (still attached to
    G's graph). With "adv", ``raw_disc`` (the unwrapped D, frozen for this step) scores
    ``out.sr`` for L_adv; run ``d_step`` on ``out.sr`` before this, not after. Returns the
    loss dict."""
    fake_logits = None
    if raw_disc is not None:
        raw_disc.requires_grad_(False)
        with amp:
            fake_logits = raw_disc(out.sr).float()
    out = dataclasses.replace(out, sr=out.sr.float(), heatmaps=out.heatmaps.float())
    total, terms = generator_loss(config.loss, loss_nets, out, uihr=batch["uihr"],
                                  guide=batch["guide"], landmarks=batch["landmarks"],
                                  fake_logits=fake_logits, identity=batch.get("identity"))
    opt_g.zero_grad(set_to_none=True)
    total.backward()
    if config.grad_clip is not None:
        params = [p for group in opt_g.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
    opt_g.step()
    if raw_disc is not None:
        raw_disc.requires_grad_(True)
    return terms


def _to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v
            for k, v in batch.items()}


class _TsvLog:
    """``plots/train.tsv`` (or ``val.tsv``): one row per logged step; on resume rows after the
    step are dropped."""

    def __init__(self, path: Path, *, start_step: int,
                 columns: tuple[str, ...] = LOG_COLUMNS) -> None:
        self.path, self.columns = path, columns
        rows: list[dict[str, str]] = []
        if start_step > 0 and path.is_file():
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f, delimiter="\t")
                        if int(r["step"]) <= start_step]
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, columns, delimiter="\t", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, float]) -> None:
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, self.columns, delimiter="\t", restval="",
                                    lineterminator="\n")
            writer.writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()
                 if k in self.columns})


def _check_resumable(saved: dict[str, Any], config: TrainConfig, where: str) -> None:
    previous = from_mapping(TrainConfig, saved, where=where)
    if dataclasses.replace(previous, steps=config.steps, device=config.device) != config:
        raise UserInputError(f"{where}: saved training config differs from this run's (only "
                             "--steps may change on resume); use the same options or a new --out")


@dataclasses.dataclass
class TrainResult:
    """What a run leaves: the checkpoint path, the step reached, and the (unwrapped) models."""

    checkpoint: Path
    step: int
    generator: Generator
    discriminator: Discriminator


def train(config: TrainConfig, data_dir: str | Path, out_dir: str | Path, *, resume: bool = False,
          device: str | torch.device = "cpu", show_progress: bool = True) -> TrainResult:
    """Train CPGAN on the ``train`` split of ``data_dir`` for ``config.steps`` steps.

    Writes ``out_dir/last.pt`` every ``checkpoint_every`` steps and at the end, and the
    loss log ``out_dir/plots/train.tsv``; with ``val_every``, also ``plots/val.tsv`` and
    ``best.pt`` (the generator of the best validation SSIM). ``resume`` continues from ``out_dir/last.pt``
    exactly (same result as an unbroken run). Under torchrun every rank calls this; the
    caller destroys the process group (``cpgan.distributed.cleanup``).
    """
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT_NAME
    check_data(data_dir, "train")
    if config.val_every:
        check_data(data_dir, "val")
    device = dist.init_from_env(device)
    rank, world = dist.get_rank(), dist.get_world_size()
    adversarial = "adv" in config.loss.terms

    generator, discriminator = build_models(config)
    generator, discriminator = generator.to(device), discriminator.to(device)
    loss_nets = LossNets(config.loss).to(device)
    opt_g = make_optimizer(generator.parameters(), config)
    opt_d = make_optimizer(discriminator.parameters(), config)
    sched_g = torch.optim.lr_scheduler.ExponentialLR(opt_g, gamma=config.lr_decay)
    sched_d = torch.optim.lr_scheduler.ExponentialLR(opt_d, gamma=config.lr_decay)
    step = epoch = 0
    best: dict[str, float] = {}  # the best validation so far: step, psnr, ssim
    if resume and ckpt_path.is_file():
        ckpt = read_checkpoint(ckpt_path)
        _check_resumable(ckpt["train_config"], config, str(ckpt_path))
        generator.load_state_dict(ckpt["generator"])
        discriminator.load_state_dict(ckpt["discriminator"])
        opt_g.load_state_dict(ckpt["opt_g"])
        opt_d.load_state_dict(ckpt["opt_d"])
        sched_g.load_state_dict(ckpt["scheduler_g"])
        sched_d.load_state_dict(ckpt["scheduler_d"])
        step, epoch = int(ckpt["step"]), int(ckpt["epoch"])
        best = dict(ckpt.get("best", {}))
        torch.set_rng_state(ckpt["rng"]["torch"])
        if device.type == "cuda" and ckpt["rng"].get("cuda"):
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        log.info("resuming %s at step %d (epoch %d)", ckpt_path, step, epoch)
    elif resume:
        raise UserInputError(f"{ckpt_path}: nothing to resume (no checkpoint in {out_dir}); "
                             f"start the run without --resume")

    gen_model: nn.Module = generator
    disc_model: nn.Module = discriminator
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        # Without "h" the hourglass gets no gradient: DDP must be told to expect that.
        gen_model = DDP(generator, device_ids=ids,
                        find_unused_parameters="h" not in config.loss.terms)
        if adversarial:
            disc_model = DDP(discriminator, device_ids=ids)
    amp = config.amp and device.type == "cuda"
    warmup = config.warmup_config()
    spe = config.steps_per_epoch(world)  # the epoch's length: the loader's and resume's
    tsv = _TsvLog(out_dir / "plots" / "train.tsv", start_step=step) if rank == 0 else None
    val_tsv = (_TsvLog(out_dir / "plots" / "val.tsv", start_step=step, columns=VAL_COLUMNS)
               if rank == 0 and config.val_every else None)
    last: dict[str, float] = {}

    def checkpoint(path: Path = ckpt_path) -> None:
        if rank != 0:
            return
        save_checkpoint(path, {
            "train_config": to_dict(config), "model_config": to_dict(config.model),
            "loss_config": to_dict(config.loss),
            "generator": generator.state_dict(), "discriminator": discriminator.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "scheduler_g": sched_g.state_dict(), "scheduler_d": sched_d.state_dict(),
            "step": step, "epoch": epoch,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else []},
            "weights": loss_nets.weights, "last_losses": last, "best": best,
        })

    def validation() -> None:
        """Rank 0 scores G on the val split, logs it, and keeps the best G as best.pt."""
        if rank == 0:
            generator.eval()
            scores = validate(generator, data_dir, split="val", max_samples=config.val_samples,
                              device=device)
            generator.train()
            val_tsv.write({"step": step, **scores["cpgan"],
                           **{f"bicubic_{k}": v for k, v in scores["bicubic"].items()}})
            selectable = step > config.warmup_steps or config.warmup_steps >= config.steps
            if selectable and (not best or scores["cpgan"]["ssim"] > best["ssim"]):
                best.clear()
                best.update(step=step, **scores["cpgan"])
                checkpoint(out_dir / BEST_NAME)
        dist.barrier()

    log.info("CPGAN training: steps %d→%d, batch %d × %d rank(s), %d steps/epoch, terms %s, "
             "device %s, perceptual %s", step, config.steps, config.batch_size, world, spe,
             ",".join(config.loss.terms), device, {k: v["name"] for k, v in loss_nets.weights.items()})
    generator.train()
    discriminator.train()
    with _progress(show_progress and rank == 0) as progress:
        task = progress.add_task("CPGAN", total=config.steps, completed=step, losses="")
        while step < config.steps:
            loader = train_loader(data_dir, batch_size=config.batch_size,
                                  num_workers=config.num_workers, seed=config.seed, batches=spe,
                                  device=device, epoch=epoch, shuffle=config.shuffle_buffer,
                                  rank=rank, hflip=config.hflip)
            skip = step - epoch * spe
            for i, batch in enumerate(loader):
                if i < skip:
                    continue
                batch = _to_device(batch, device)
                warm = step < config.warmup_steps
                with _autocast(device, amp):
                    out = gen_model(batch["nilr"], batch["guide"])  # G forward, once
                last = {}
                if adversarial and not warm:  # D learns on the detached output first
                    last["d_loss"] = d_step(disc_model, opt_d, out.sr, batch["uihr"],
                                            amp=_autocast(device, amp))
                last.update(g_step(out, discriminator if adversarial and not warm else None,
                                   opt_g, loss_nets, warmup if warm else config, batch,
                                   amp=_autocast(device, amp)))
                lr = opt_g.param_groups[0]["lr"]
                step += 1
                if step % spe == 0:
                    sched_g.step()
                    if adversarial:  # D's lr follows the epoch, warm-up or not
                        with warnings.catch_warnings():  # no D step yet in a warm-up
                            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler")
                            sched_d.step()
                    epoch += 1
                if tsv is not None and (step % config.log_every == 0 or step == config.steps):
                    tsv.write({"step": step, "epoch": epoch, "lr": lr, **last})
                progress.update(task, advance=1, losses=" ".join(
                    f"{k} {v:.3g}" for k, v in last.items()))
                if config.val_every and (step % config.val_every == 0 or step == config.steps):
                    validation()
                if step % config.checkpoint_every == 0 or step == config.steps:
                    checkpoint()
                if step >= config.steps or step % spe == 0:
                    break
    if not ckpt_path.is_file():
        checkpoint()  # nothing left to do on a resume: still leave a checkpoint behind
    dist.barrier()
    if rank == 0:
        log.info("CPGAN done at step %d: %s → %s", step,
                 ", ".join(f"{k} {v:.4g}" for k, v in last.items()), ckpt_path)
    return TrainResult(ckpt_path, step, generator, discriminator)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                    console=Console(stderr=True), disable=not enabled, transient=False)
