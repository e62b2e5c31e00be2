"""``datagen inspect | verify | preview | lighting``: look at a shard directory."""

from __future__ import annotations

import sys
from itertools import islice
from pathlib import Path

import click
import numpy as np
from rich.table import Table

from facecore.cli import console, params_option
from facecore.config import build_config
from facecore.grid import make_grid
from facecore.imageio import write_image
from datagen.cli.rain import echo_lighting_ratio, reference_options
from datagen.shards import IMAGE_FIELDS, load_manifest, open_pairs, verify

shard_dir = click.argument("directory", type=click.Path(file_okay=False, path_type=Path))


@click.command("inspect")
@shard_dir
@click.option("--quick", is_flag=True, help="Check sizes and sha256 only, not each tar's members.")
def inspect_cmd(directory: Path, quick: bool) -> None:
    """Summarise a shard directory: splits, shards, samples, bytes, schema, verification."""
    report = verify(directory, deep=not quick)
    if report.manifest is None:
        raise click.ClickException(report.problems["manifest.json"])
    manifest = report.manifest
    table = Table(title=f"{directory}  (schema v{manifest.schema})")
    for col in ("split", "shards", "samples", "bytes", "bytes/sample", "verified"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split in ("train", "val", "test"):
        recs = [r for r in manifest.shards.values() if r.split == split]
        if not recs:
            continue
        n = sum(r.count for r in recs)
        size = sum(r.bytes for r in recs)
        bad = [r.name for r in recs if r.name in report.problems]
        table.add_row(split, str(len(recs)), f"{n:,}", f"{size:,}", f"{size / n:,.0f}",
                      "ok" if not bad else f"[red]{len(bad)} bad[/red]")
    console.print(table)
    for name, why in report.problems.items():
        console.print(f"[red]bad[/red] {name}: {why}")


@click.command("verify")
@shard_dir
@click.option("--regenerate", "regenerate_k", type=click.IntRange(min=1), default=None,
              metavar="K", help="Also re-make K random samples from the manifest's config and "
              "report how far each is from the stored one (max |Δ| in uint8 levels, share of "
              "pixels): 0 on the machine that made the shards.")
@click.option("--rain", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("models/rain.pt"), show_default=True,
              help="The RaIN checkpoint the shards were made with (for --regenerate).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where --regenerate runs; the manifest's device type must match.")
def verify_cmd(directory: Path, regenerate_k: int | None, rain: Path, device: str) -> None:
    """Check every shard against the manifest; exit 1 naming each bad shard."""
    report = verify(directory)
    if not report.ok:
        for name, why in report.problems.items():
            click.echo(f"{directory / name}: {why}", err=True)
        click.echo(f"{directory}: {len(report.problems)} problem(s), {report.shards_ok} shards "
                   f"ok; re-run the `datagen synth` command that made it to redo bad shards",
                   err=True)
        sys.exit(1)
    click.echo(f"{directory}: {report.shards_ok} shards verified")
    if regenerate_k is None:
        return
    from datagen.synth.regenerate import regenerate  # loads torch models: only when asked

    diffs = regenerate(directory, regenerate_k, rain=rain, device=device)
    for diff in diffs:
        click.echo(diff.describe())
    bad = [d for d in diffs if not d.identical]
    worst = max((d.max_delta for d in bad), default=0)
    share = sum(d.differing for d in diffs) / len(diffs)
    click.echo(f"regenerated {len(diffs)} samples: {len(diffs) - len(bad)} identical; max |Δ| "
               f"{worst} levels; {share:.4%} of pixels differ")
    if bad:
        sys.exit(1)


@click.command("preview")
@shard_dir
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PNG grid to write.")
@click.option("--n", "n", default=8, show_default=True, help="Samples (rows) to draw.")
@click.option("--split", default="train", show_default=True,
              type=click.Choice(["train", "val", "test"]))
def preview_cmd(directory: Path, out: Path, n: int, split: str) -> None:
    """Draw rows of NI-LR (nearest-upscaled) | NI-HR | UI-HR | guide."""
    rows, labels = [], []
    for sample in islice(open_pairs(directory, split, split_by_worker=False), n):
        rows.append([(sample[f].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                     for f in IMAGE_FIELDS])
        labels.append([f"{sample['key']} NI-LR", "NI-HR", "UI-HR",
                       f"guide {sample['json']['guide_identity']}"])
    if not rows:
        raise click.ClickException(f"{directory}: split {split!r} has no samples")
    write_image(out, make_grid(rows, cell=128, labels=labels))
    console.print(f"wrote {out} ({len(rows)} rows)")


@click.command("lighting")
@shard_dir
@params_option("rain_eval")
@click.option("--split", default="train", show_default=True,
              type=click.Choice(["train", "val", "test"]))
@click.option("--n", "n", type=click.IntRange(min=1), default=None,
              help="Measure the first N samples of the split (default: all).")
@click.option("--reference", default=None, metavar="SPEC",
              help="the light to hold the shards' against: synthetic (the physical renders; "
                   "default) or extended_yale_b:ROOT (real lit photos against each subject's "
                   "frontal one). --params reads it, --subjects and --reference-n from the "
                   "rain_eval section: the reference RaIN is judged against.")
@reference_options
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="metrics JSON to write.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PNG of the lighting-ratio histograms, shards vs reference.")
def lighting_cmd(directory: Path, params: str | None, split: str, n: int | None,
                 reference: str | None, subjects: str | None, reference_n: int | None,
                 out: Path, plot: Path | None) -> None:
    """Measure the light the shards hold: each pair's NI-HR over its UI-HR (lighting ratio:
    left/right asymmetry and shadow range, ``datagen.rain.lighting``) against a reference's,
    with quantiles and 1-D Wasserstein distances, and the distance between the reference's
    own two halves (what sampling alone gives)."""
    import json

    from datagen.rain.lighting_plot import lighting_histograms
    from datagen.rain.lighting_reference import open_reference, shard_lighting
    from datagen.rain.metrics import lighting_ratio_metrics
    from datagen.rain.run_config import RainEvalConfig

    config = build_config(RainEvalConfig, params, "rain_eval", {
        "reference": reference, "subjects": subjects, "reference_n": reference_n},
        where="lighting")
    manifest = load_manifest(directory)  # not a shard directory: one clear error
    stats = shard_lighting(directory, split, n=n)
    ref = open_reference(config.reference, subjects=config.subjects, n=config.reference_n,
                         seed=config.seed)
    ratio = lighting_ratio_metrics(stats, ref)
    metrics = {"shards": str(directory), "split": split,
               "relight": manifest.header.get("config", {}).get("relight"),
               "lighting_ratio": ratio}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    pairs = ratio["rain"]["asymmetry"]["n"]  # every statistic is measured on every pair
    echo_lighting_ratio(ratio, prefix=f"{directory} {split} ({pairs} pairs) ")
    if plot is not None:
        write_image(plot, lighting_histograms({ref.name: ref.stats, f"shards ({split})": stats}))
        click.echo(f"wrote {plot}")
