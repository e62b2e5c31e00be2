"""How the face's framing decides what identity survives a 16×16 thumbnail, on real faces.

Extended Yale B (cropped), the given subjects, aligned by ``datagen align`` at each eye
distance (fraction of the crop side between the eye centres; 0.225 is the synthetic faces'
and the align default, 0.356 the framing of dlib's own face chips). Per framing: how much
of each 128² crop is invented black border (the align report's ``padding``), and rank-1
identification with dlib's descriptor — gallery: each subject's uniform ``A+000E+00``
crop; probes: the other lightings at 128² (NI-HR) and after the 16×16 antialiased
thumbnail and bicubic upsampling back to 128² (what CPGAN starts from).

    python benchmarks/framing_identity.py ../shared/data/extended-yale-b --subjects 29-39 \\
        --eye-distances 0.225 0.3 0.356 --work /tmp/framing
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from cpgan.evaluate import bicubic_baseline
from datagen.align_dataset import AlignConfig, align_source, report_paddings
from datagen.sources import open_source
from datagen.warp import downsample
from facecore.identity import FaceEmbedder, rank1_accuracy


def thumbnail_bicubic(faces: np.ndarray) -> np.ndarray:
    """(N, 128, 128, 3) uint8 → the 16×16 NI-LR thumbnail, bicubic back to 128², uint8."""
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255
    up = bicubic_baseline(downsample(x, 16), faces.shape[1])
    return (up * 255).round().byte().permute(0, 2, 3, 1).contiguous().numpy()


def measure(root: str, subjects: str, eye_distance: float, work: Path) -> dict[str, float]:
    dst = work / f"eye{eye_distance:.3f}"
    t = time.perf_counter()
    source = open_source("extended_yale_b", root=root, subjects=subjects)
    align_source(source, dst, AlignConfig(eye_distance=eye_distance, per_identity_reference=True),
                 progress=False)
    aligned = open_source("folder", root=dst)
    records = [aligned[i] for i in range(len(aligned))]
    faces = np.stack([r.image for r in records])
    ids = [r.identity for r in records]
    gallery = np.array([r.illumination == "uniform" for r in records])
    embed = FaceEmbedder(eye_distance=eye_distance).embed
    g_emb, g_ids = embed(faces[gallery]), [i for i, g in zip(ids, gallery) if g]
    probes = faces[~gallery]
    p_ids = [i for i, g in zip(ids, gallery) if not g]
    padding = report_paddings(dst)
    return {
        "crops": len(records), "identities": len(g_ids),
        "padding_median": float(np.median(padding)), "padding_max": float(padding.max()),
        "rank1_nihr": rank1_accuracy(embed(probes), p_ids, g_emb, g_ids),
        "rank1_bicubic16": rank1_accuracy(embed(thumbnail_bicubic(probes)), p_ids, g_emb, g_ids),
        "seconds": time.perf_counter() - t,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", help="Extended Yale B folder (holding CroppedYale/)")
    ap.add_argument("--subjects", default="29-39", help="subject numbers, e.g. 29-39")
    ap.add_argument("--eye-distances", type=float, nargs="+", default=[0.225, 0.3, 0.356])
    ap.add_argument("--work", type=Path, default=Path("/tmp/framing_identity"),
                    help="where the aligned crops go (kept: a rerun reuses them)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    table = Table(title=f"Extended Yale B subjects {args.subjects}: framing and identity")
    for col in ("eye distance", "crops", "ids", "padding median", "padding max",
                "rank-1 NI-HR 128²", "rank-1 16² → bicubic", "s"):
        table.add_column(col, justify="right")
    for e in args.eye_distances:
        m = measure(args.root, args.subjects, e, args.work)
        table.add_row(f"{e:.3f}", str(m["crops"]), str(m["identities"]),
                      f"{m['padding_median']:.3f}", f"{m['padding_max']:.3f}",
                      f"{m['rank1_nihr']:.3f}", f"{m['rank1_bicubic16']:.3f}",
                      f"{m['seconds']:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
