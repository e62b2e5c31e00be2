import numpy as np
import pytest
import torch

from facecore.errors import UserInputError
from datagen.rain.data import (FaceStream, LightingFieldStream, MixStream, PhotoStream, open_stream,
                               square_resize, to_tensor)
from datagen.rain.styles import lighting_fields


def test_lighting_fields_are_a_pure_function_of_the_generator():
    a = lighting_fields(3, 16, np.random.default_rng(1))
    b = lighting_fields(3, 16, np.random.default_rng(1))
    assert a.shape == (3, 16, 16, 3) and a.dtype == np.float32
    assert np.array_equal(a, b) and 0 <= a.min() and a.max() <= 1
    assert not np.array_equal(a, lighting_fields(3, 16, np.random.default_rng(2)))
    assert a.reshape(3, -1).std(1).min() > 0  # not flat


def test_streams_give_batches_in_range_and_replay():
    photo = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    stream = MixStream([PhotoStream([photo], size=16), LightingFieldStream(size=16)])
    x, y = stream.sample(5, np.random.default_rng(3)), stream.sample(5, np.random.default_rng(3))
    assert x.shape == (5, 3, 16, 16) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert (x == y).all()
    assert square_resize(photo, 16).shape == (16, 16, 3)


def test_face_stream_uses_train_identities_only():
    pytest.importorskip("datagen.sources.synthetic")
    from datagen.rain.data import synthetic_faces
    from datagen.sources import split_of

    source = synthetic_faces(size=16, lighting="non-uniform", n_identities=30)
    stream = FaceStream(source, size=16)
    assert all(split_of(source.identity_of(int(i))) == "train" for i in stream.indices)
    assert stream.sample(2, np.random.default_rng(0)).shape == (2, 3, 16, 16)
    with pytest.raises(UserInputError, match="no uniform images"):
        FaceStream(source, size=16, illumination="uniform")


def test_open_stream_unknown_source():
    with pytest.raises(UserInputError, match="unknown source"):
        open_stream("nope", role="content", phase="pretrain", size=16)


def test_synthetic_pairs_light_the_content_face_with_the_style_face_light():
    """target = the content identity rendered under exactly the light of the style face (another
    identity), content = the same face under uniform light; replays from the generator."""
    from datagen.rain.data import SyntheticPairs

    pairs = SyntheticPairs(size=32, n_identities=20)
    content, style, target = pairs.sample_pairs(3, np.random.default_rng(0))
    again = pairs.sample_pairs(3, np.random.default_rng(0))
    assert all(torch.equal(a, b) for a, b in zip((content, style, target), again))
    rng = np.random.default_rng(0)  # the draws sample_pairs makes, in its order
    a = pairs.identities[rng.integers(0, pairs.identities.size, size=3)]
    b = pairs.identities[rng.integers(0, pairs.identities.size, size=3)]
    assert not (a == b).any()
    va, vb = rng.integers(0, 16, size=3), rng.integers(0, 16, size=3)
    seeds = rng.integers(0, 2**31 - 1, size=3)
    lit = pairs.source.render(b, vb, lighting="non-uniform", light_seeds=seeds)
    relit = pairs.source.render(a, va, lighting="non-uniform", lights=lit.lights)
    assert torch.equal(style, to_tensor(lit.images)) and torch.equal(target, to_tensor(relit.images))
    assert torch.equal(content, to_tensor(pairs.source.render(a, va, lighting="uniform").images))
    assert (target - content).abs().mean() > 0.02  # the light really changed the face


def test_labelled_pairs_share_the_light_label_across_identities(yale_root):
    """Extended Yale B: content = A's frontal photo, style = B's photo under light L, target =
    A's photo under L. In the fixture subject n's side away from the light is 16·n grey."""
    from datagen.rain.data import open_pairs

    pairs = open_pairs(f"extended_yale_b:{yale_root}", f"extended_yale_b:{yale_root}", size=16,
                       subjects="1-2")
    content, style, target = pairs.sample_pairs(8, np.random.default_rng(0))
    assert torch.allclose(content, torch.full_like(content, 160 / 255))
    dark = lambda x: x.amin(dim=(1, 2, 3))  # noqa: E731 - the shadow's grey level per image
    # subjects 1 and 2 only: the style is the other one's shadow, the target one's own
    assert set(torch.round(dark(style) * 255).tolist()) <= {16.0, 32.0}
    assert torch.all(dark(style) != dark(target))
    lit_left = lambda x: x[..., :8].mean(dim=(1, 2, 3)) > x[..., 8:].mean(dim=(1, 2, 3))  # noqa: E731
    assert torch.equal(lit_left(style), lit_left(target))  # the same light direction
    with pytest.raises(UserInputError, match="no subject"):
        open_pairs(f"extended_yale_b:{yale_root}", f"extended_yale_b:{yale_root}", size=16,
                   subjects="30-39")
    assert open_pairs("embedded", "lighting-fields", size=16) is None  # unpaired, as published
