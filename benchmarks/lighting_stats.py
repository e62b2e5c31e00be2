"""How real is the synthetic light? Lighting-ratio statistics against real Extended Yale B.

Per (NI, UI) pair of one face, ``datagen.rain.lighting`` measures the log ratio image
log(Y(NI) / Y(UI)) inside the face: its left/right asymmetry and its shadow range
(p95 − p5). Rows: real Extended Yale B (each lit photo over the same subject's frontal
``A+000E+00`` photo; the subjects given), the synthetic source's physical renders (each
face under a random non-uniform light over the same face under uniform light; held-out
identities) and, with ``--rain``, a RaIN checkpoint's outputs over their inputs. Columns:
medians and p95 of both statistics and the 1-D Wasserstein distance of each row's
distribution to Yale B's.

    python benchmarks/lighting_stats.py ../shared/data/extended-yale-b --subjects 01-28
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from datagen.rain.lighting import STATISTICS, compare, lighting_statistics, summarize
from datagen.rain.lighting_reference import LightingReference, open_reference


def rain_row(checkpoint: str, *, n: int, seed: int) -> LightingReference:
    """A RaIN checkpoint's outputs over its inputs, on held-out synthetic faces."""
    from datagen.rain import load_rain, relight
    from datagen.rain.data import FaceStream, synthetic_faces

    model = load_rain(checkpoint)
    size = model.config.image_size
    faces = FaceStream(synthetic_faces(size=size, lighting="uniform"), size=size,
                       split="test").sample(n, np.random.default_rng(seed))
    relit = relight(model, faces, generator=torch.Generator().manual_seed(seed)).cpu()
    return LightingReference(f"RaIN {checkpoint}", lighting_statistics(relit, faces))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", help="Extended Yale B folder (holding CroppedYale/)")
    ap.add_argument("--subjects", default=None,
                    help="subject numbers, e.g. 01-28 or 29-39 (default: all 38)")
    ap.add_argument("--n", type=int, default=1000, help="synthetic (and RaIN) faces")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rain", default=None, metavar="CHECKPOINT", help="also measure RaIN")
    args = ap.parse_args()

    yale = open_reference(f"extended_yale_b:{args.root}", subjects=args.subjects)
    rows = [yale, open_reference("synthetic", n=args.n, seed=args.seed)]
    if args.rain:
        rows.append(rain_row(args.rain, n=args.n, seed=args.seed))
    table = Table(title=f"lighting ratio log(NI/UI) vs {yale.name}")
    for col in ("faces", "pairs", *(f"{s} median / p95" for s in STATISTICS),
                *(f"W1 {s} to Yale B" for s in STATISTICS)):
        table.add_column(col, justify="left" if col == "faces" else "right")
    for row in rows:
        s = summarize(row.stats)
        w = compare(row.stats, yale.stats)
        table.add_row(row.name, str(s["range"]["n"]),
                      *(f"{s[k]['median']:.2f} / {s[k]['p95']:.2f}" for k in STATISTICS),
                      *(f"{w[k]:.3f}" for k in STATISTICS))
    Console().print(table)


if __name__ == "__main__":
    main()
