"""Which loss term drives the generator, and at which spatial frequencies: per-term
gradient norms at G's output for a trained checkpoint.

For each batch of the split, G (the checkpoint's) makes ĥ, and each term t of the
checkpoint's loss config gives the gradient of weight_t · L_t with respect to ĥ. The
table shows its mean L2 norm per sample and the share of its energy above the
thumbnail's band (what is left after area-pooling to 16×16 and upsampling back): the
part of the push that can add detail a 16×16 input does not hold. L_adv uses the
checkpoint's discriminator; L_h acts on the heatmaps, not on ĥ, so it is not listed.

    python benchmarks/loss_gradients.py runs/cpgan/last.pt data/shards --split val --batches 4
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from cpgan.checkpoint import read_checkpoint
from cpgan.config import ModelConfig
from cpgan.data import eval_loader
from cpgan.losses import (LossConfig, LossNets, adversarial_loss, identity_loss,
                          illumination_loss, mse_loss)
from cpgan.nets import Discriminator, Generator
from facecore.config import from_mapping


def high_band_share(grad: torch.Tensor, band: int = 16) -> torch.Tensor:
    """(B, 3, H, W) → (B,): share of the energy not in the band² area-pooled version."""
    low = F.interpolate(F.adaptive_avg_pool2d(grad, band), size=grad.shape[-2:], mode="nearest")
    high = grad - low
    return high.pow(2).flatten(1).sum(1) / grad.pow(2).flatten(1).sum(1).clamp_min(1e-30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("data")
    parser.add_argument("--split", default="val")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    ckpt = read_checkpoint(args.checkpoint)
    model = from_mapping(ModelConfig, ckpt["model_config"], where=args.checkpoint)
    loss_config = from_mapping(LossConfig, ckpt["loss_config"], where=args.checkpoint)
    generator, disc = Generator(model), Discriminator(model)
    generator.load_state_dict(ckpt["generator"])
    disc.load_state_dict(ckpt["discriminator"])
    generator.eval(), disc.eval()
    nets = LossNets(loss_config)
    weights = loss_config.weights
    terms = {"mse": lambda sr, b: mse_loss(sr, b["uihr"]),
             "id": lambda sr, b: identity_loss(nets, sr, b["uihr"]),
             "ic": lambda sr, b: illumination_loss(nets, sr, b["guide"]),
             "adv": lambda sr, b: adversarial_loss(disc(sr))}
    norms: dict[str, list[torch.Tensor]] = defaultdict(list)
    shares: dict[str, list[torch.Tensor]] = defaultdict(list)
    values: dict[str, list[float]] = defaultdict(list)
    batches = eval_loader(args.data, split=args.split, batch_size=args.batch_size,
                          max_samples=args.batches * args.batch_size)
    for batch in batches:
        with torch.no_grad():
            sr = generator(batch["nilr"], batch["guide"]).sr
        for name, term in terms.items():
            if name not in loss_config.terms:
                continue
            x = sr.detach().clone().requires_grad_(True)
            value = getattr(weights, name) * term(x, batch)
            (grad,) = torch.autograd.grad(value, x)
            norms[name].append(grad.flatten(1).norm(dim=1) * len(x))  # per-sample scale
            shares[name].append(high_band_share(grad))
            values[name].append(float(value.detach()))
    table = Table(title=f"gradient of weight·L at G's output, {args.checkpoint} "
                        f"(step {ckpt['step']}), {args.split}")
    for column in ("term", "weight", "weighted loss", "‖∂/∂ĥ‖ per sample",
                   "ratio to mse", "energy above 16² band"):
        table.add_column(column, justify="right")
    base = torch.cat(norms["mse"]).mean()
    for name in norms:
        norm = torch.cat(norms[name]).mean()
        table.add_row(name, f"{getattr(weights, name):g}",
                      f"{sum(values[name]) / len(values[name]):.4g}", f"{norm:.3e}",
                      f"{norm / base:.3g}", f"{torch.cat(shares[name]).mean():.1%}")
    Console().print(table)


if __name__ == "__main__":
    main()
