"""The torch port of dlib's face descriptor against dlib's own runtime, on real faces.

Extended Yale B (cropped), test subjects 29–39: gallery = each subject's frontal,
uniformly lit ``A+000E+00`` photo; probes = the same subject's other 63 lightings. The
face chip (150×150, dlib's 5-point alignment, padding 0.25) is cut once per subject from
the uniform photo — pose is fixed in Yale B, so the same chip geometry holds for every
lighting — and fed to both networks. Prints rank-1 for each, their max |Δ| and speed.

    python benchmarks/identity_port.py ../shared/data/extended-yale-b
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from facecore.dlib_models import FRONTAL_5, RESNET_DESCRIPTOR, model_path
from facecore.dlib_resnet import load_dlib_face_resnet
from facecore.identity import rank1_accuracy
from datagen.sources import open_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", help="Extended Yale B folder (holding CroppedYale/)")
    ap.add_argument("--subjects", default="29-39", help="first-last subject numbers")
    args = ap.parse_args()
    import dlib

    lo, hi = (int(x) for x in args.subjects.split("-"))
    source = open_source("extended_yale_b", root=args.root)
    detector, predictor = dlib.get_frontal_face_detector(), dlib.shape_predictor(
        str(model_path(FRONTAL_5)))
    runtime = dlib.face_recognition_model_v1(str(model_path(RESNET_DESCRIPTOR)))
    port = load_dlib_face_resnet()
    chips, ids, uniform, skipped = [], [], [], []
    for n in range(lo, hi + 1):
        ident = f"yaleB{n:02d}"
        if ident not in source.identities:
            continue
        ref = source[source.indices_of(ident, "uniform")[0]].image
        faces = detector(ref, 1)
        if not faces:
            skipped.append(ident)
            continue
        shape = predictor(ref, max(faces, key=lambda r: r.area()))
        for i in source.indices_of(ident):
            rec = source[i]
            chips.append(dlib.get_face_chip(np.ascontiguousarray(rec.image), shape, 150, 0.25))
            ids.append(ident)
            uniform.append(rec.illumination == "uniform")
    chips_a = np.stack(chips)
    t = time.perf_counter()
    emb_rt = np.stack([np.asarray(runtime.compute_face_descriptor(c)) for c in chips_a])
    t_rt = time.perf_counter() - t
    t = time.perf_counter()
    with torch.no_grad():
        x = torch.from_numpy(chips_a).permute(0, 3, 1, 2).float() / 255
        emb_port = torch.cat([port(x[i:i + 32]) for i in range(0, len(x), 32)]).double().numpy()
    t_port = time.perf_counter() - t
    g = np.array(uniform)
    ids_a = np.array(ids, dtype=object)
    table = Table(title=f"dlib face descriptor on Extended Yale B subjects {lo}–{hi}: "
                        f"{int(g.sum())} gallery, {int((~g).sum())} probes"
                        + (f" (no face found: {', '.join(skipped)})" if skipped else ""))
    for col in ("network", "rank-1", "chips/s", "max |Δ| to runtime"):
        table.add_column(col, justify="right")
    for name, emb, sec in (("dlib runtime", emb_rt, t_rt), ("torch port", emb_port, t_port)):
        r1 = rank1_accuracy(emb[~g], list(ids_a[~g]), emb[g], list(ids_a[g]))
        table.add_row(name, f"{r1:.4f}", f"{len(chips_a) / sec:.1f}",
                      f"{np.abs(emb - emb_rt).max():.2e}")
    Console().print(table)


if __name__ == "__main__":
    main()
