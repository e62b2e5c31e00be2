import numpy as np
import pytest

from facecore.errors import UserInputError
from datagen.rain.data import (FaceStream, LightingFieldStream, MixStream, PhotoStream, open_stream,
                               square_resize)
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
