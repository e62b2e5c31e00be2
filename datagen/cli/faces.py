"""``datagen faces``: look at the faces a source gives, as one labelled grid image."""

from __future__ import annotations

import inspect
from pathlib import Path

import click

from facecore.errors import UserInputError
from facecore.grid import draw_points, make_grid
from facecore.imageio import write_image


def _source_options(name: str, *, root: str | None, lighting: str, seed: int,
                    size: int) -> dict:
    """The options of ``datagen faces`` that source ``name`` accepts (others are skipped)."""
    from datagen.sources import SOURCES

    cls = SOURCES.get(name)
    if cls is None:
        raise UserInputError(f"unknown source {name!r}; choose one of {', '.join(sorted(SOURCES))}")
    accepted = set(inspect.signature(cls.__init__).parameters)
    wanted = {"lighting": lighting, "seed": seed, "size": size}
    options = {k: v for k, v in wanted.items() if k in accepted}
    if root is not None:
        options["root"] = root
    return options


@click.command("faces")
@click.option("--source", default="synthetic", show_default=True, metavar="NAME[:ROOT]",
              help="face source, e.g. synthetic, or folder:/path/to/faces.")
@click.option("--n", type=click.IntRange(min=1), default=64, show_default=True,
              help="number of faces.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True,
              help="index of the first face.")
@click.option("--step", type=click.IntRange(min=1), default=1, show_default=True,
              help="index step (e.g. the source's images per identity: one face per identity).")
@click.option("--lighting", type=click.Choice(["uniform", "non-uniform"]), default="uniform",
              show_default=True, help="light of sources that render it (synthetic).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="seed of sources that take one.")
@click.option("--size", type=click.IntRange(min=1), default=128, show_default=True,
              help="image size of sources that render (synthetic).")
@click.option("--cols", type=click.IntRange(min=1), default=8, show_default=True,
              help="faces per grid row.")
@click.option("--landmarks", is_flag=True, help="overlay the 68 landmarks.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="grid image to write, e.g. faces.png.")
def faces(source: str, n: int, start: int, step: int, lighting: str, seed: int, size: int,
          cols: int, landmarks: bool, out: Path) -> None:
    """Write a labelled grid of N faces (label: identity and lighting)."""
    from datagen.sources import open_source

    name, _, root = source.partition(":")
    src = open_source(name, **_source_options(name, root=root or None, lighting=lighting,
                                              seed=seed, size=size))
    if start >= len(src):
        raise UserInputError(f"--start {start} is past the end of source {name!r} "
                             f"({len(src)} faces)")
    indices = list(range(start, len(src), step))[:n]
    get_batch = getattr(src, "get_batch", None)
    records = get_batch(indices) if get_batch else [src[i] for i in indices]
    cell = max(r.image.shape[0] for r in records)
    tiles, labels = [], []
    for rec in records:
        img = rec.image
        if landmarks and rec.landmarks is not None:
            img = draw_points(img, rec.landmarks, radius=max(1, img.shape[0] // 128))
        tiles.append(img)
        light = {"uniform": "UI", "non-uniform": "NI"}.get(rec.illumination or "", "?")
        labels.append(f"{rec.identity} {light}")
    rows = [tiles[i:i + cols] for i in range(0, len(tiles), cols)]
    label_rows = [labels[i:i + cols] for i in range(0, len(labels), cols)]
    write_image(out, make_grid(rows, cell=cell, labels=label_rows))
    click.echo(f"wrote {out} ({len(records)} faces from {name})")
