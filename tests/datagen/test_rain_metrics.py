import numpy as np
import torch

from facecore.perceptual import VGGFeatures
from datagen.rain import Rain, RainConfig
from datagen.rain.data import LightingFieldStream
from datagen.rain.metrics import (content_distance, lighting_distance, relighting_metrics,
                                  style_distance)


def _images(n, seed):
    return LightingFieldStream(size=16).sample(n, np.random.default_rng(seed))


def test_distances_are_zero_for_identical_sets_and_positive_otherwise():
    vgg = VGGFeatures(width=0.125, weights="random")
    a, b = _images(6, 0), _images(6, 1)
    assert style_distance(vgg, a, a) == 0 and style_distance(vgg, a, b) > 0
    assert lighting_distance(a, a) == 0 and lighting_distance(a, b * 0.5) > 0
    assert content_distance(vgg, a, a) == 0 and content_distance(vgg, a, b) > 0
    # a global brightness change moves normalised structure less than a different image does
    assert content_distance(vgg, a, a * 0.8) < 0.5 * content_distance(vgg, a, b)


def test_relighting_metrics_of_an_identity_model():
    model = Rain(RainConfig(width=0.125, latent_dim=8, mlp_dim=16, image_size=16), vgg_weights="random")
    faces, references = _images(6, 2), _images(6, 3)
    m = relighting_metrics(model, faces, references, generator=torch.Generator().manual_seed(0))
    # a fresh shading model returns its input: relit and content sets coincide
    assert m["content_dist_relit_to_input"] < 1e-10
    assert abs(m["style_dist_relit_to_ni"] - m["style_dist_content_to_ni"]) < 1e-6
    assert m["content_dist_between_faces"] > 0


def test_more_faces_join_the_lighting_statistics_only():
    """``more_faces`` add lighting statistics; the first faces' measures stay as they were."""
    from datagen.rain.metrics import evaluate_relighting

    model = Rain(RainConfig(width=0.125, latent_dim=8, mlp_dim=16, image_size=16),
                 vgg_weights="random")
    faces, references, more = _images(4, 2), _images(4, 3), _images(6, 4)
    plain = evaluate_relighting(model, faces, references,
                                generator=torch.Generator().manual_seed(0))
    wider = evaluate_relighting(model, faces, references, more_faces=more,
                                generator=torch.Generator().manual_seed(0))
    assert wider.metrics == plain.metrics
    assert all(len(v) == 10 for v in wider.rain_lighting.values())
    assert all(torch.equal(wider.rain_lighting[k][:4], plain.rain_lighting[k])
               for k in plain.rain_lighting)


def test_the_reference_half_to_half_distance_is_its_sampling_floor():
    from datagen.rain.lighting_reference import LightingReference
    from datagen.rain.metrics import lighting_ratio_metrics

    twice = torch.tensor([0.1, 0.1, 0.5, 0.5, 2.0, 2.0], dtype=torch.float64)
    ref = LightingReference("pairs", {"asymmetry": twice, "range": twice * 2})
    ratio = lighting_ratio_metrics({"asymmetry": twice + 1, "range": twice * 2}, ref)
    assert ratio["wasserstein_reference_half_to_half"] == {"asymmetry": 0.0, "range": 0.0}
    assert ratio["wasserstein_rain_to_reference"]["asymmetry"] == 1.0
    assert ratio["wasserstein_rain_to_reference"]["range"] == 0.0


def test_shard_lighting_measures_the_stored_side_light(tiny_shards):
    """The fixture's NI-HR is its UI-HR times a left-to-right ramp 0.2 → 1: the image-left
    half is darker, so the asymmetry is that of the ramp (up to uint8 rounding and the dark
    pixels the face mask leaves out)."""
    from datagen.rain.lighting import lighting_statistics
    from datagen.rain.lighting_reference import shard_lighting

    stats = shard_lighting(tiny_shards, "train")
    assert all(len(v) == 8 for v in stats.values())
    grey = torch.full((1, 3, 128, 128), 0.5)
    ramp = grey * torch.linspace(0.2, 1.0, 128).view(1, 1, 1, -1)
    expected = lighting_statistics(ramp, grey)
    assert (stats["asymmetry"] - expected["asymmetry"]).abs().max() < 0.02  # measured 0.006
    assert (stats["range"] - expected["range"]).abs().max() < 0.03  # measured 0.010
    assert len(shard_lighting(tiny_shards, "test", n=3)["range"]) == 3
