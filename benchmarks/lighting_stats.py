"""How real is the synthetic light? Lighting-ratio statistics against real Extended Yale B.

Per (NI, UI) pair of one face, ``datagen.rain.lighting`` measures the log ratio image
log(Y(NI) / Y(UI)) inside the face: its left/right asymmetry and its shadow range
(p95 − p5). Rows: real Extended Yale B (each lit photo over the same subject's frontal
``A+000E+00`` photo; the subjects given), the synthetic source's physical renders (each
face under a random non-uniform light over the same face under uniform light; held-out
identities), with ``--rain``, a RaIN checkpoint's outputs over their inputs and, with
``--geometric K``, the same subjects' uniform photos relit geometrically (``datagen.relight``:
dlib's 68 landmarks of each ``A+000E+00`` photo, K random lights of the default
``GeometricLight`` ranges each) over those photos. Columns: medians and p95 of both
statistics and the 1-D Wasserstein distance of each row's distribution to Yale B's.
``--grid PATH`` also draws geometric relights under fixed lights, one face per row: of
synthetic faces, or (``--grid-faces yale``) of the measured subjects' photos — keep that
one out of the repository, which must hold no Extended Yale B images.

    python benchmarks/lighting_stats.py ../shared/data/extended-yale-b --subjects 01-28
    python benchmarks/lighting_stats.py ../shared/data/extended-yale-b --subjects 29-39 \
        --geometric 64 --grid reports/geometric_relight.png
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from facecore.align import FaceFinder
from facecore.grid import make_grid
from facecore.imageio import write_image
from datagen.rain.data import square_resize, to_tensor
from datagen.rain.lighting import STATISTICS, compare, lighting_statistics, summarize
from datagen.rain.lighting_reference import LightingReference, open_reference, parse_subjects
from datagen.relight import GeometricLight, relight_geometric, sample_geometric_light
from datagen.sources import open_source, split_of
from datagen.sources.synthetic.params import directional_light

CHUNK = 64
GRID_ROWS = 5
# (azimuth, elevation) of the grid's columns: hard side light from either side, half-side,
# from above, from below and from behind the face
GRID_LIGHTS = ((-90.0, 0.0), (-45.0, 20.0), (0.0, 60.0), (0.0, -35.0), (45.0, 20.0),
               (90.0, 0.0), (120.0, 15.0))


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


def yale_uniform_faces(root: str, subjects: str | None, *, size: int = 128
                       ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Each chosen subject's ``A+000E+00`` photo as ``real_reference`` measures it (centred
    square crop) at ``size``², with dlib's iBUG-68 landmarks in it (HOG detector on the
    whole photo, where it finds every subject; the crop cuts the context it needs):
    subject names, (N, S, S, 3) uint8 and (N, 68, 2) float64."""
    source = open_source("extended_yale_b", root=root)
    chosen = parse_subjects(subjects) if subjects else None
    finder = FaceFinder()
    names, images, marks = [], [], []
    for ident in source.identities:
        if chosen is not None and int(ident[-2:]) not in chosen:
            continue
        photo = source[source.uniform_index_of(ident)].image
        fit = finder.find(photo)
        if fit is None:
            print(f"{ident}: no face found in its uniform photo; left out")
            continue
        h, w = photo.shape[:2]
        side = min(h, w)
        corner = np.array([(w - side) // 2, (h - side) // 2], np.float64)
        names.append(ident)
        images.append(square_resize(photo, size))
        marks.append((fit.landmarks.astype(np.float64) - corner) * (size / side))
    return names, np.stack(images), np.stack(marks)


def _relight(images: np.ndarray, landmarks: np.ndarray, lights: list[dict]) -> torch.Tensor:
    """Uniform faces (N, S, S, 3) uint8 relit under one light each, quantised to uint8 levels
    as the shards store them: (N, 3, S, S) in [0, 1]."""
    relit = relight_geometric(to_tensor(list(images)), torch.from_numpy(landmarks), lights)
    return relit.mul(255.0).round().div(255.0)


def geometric_row(faces: tuple[list[str], np.ndarray, np.ndarray], *, lights_per_face: int,
                  seed: int) -> LightingReference:
    """Uniform photos relit under ``lights_per_face`` random lights each (default ranges;
    style seeds ``seed·10⁶ + pair number``) against the photos."""
    _, images, marks = faces
    images, marks = images.repeat(lights_per_face, 0), marks.repeat(lights_per_face, 0)
    stats = []
    for start in range(0, len(images), CHUNK):
        sl = slice(start, start + CHUNK)
        lights = [sample_geometric_light(GeometricLight(), seed * 10**6 + k)
                  for k in range(start, start + len(images[sl]))]
        stats.append(lighting_statistics(_relight(images[sl], marks[sl], lights),
                                         to_tensor(list(images[sl]))))
    return LightingReference(f"geometric × {lights_per_face} lights",
                             {k: torch.cat([s[k] for s in stats]) for k in STATISTICS})


def synthetic_grid_faces(n: int, size: int = 128) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``n`` uniformly lit synthetic faces of test identities with their analytic landmarks."""
    from datagen.sources.synthetic import SyntheticFaces

    ids = np.array([i for i in range(400) if split_of(f"synthetic-{i:06d}") == "test"][:n])
    out = SyntheticFaces(size=size).render(ids, np.zeros_like(ids), lighting="uniform")
    return [f"synthetic-{i:06d}" for i in ids], out.images, out.landmarks.astype(np.float64)


def relight_grid(faces: tuple[list[str], np.ndarray, np.ndarray]) -> np.ndarray:
    """One row per face: its uniform photo, then relit under each of ``GRID_LIGHTS``."""
    names, images, marks = faces
    columns = [_relight(images, marks, [grid_light(az, el)] * len(images))
               for az, el in GRID_LIGHTS]
    rows = [[images[b]] + [(c[b].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                           for c in columns] for b in range(len(images))]
    labels = [["uniform"] + [f"az {az:+.0f} el {el:+.0f}" for az, el in GRID_LIGHTS]] * len(rows)
    return make_grid(rows, labels=labels, row_titles=names)


def grid_light(azimuth: float, elevation: float) -> dict:
    """A white light of the grid, one in a dark room (as a light dict)."""
    return {"lighting": "non-uniform", "kind": "geometric", "ambient": 0.0005,
            "ambient_tint": [1.0, 1.0, 1.0],
            "lights": [directional_light(azimuth, elevation, 2.0, [1.0, 1.0, 1.0])]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", help="Extended Yale B folder (holding CroppedYale/)")
    ap.add_argument("--subjects", default=None,
                    help="subject numbers, e.g. 01-28 or 29-39 (default: all 38)")
    ap.add_argument("--n", type=int, default=1000, help="synthetic (and RaIN) faces")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rain", default=None, metavar="CHECKPOINT", help="also measure RaIN")
    ap.add_argument("--geometric", type=int, default=0, metavar="K",
                    help="also measure geometric relighting: K random lights per uniform photo")
    ap.add_argument("--grid", default=None, metavar="PNG",
                    help="draw geometric relights under fixed lights, one face per row")
    ap.add_argument("--grid-faces", choices=["synthetic", "yale"], default="synthetic",
                    help="faces of the grid (yale: not for the repository)")
    args = ap.parse_args()

    yale = open_reference(f"extended_yale_b:{args.root}", subjects=args.subjects)
    rows = [yale, open_reference("synthetic", n=args.n, seed=args.seed)]
    if args.rain:
        rows.append(rain_row(args.rain, n=args.n, seed=args.seed))
    photos = yale_uniform_faces(args.root, args.subjects) \
        if args.geometric or args.grid_faces == "yale" else None
    if args.geometric:
        rows.append(geometric_row(photos, lights_per_face=args.geometric, seed=args.seed))
    if args.grid:
        faces = synthetic_grid_faces(GRID_ROWS) if args.grid_faces == "synthetic" else \
            tuple(part[:GRID_ROWS] for part in photos)
        write_image(args.grid, relight_grid(faces))
        print(f"grid: {args.grid}")
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
