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
