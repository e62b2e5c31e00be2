"""``datagen synth``: stage 2, training pairs into verified, resumable, distributed shards."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import click
import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from facecore.cli import console, params_option
from facecore.config import build_config
from facecore.errors import UserInputError
from datagen.shards import shard_name
from datagen.shards.compare import compare_with_shard
from datagen.sources import SOURCES
from datagen.synth import SynthConfig, Synthesizer, synth
from datagen.synth.config import SynthRun
from datagen.synth.engine import preflight


def split_counts(n: int, split: str, fractions: tuple[float, float, float]) -> dict[str, int]:
    """Samples per split: all N in one split, or N shared by the identity fractions."""
    if split != "all":
        return {split: n}
    train, val = round(n * fractions[0]), round(n * fractions[1])
    return {"train": train, "val": val, "test": n - train - val}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _device(name: str) -> torch.device:
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UserInputError("--device cuda: no CUDA device available; use --device cpu")
        return torch.device("cuda", _env_int("LOCAL_RANK", 0))
    return torch.device("cpu")


@click.command("synth")
@params_option("synth")
@click.option("--n", "n", type=int, default=None, help="Samples to make (shared by splits with "
              "--split all, by the identity fractions).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Shard directory (created; re-running resumes it).")
@click.option("--split", default=None, type=click.Choice(["train", "val", "test", "all"]),
              help="One split, or all (default).")
@click.option("--source", default=None, metavar="NAME[:ROOT]",
              help=f"Face source ({', '.join(sorted(SOURCES))}; default synthetic), e.g. "
                   f"extended_yale_b:/data/CroppedYale.")
@click.option("--root", type=click.Path(exists=True, path_type=Path), default=None,
              help="Dataset folder for on-disk sources (or give it as NAME:ROOT).")
@click.option("--rain", "rain", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="RaIN checkpoint (stage 1), used by --relight rain.")
@click.option("--relight", type=click.Choice(["rain", "physical", "real", "geometric"]),
              default=None,
              help="rain (the default; needs --rain), physical (synthetic render under a random "
                   "light), real (a real non-uniform photo; sources with lighting labels) or "
                   "geometric (any face with 68 landmarks, relit through a fitted 3D template "
                   "under a random light; ranges in the params' synth.config.geometric).")
@click.option("--split-fractions", nargs=3, type=float, default=None, metavar="TRAIN VAL TEST",
              help="Identity fractions of the splits (a stable hash of each identity decides).")
@click.option("--guides", type=click.Choice(["batch", "split"]), default=None,
              help="batch (default): each guide is the UI-HR face of another sample of the "
                   "same batch, no extra face to load or render; split: any face of the "
                   "split, loaded apart (the paper's rule as written).")
@click.option("--guide-gallery", type=int, default=None, metavar="K",
              help="K ≥ 2: guides come from a fixed gallery of K faces per split, loaded "
                   "once per worker (sets the guides to 'gallery').")
@click.option("--seed", type=int, default=None)
@click.option("--shard-size", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--max-rotation", type=float, default=None, help="Degrees.")
@click.option("--max-translation", type=float, default=None, help="Fraction of the image size.")
@click.option("--scale-range", nargs=2, type=float, default=None)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None)
@click.option("--workers", type=int, default=None,
              help="Worker processes that load or render the faces ahead of the model and "
                   "PNG-encode its output (0: all in the main process).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads the model always runs with. Part of the config: CPU "
                   "kernels round differently per thread count, so a resume must use the "
                   "same. On a CPU, leave cores to the workers: --threads 1 --workers 2 was "
                   "fastest on 2 cores.")
@click.option("--rank", type=int, default=None, help="This process's rank (default: $RANK or 0).")
@click.option("--world-size", type=int, default=None,
              help="Number of ranks (default: $WORLD_SIZE or 1).")
@click.option("--only", type=int, default=None,
              help="Regenerate just sample INDEX of --split into --out/regenerated/ and compare "
                   "it with the shard holding it.")
@click.option("--metrics", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the run summary as JSON (samples per split, samples/s, bytes).")
def synth_cmd(params: str | None, n: int | None, out: Path, split: str | None,
              source: str | None, root: Path | None, rain: Path | None, relight: str | None,
              split_fractions: tuple[float, float, float] | None, guides: str | None,
              guide_gallery: int | None,
              seed: int | None, shard_size: int | None, batch_size: int | None,
              max_rotation: float | None, max_translation: float | None,
              scale_range: tuple[float, float] | None, device: str | None,
              workers: int | None, threads: int | None, rank: int | None,
              world_size: int | None, only: int | None, metrics: Path | None) -> None:
    """Synthesize training pairs into sharded WebDataset tarballs (schema v1).

    Every sample is a pure function of (config, split, index) on a given torch
    version and device: the same command gives byte-identical shards whatever
    --workers or ranks, and an interrupted run resumes by re-running it. Shard k goes to rank k mod world-size (torchrun's
    RANK/WORLD_SIZE are read when --rank/--world-size are not given).

    \b
      datagen synth --params params.yaml --rain models/rain.pt --out data/shards
    """
    if source is not None:
        source, _, spec_root = source.partition(":")
        if spec_root:
            if root is not None:
                raise UserInputError("give the dataset folder once: --source NAME:ROOT or --root")
            root = Path(spec_root)
    job = build_config(SynthRun, params, "synth", {
        "n": n, "split": split, "workers": workers, "config.seed": seed,
        "config.source": source, "config.source_options.root": str(root) if root else None,
        "config.relight": relight, "config.rain_checkpoint": str(rain) if rain else None,
        "config.shard_size": shard_size, "config.batch_size": batch_size,
        "config.max_rotation": max_rotation, "config.max_translation": max_translation,
        "config.scale_range": scale_range, "config.split_fractions": split_fractions,
        "config.guides": "gallery" if guide_gallery else (
            guides or ("batch" if guide_gallery == 0 else None)),
        "config.guide_gallery": guide_gallery, "config.device_type": device,
        "config.threads": threads}, where="synth")
    config, split, workers = job.config, job.split, job.workers
    if config.relight != "rain" and config.rain_checkpoint is not None:
        config = dataclasses.replace(config, rain_checkpoint=None)  # only RaIN reads it
    dev = _device(config.device_type)
    if only is not None:
        _regenerate(config, dev, out, "train" if split == "all" else split, only)
        return
    counts = split_counts(job.n, split, config.split_fractions)
    spare = -config.shard_size % config.batch_size
    if spare:
        console.print(f"Note: shard size {config.shard_size} is not a multiple of batch size "
                      f"{config.batch_size}: each shard's last batch makes {spare} samples it "
                      f"discards ({100 * spare / (config.shard_size + spare):.1f} % of the "
                      f"device's work); --shard-size {config.shard_size + spare} would not")
    rank = _env_int("RANK", 0) if rank is None else rank
    world_size = _env_int("WORLD_SIZE", 1) if world_size is None else world_size
    syn = Synthesizer(config, device=dev)
    preflight(syn, out, counts, rank, world_size)
    total = sum(counts.values())
    with Progress(TextColumn("[bold]synth[/bold] rank {task.fields[rank]}"), BarColumn(),
                  MofNCompleteColumn(), TextColumn("{task.fields[shards]} shards"),
                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task("synth", total=total, rank=f"{rank}/{world_size}", shards=0,
                                 rate="")
        done = {"shards": 0}

        def advance(samples: int, shards: int) -> None:
            done["shards"] += shards
            elapsed = progress.tasks[task].elapsed or 1e-9
            progress.update(task, advance=samples, shards=done["shards"],
                            rate=f"{progress.tasks[task].completed / elapsed:.1f} samples/s")

        summary = synth(config, out, counts, rank=rank, world_size=world_size, workers=workers,
                        on_progress=advance, synthesizer=syn)
        progress.update(task, completed=total)
    table = Table(title=f"{out}: {'complete' if summary.complete else 'this rank done'}")
    for col in ("split", "samples in dir", "shards written", "shards skipped", "samples/s"):
        table.add_column(col)
    for s in ("train", "val", "test"):
        if s in counts:
            table.add_row(s, f"{summary.per_split.get(s, 0):,}", "", "", "")
    table.add_row("all", f"{sum(summary.per_split.values()):,}", str(summary.written),
                  str(summary.skipped), f"{summary.samples_per_second:.1f}")
    console.print(table)
    if metrics is not None:
        _write_metrics(metrics, summary)


def _write_metrics(path: Path, summary) -> None:
    manifest = summary.manifest
    size = sum(r.bytes for r in manifest.shards.values())
    samples = sum(summary.per_split.values())
    data = {"samples": summary.per_split, "shards": len(manifest.shards),
            "samples_per_second": round(summary.samples_per_second, 2),
            "bytes_per_sample": round(size / max(1, samples)), "complete": summary.complete}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def _regenerate(config: SynthConfig, device: torch.device, out: Path, split: str,
                index: int) -> None:
    syn = Synthesizer(config, device=device)
    sample = syn.sample(split, index)
    target = out / "regenerated"
    target.mkdir(parents=True, exist_ok=True)
    members = sample.members()
    for name, data in members:
        (target / name.replace("/", "-")).write_bytes(data)
    shard = out / shard_name(split, index // config.shard_size)
    if not shard.is_file():
        click.echo(f"wrote {target}/{split}-{index:09d}.* (no shard {shard.name} to compare)")
        return
    diff = compare_with_shard(sample.key, members, shard)
    click.echo(f"wrote {target}/{split}-{index:09d}.*; {diff.describe()} (vs {shard.name})")
    if not diff.identical:
        raise SystemExit(1)
