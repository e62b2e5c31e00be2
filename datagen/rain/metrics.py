"""Does RaIN relight? Distribution distances the DVC pipeline logs after fine-tuning.

- style distance: a diagonal Fréchet distance between the sets of per-image VGG
  channel statistics (μ, σ at relu1_1…relu4_1) of two image sets. RaIN outputs
  should be closer to real non-uniform faces than their uniformly lit inputs are.
  (A per-pair distance would favour the low-variance uniform set, so sets are compared.)
- lighting distance: the same Fréchet form on 8×8 luminance thumbnails, a check
  that does not use the VGG the model was trained against.
- content distance: MSE of instance-normalised relu4_1 features (structure, not
  illumination statistics) between each output and its input, against the same
  distance between two different input faces.
- lighting ratio (``datagen.rain.lighting``): per relit face, the left/right asymmetry
  and shadow range of log(output / input), summarised by quantiles and held against a
  reference of real light (Extended Yale B, or the synthetic physical renders) by the
  1-D Wasserstein distance per statistic.
- identity kept: dlib's face descriptor (``facecore.identity``) of each output against its
  input's; dlib calls two faces one person below 0.6, so the share under it is the share of
  relit faces still recognisably their input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facecore.perceptual import VGGFeatures, channel_mean_std
from datagen.rain.lighting import compare, lighting_statistics, summarize
from datagen.rain.lighting_reference import LightingReference
from datagen.rain.model import Rain
from datagen.rain.relight import relight


def style_statistics(vgg: VGGFeatures, images: torch.Tensor) -> list[torch.Tensor]:
    """Per layer, (N, 2C) [μ, σ] of ``images`` (N, 3, H, W) in [0, 1]."""
    with torch.inference_mode():
        feats = vgg(images)
    out = []
    for f in feats:
        mean, std = channel_mean_std(f)
        out.append(torch.cat([mean.flatten(1), std.flatten(1)], 1))
    return out


def diagonal_frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over dimensions of (m_a − m_b)² + (s_a − s_b)² for sample sets a, b (N, D)."""
    return float(((a.mean(0) - b.mean(0)) ** 2 + (a.std(0) - b.std(0)) ** 2).mean())


def style_distance(vgg: VGGFeatures, a: torch.Tensor, b: torch.Tensor) -> float:
    """Σ over relu1_1…relu4_1 of the diagonal Fréchet distance of channel statistics."""
    return sum(diagonal_frechet(x, y) for x, y in zip(style_statistics(vgg, a), style_statistics(vgg, b)))


def lighting_distance(a: torch.Tensor, b: torch.Tensor, *, grid: int = 8) -> float:
    """Diagonal Fréchet distance of (grid × grid) luminance thumbnails of two image sets."""
    weights = torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]

    def thumbs(x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d((x * weights).sum(1, keepdim=True), grid).flatten(1)

    return diagonal_frechet(thumbs(a), thumbs(b))


SAME_PERSON = 0.6  # dlib's threshold on descriptor distance for "the same person"


def identity_distances(a: torch.Tensor, b: torch.Tensor, *, batch_size: int = 32) -> torch.Tensor:
    """(N,) dlib descriptor distances between aligned faces a[i] and b[i], (N, 3, S, S)."""
    from facecore.identity import AlignedFaceDescriptor  # local: loads dlib's weights

    net = AlignedFaceDescriptor()
    out = []
    with torch.inference_mode():
        for start in range(0, len(a), batch_size):
            sl = slice(start, start + batch_size)
            out.append((net(a[sl]) - net(b[sl])).norm(dim=1))
    return torch.cat(out)


def identity_metrics(relit: torch.Tensor, content: torch.Tensor) -> dict[str, float]:
    """JSON-ready: median dlib distance of relit faces to their inputs and the share of them
    within ``SAME_PERSON``."""
    d = identity_distances(relit, content)
    return {"dlib_distance_median": float(d.median()),
            "dlib_share_same_person": float((d < SAME_PERSON).double().mean())}


def content_distance(vgg: VGGFeatures, a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean MSE of instance-normalised relu4_1 features of paired images a[i], b[i]."""
    with torch.inference_mode():
        fa, fb = vgg(a)[-1], vgg(b)[-1]

    def norm(f: torch.Tensor) -> torch.Tensor:
        mean, std = channel_mean_std(f)
        return (f - mean) / std

    return float(F.mse_loss(norm(fa), norm(fb)))


@dataclass(frozen=True)
class RelightingEvaluation:
    """What ``evaluate_relighting`` measured.

    metrics:       JSON-ready, the content of ``metrics/rain.json``.
    rain_lighting: per relit face, ``lighting_statistics`` of output over input, (N,) each.
    reference:     the lit faces the lighting was held against, or None.
    """

    metrics: dict[str, Any]
    rain_lighting: dict[str, torch.Tensor]
    reference: LightingReference | None


def lighting_ratio_metrics(rain: dict[str, torch.Tensor],
                           reference: LightingReference) -> dict[str, Any]:
    """JSON-ready: the reference's name, quantiles of both sets' lighting statistics, the
    Wasserstein distance of RaIN's to the reference's per statistic, and the distance
    between the reference's two halves (even and odd entries): what sampling alone gives
    at about this size, the floor a distance of RaIN's can be told apart from."""
    halves = {k: v[0::2] for k, v in reference.stats.items()}, \
        {k: v[1::2] for k, v in reference.stats.items()}
    return {"reference": reference.name, "rain": summarize(rain),
            "reference_stats": summarize(reference.stats),
            "wasserstein_rain_to_reference": compare(rain, reference.stats),
            "wasserstein_reference_half_to_half": compare(*halves)}


def evaluate_relighting(model: Rain, content: torch.Tensor, nonuniform: torch.Tensor, *,
                        generator: torch.Generator,
                        reference: LightingReference | None = None,
                        identity: bool = False,
                        more_faces: torch.Tensor | None = None) -> RelightingEvaluation:
    """Relight ``content`` (N, 3, H, W) uniformly lit faces with random z and measure the
    outputs against ``nonuniform`` (M, 3, H, W) non-uniform faces of held-out identities (all
    in [0, 1]) and, with ``reference``, their lighting ratios against its (``lighting_ratio``);
    with ``identity`` (aligned faces only) dlib's verdict on each output against its input.
    ``more_faces`` (K, 3, H, W), relit after ``content`` with the same generator, join the
    lighting statistics only: they are cheap where the VGG and dlib measures are not."""
    relit = relight(model, content, generator=generator).cpu()
    content, nonuniform = content.cpu(), nonuniform.cpu()
    vgg = model.encoder.cpu()
    other = content.roll(1, dims=0)  # a different face for each face
    metrics: dict[str, Any] = {
        "style_dist_relit_to_ni": style_distance(vgg, relit, nonuniform),
        "style_dist_content_to_ni": style_distance(vgg, content, nonuniform),
        "lighting_dist_relit_to_ni": lighting_distance(relit, nonuniform),
        "lighting_dist_content_to_ni": lighting_distance(content, nonuniform),
        "content_dist_relit_to_input": content_distance(vgg, relit, content),
        "content_dist_between_faces": content_distance(vgg, content, other),
    }
    if identity:
        metrics["identity"] = identity_metrics(relit, content)
    rain_lighting = lighting_statistics(relit, content)
    if more_faces is not None and len(more_faces):
        more = lighting_statistics(relight(model, more_faces, generator=generator).cpu(),
                                   more_faces.cpu())
        rain_lighting = {k: torch.cat([v, more[k]]) for k, v in rain_lighting.items()}
    if reference is not None:
        metrics["lighting_ratio"] = lighting_ratio_metrics(rain_lighting, reference)
    return RelightingEvaluation(metrics, rain_lighting, reference)


def relighting_metrics(model: Rain, content: torch.Tensor, nonuniform: torch.Tensor, *,
                       generator: torch.Generator) -> dict[str, float]:
    """The distances of ``evaluate_relighting`` (no lighting reference)."""
    return evaluate_relighting(model, content, nonuniform, generator=generator).metrics


EVAL_SIZE = 128  # faces are relit at the shards' size: RaIN's gain is upsampled onto them


def evaluate_on_synthetic(model: Rain, *, n: int = 64, seed: int = 0,
                          reference: LightingReference | None = None,
                          lighting_n: int = 0) -> RelightingEvaluation:
    """``evaluate_relighting`` on held-out (test split) synthetic faces at ``EVAL_SIZE``:
    content = their uniform renders, non-uniform set = non-uniform renders of the same
    held-out identities; identity kept is measured (the faces are aligned). The lighting
    statistics take ``lighting_n`` faces when that is more than ``n`` (the first ``n`` are
    the same faces, under the same light, as without it)."""
    from datagen.rain.data import FaceStream, synthetic_faces

    rng = np.random.default_rng(seed)
    content = FaceStream(synthetic_faces(size=EVAL_SIZE, lighting="uniform"), size=EVAL_SIZE,
                         split="test")
    ni = FaceStream(synthetic_faces(size=EVAL_SIZE, lighting="non-uniform"), size=EVAL_SIZE,
                    split="test")
    faces, references = content.sample(n, rng), ni.sample(n, rng)
    more = content.sample(lighting_n - n, rng) if lighting_n > n else None
    return evaluate_relighting(model, faces, references, identity=True,
                               generator=torch.Generator().manual_seed(seed), reference=reference,
                               more_faces=more)


def evaluate_on_real(model: Rain, source, identities: list[str], *, per_face: int = 8,
                     seed: int = 0, reference: LightingReference | None = None
                     ) -> RelightingEvaluation:
    """``evaluate_relighting`` on real photos (a ``LightingPairs`` source, e.g. Extended Yale
    B): each identity's uniform photo relit under ``per_face`` random z, against the same
    identities' real lit photos. No identity verdict: the crops are not framed as
    ``datagen align`` frames faces, which the aligned descriptor needs."""
    from datagen.rain.data import square_resize, to_tensor

    def load(i: int) -> np.ndarray:
        return square_resize(source[i].image, EVAL_SIZE)

    uniform = to_tensor([load(source.uniform_index_of(ident)) for ident in identities])
    lit = to_tensor([load(i) for ident in identities
                     for i in source.indices_of(ident, "non-uniform")])
    faces = uniform.repeat_interleave(per_face, dim=0)
    return evaluate_relighting(model, faces, lit, generator=torch.Generator().manual_seed(seed),
                               reference=reference)
