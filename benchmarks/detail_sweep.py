"""What the hallucinated detail buys and costs: PSNR, SSIM and rank-1 of one checkpoint at
several ``--detail`` scales (``Generator.forward``), against bicubic, on one shard split.

Rank-1 is ``cpgan eval --identity``'s protocol (dlib's descriptor, gallery = the first UI-HR
of each identity), scored probe by probe so that each scale can be compared with bicubic on
the same probes: the table gives the probes only one of the two gets right and the exact
two-sided McNemar p of that difference. ``--gallery-split`` adds that split's identities to
the gallery as distractors: on a validation split of few subjects, the training subjects a
model may be drawing are then in the gallery too. To choose a scale as the test protocol
scores it (a gallery of unseen subjects only), train on a fold of the training subjects
(``datagen synth --split-fractions 0.67 0.33 0``) and sweep its val split, whose own
gallery then holds 8 unseen subjects (README, "Real faces: Extended Yale B").

    python benchmarks/detail_sweep.py --checkpoint runs/yale_b/best.pt \\
        --data data/yale/shards_train --split val --gallery-split train --detail 0.1 0.2 0.3
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from cpgan.checkpoint import load_generator
from cpgan.evaluate import (bicubic_baseline, dlib_embedding, first_of_each, hallucinate_batch,
                            to_uint8)
from cpgan.metrics import psnr, ssim
from datagen.shards import open_pairs
from facecore.identity import rank1_hits


def mcnemar_p(a: np.ndarray, b: np.ndarray) -> float:
    """Exact two-sided McNemar p of paired hits ``a`` vs ``b`` (bool arrays, same probes)."""
    only_a, only_b = int((a & ~b).sum()), int((b & ~a).sum())
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="shard directory")
    ap.add_argument("--split", default="test", help="the probes' split")
    ap.add_argument("--gallery-split", default=None,
                    help="also put this split's identities in the gallery (distractors)")
    ap.add_argument("--detail", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.5, 1.0])
    ap.add_argument("--max-probes", type=int, default=None,
                    help="score this many probes, evenly spaced through the split (all: default)")
    ap.add_argument("--eye-distance", type=float, default=0.5,
                    help="the crops' framing, where dlib's chip is cut")
    args = ap.parse_args()

    probes = list(open_pairs(args.data, args.split))
    if args.max_probes is not None and args.max_probes < len(probes):
        keep = np.linspace(0, len(probes) - 1, args.max_probes).round().astype(int)
        probes = [probes[i] for i in keep]
    extra = list(open_pairs(args.data, args.gallery_split)) if args.gallery_split else []
    ids = [s["json"]["identity"] for s in probes]
    everyone = probes + extra
    gallery_ids, rows = first_of_each([s["json"]["identity"] for s in everyone])
    embed = dlib_embedding(args.eye_distance)
    gallery = embed(to_uint8(torch.stack([everyone[r]["uihr"] for r in rows])))
    stack = {k: torch.stack([s[k] for s in probes]) for k in ("nilr", "uihr", "guide")}
    generator, _ = load_generator(args.checkpoint, device="cpu")

    def scores(images: torch.Tensor) -> tuple[np.ndarray, float, float]:
        hits = rank1_hits(embed(to_uint8(images)), ids, gallery, gallery_ids)
        return (hits, float(psnr(images, stack["uihr"]).mean()),
                float(ssim(images, stack["uihr"]).mean()))

    base_hits, base_psnr, base_ssim = scores(bicubic_baseline(stack["nilr"]))
    table = Table(title=f"{args.checkpoint} on {args.data} {args.split} ({len(ids)} probes, "
                        f"gallery {len(gallery_ids)} identities, dlib)")
    for name in ("model", "PSNR", "SSIM", "rank-1", "only it / only bicubic", "McNemar p"):
        table.add_column(name, justify="right")
    table.add_row("bicubic", f"{base_psnr:.2f}", f"{base_ssim:.3f}",
                  f"{100 * base_hits.mean():.1f} %", "", "")
    for detail in args.detail:
        out = torch.cat([hallucinate_batch(generator, stack["nilr"][i:i + 32],
                                           stack["guide"][i:i + 32], detail=detail)
                         for i in range(0, len(ids), 32)])
        hits, p, s = scores(out)
        table.add_row(f"detail {detail:g}", f"{p:.2f}", f"{s:.3f}", f"{100 * hits.mean():.1f} %",
                      f"{int((hits & ~base_hits).sum())} / {int((base_hits & ~hits).sum())}",
                      f"{mcnemar_p(hits, base_hits):.3f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
