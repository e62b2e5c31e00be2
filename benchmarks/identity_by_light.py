"""Where a CPGAN loses identity on real light: rank-1 by the probe's light, with and without
the thumbnail's jitter.

Test shards made with ``--relight real`` from a ``datagen align`` folder of Extended Yale B
(README, "Real faces: Extended Yale B"): each probe's lab light is read from the name of the
photo its ``relit_key`` points to (``A+035E+15``). Rank-1 with dlib's descriptor against a
gallery of each subject's first UI-HR, as ``cpgan eval --identity`` does, for: bicubic and
each checkpoint from the shard's NI-LR, and from the same face *unwarped* (NI-HR
downsampled to 16×16 without the shard's random rotation, scale and shift), binned by light.

    python benchmarks/identity_by_light.py --shards data/yale/shards_test \\
        --aligned data/yale/aligned_test --checkpoints runs/yale_b/best.pt --eye-distance 0.5
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from cpgan.checkpoint import load_generator
from cpgan.evaluate import (bicubic_baseline, dlib_embedding, first_of_each, hallucinate_batch,
                            to_uint8)
from datagen.shards import open_pairs
from datagen.sources.indexed import sorted_images
from datagen.warp import downsample
from facecore.identity import rank1_hits
from facecore.imageio import IMAGE_SUFFIXES

LIGHT = re.compile(r"A([+-]\d+)E([+-]\d+)")
BINS = (("|az| ≤ 25°, |el| ≤ 25°", lambda az, el: (az <= 25) & (np.abs(el) <= 25)),
        ("|az| 35–70°", lambda az, el: (az > 25) & (az <= 70) & (np.abs(el) <= 45)),
        ("|az| > 70°", lambda az, el: az > 70),
        ("el ≥ 40°, |az| ≤ 70°", lambda az, el: (el >= 40) & (az <= 70)),
        ("all", lambda az, el: np.ones_like(az, bool)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", type=Path, required=True, help="test shards (--relight real)")
    ap.add_argument("--aligned", type=Path, required=True,
                    help="the datagen align folder the shards were made from (photo names)")
    ap.add_argument("--checkpoints", type=Path, nargs="+", required=True)
    ap.add_argument("--eye-distance", type=float, default=0.5,
                    help="the crops' framing, where dlib's chip is cut")
    ap.add_argument("--split", default="test")
    args = ap.parse_args()

    files = [p.relative_to(args.aligned).as_posix()
             for p in sorted_images(args.aligned, suffixes=IMAGE_SUFFIXES)]
    samples = list(open_pairs(args.shards, args.split))
    if not samples or any("relit_key" not in s["json"] for s in samples):
        raise SystemExit(f"{args.shards}: needs {args.split} shards made with --relight real")
    lights = np.array([[int(v) for v in LIGHT.search(files[s["json"]["relit_key"][0]]).groups()]
                       for s in samples])
    az, el = np.abs(lights[:, 0]), lights[:, 1]
    ids = [s["json"]["identity"] for s in samples]
    stack = {k: torch.stack([s[k] for s in samples]) for k in ("nilr", "nihr", "uihr", "guide")}
    unwarped = downsample(stack["nihr"], 16).mul(255).round().div(255)  # as a shard's uint8

    embed = dlib_embedding(args.eye_distance)
    gallery_ids, rows = first_of_each(ids)
    gallery = embed(to_uint8(stack["uihr"][rows]))

    def hits(images: torch.Tensor) -> np.ndarray:  # (N, 3, H, W) in [0, 1]: one hit per probe
        return rank1_hits(embed(to_uint8(images)), ids, gallery, gallery_ids)

    columns = {"bicubic": hits(bicubic_baseline(stack["nilr"])),
               "bicubic, unwarped": hits(bicubic_baseline(unwarped))}
    for path in args.checkpoints:
        generator, _ = load_generator(path, device="cpu")
        for name, nilr in ((path.parent.name, stack["nilr"]),
                           (f"{path.parent.name}, unwarped", unwarped)):
            with torch.no_grad():
                out = torch.cat([hallucinate_batch(generator, nilr[i:i + 32],
                                                   stack["guide"][i:i + 32])
                                 for i in range(0, len(ids), 32)])
            columns[name] = hits(out)
    columns["NI-HR"] = hits(stack["nihr"])

    table = Table(title=f"rank-1 by light: {args.shards} ({len(ids)} probes, "
                        f"{len(gallery_ids)} identities, dlib)")
    table.add_column("probes")
    table.add_column("n", justify="right")
    for name in columns:
        table.add_column(name, justify="right")
    for label, rule in BINS:
        mask = rule(az, el)
        table.add_row(label, str(int(mask.sum())),
                      *(f"{100 * v[mask].mean():.1f} %" for v in columns.values()))
    Console(width=220).print(table)


if __name__ == "__main__":
    main()
