"""The synthetic face source: determinism, identities, landmarks on features, physical light."""

from __future__ import annotations

import numpy as np
import pytest

from facecore.errors import UserInputError
from datagen.sources import SOURCES, FaceSource, open_source
from datagen.sources.synthetic import SyntheticFaces
from datagen.sources.synthetic.params import sample_identity

SIZE = 64


@pytest.fixture(scope="module")
def src() -> SyntheticFaces:
    return SyntheticFaces(size=SIZE, n_identities=10_000, images_per_identity=4, seed=3)


def _render(src, ids, variants, lighting="uniform", light_seeds=None):
    return src.render(np.asarray(ids), np.asarray(variants), lighting=lighting,
                      light_seeds=None if light_seeds is None else np.asarray(light_seeds))


def test_registered_and_protocol(src):
    assert SOURCES["synthetic"] is SyntheticFaces
    assert isinstance(src, FaceSource)
    assert isinstance(open_source("synthetic", size=32), SyntheticFaces)


def test_indexing_and_labels(src):
    assert len(src) == 40_000
    assert src.identity_of(0) == "synthetic-000000"
    assert src.identity_of(4 * 123 + 3) == "synthetic-000123"
    assert src.identity_of(len(src) - 1) == "synthetic-009999"
    other_seed = SyntheticFaces(size=SIZE, images_per_identity=4, seed=99)
    assert other_seed.identity_of(4 * 123) == "synthetic-000123"
    rec = src[len(src) - 1]                                     # identity 9999 renders
    assert rec.image.shape == (SIZE, SIZE, 3) and rec.image.dtype == np.uint8
    assert rec.identity == "synthetic-009999" and rec.illumination == "uniform"
    assert rec.meta["identity_index"] == 9999 and rec.meta["variant"] == 3
    assert rec.meta["light"]["lighting"] == "uniform"
    assert src.illumination_of(5) == "uniform"


def test_same_seed_same_bytes_different_seed_different(src):
    a = SyntheticFaces(size=SIZE, images_per_identity=4, seed=3).get_batch([0, 5, 9])
    b = src.get_batch([0, 5, 9])
    c = SyntheticFaces(size=SIZE, images_per_identity=4, seed=4).get_batch([0, 5, 9])
    for ra, rb, rc in zip(a, b, c):
        assert ra.image.tobytes() == rb.image.tobytes()
        assert np.array_equal(ra.landmarks, rb.landmarks)
        assert ra.image.tobytes() != rc.image.tobytes()


@pytest.mark.parametrize("lighting", ["uniform", "non-uniform"])
def test_batch_composition_does_not_change_a_face(src, lighting):
    alone = _render(src, [7], [2], lighting, [5])
    batch = _render(src, [1, 900, 7, 7, 42], [0, 3, 1, 2, 3], lighting, [0, 1, 2, 5, 9])
    assert alone.images[0].tobytes() == batch.images[3].tobytes()
    assert np.array_equal(alone.landmarks[0], batch.landmarks[3])
    assert alone.lights[0] == batch.lights[3]
    # the same face twice in one batch is rendered twice identically
    twice = _render(src, [7, 7], [2, 2], lighting, [5, 5])
    assert twice.images[0].tobytes() == twice.images[1].tobytes()


def test_large_batches_and_thread_counts_give_the_same_bytes():
    import torch

    src = SyntheticFaces(size=40, n_identities=100, images_per_identity=3)
    rng = np.random.default_rng(0)
    idx = rng.permutation(300)[:40]                             # crosses render chunks
    ids, var = idx // 3, idx % 3
    big = _render(src, ids, var, "non-uniform", idx % 4)
    order = rng.permutation(40)
    shuffled = _render(src, ids[order], var[order], "non-uniform", (idx % 4)[order])
    assert big.images[order].tobytes() == shuffled.images.tobytes()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = _render(src, ids[:7], var[:7], "non-uniform", idx[:7] % 4)
    finally:
        torch.set_num_threads(threads)
    assert single.images.tobytes() == big.images[:7].tobytes()


def test_sizes_scale_the_same_face():
    small = SyntheticFaces(size=16, n_identities=5)[3]
    large = SyntheticFaces(size=256, n_identities=5)[3]
    assert small.image.shape == (16, 16, 3) and large.image.shape == (256, 256, 3)
    # landmarks scale with the image: x_small + 0.5 = (x_large + 0.5) / 16
    assert np.allclose(small.landmarks + 0.5, (large.landmarks + 0.5) / 16.0, atol=1e-4)


def test_odd_size_batch_independence():
    src = SyntheticFaces(size=37, n_identities=50)
    alone = _render(src, [3], [1], "non-uniform")
    batch = _render(src, [0, 3, 4], [0, 1, 2], "non-uniform")
    assert alone.images[0].tobytes() == batch.images[1].tobytes()


def test_identities_are_distinct(src):
    n = 24
    ids = np.repeat(np.arange(n), 2)
    variants = np.tile([0, 1], n)
    imgs = _render(src, ids, variants).images.astype(np.float32)
    within = np.abs(imgs[0::2] - imgs[1::2]).mean()
    a, b = imgs[0::2], np.roll(imgs[0::2], 1, axis=0)
    between = np.abs(a - b).mean()
    assert between > 2.0 * within, (between, within)
    vectors = set()
    for i in range(2000):
        p = sample_identity(3, i)
        vectors.add(tuple(np.round(np.hstack([np.ravel(v) for v in p.values()]), 6)))
    assert len(vectors) == 2000


def test_variants_change_pose_and_expression(src):
    out = _render(src, [11, 11, 11], [0, 1, 2])
    assert len({im.tobytes() for im in out.images}) == 3
    assert np.abs(out.landmarks[0] - out.landmarks[1]).max() > 0.3


def _luma(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _sample(img: np.ndarray, pts: np.ndarray) -> np.ndarray:
    xy = np.clip(np.round(pts).astype(int), 0, img.shape[0] - 1)
    return img[xy[:, 1], xy[:, 0]].astype(np.float32)


def test_landmarks_land_on_rendered_features():
    src = SyntheticFaces(size=128, n_identities=100)
    out = _render(src, np.arange(12), np.zeros(12, int))
    darker_eyes = redder_mouth = 0
    for img, lm in zip(out.images, out.landmarks):
        assert np.all(lm >= 0) and np.all(lm <= 127)
        # left/right groups ordered: jaw 0 left of 16, eyes, brows, mouth corners
        assert lm[0, 0] < lm[8, 0] < lm[16, 0]
        assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0]
        assert lm[17, 0] < lm[21, 0] < lm[22, 0] < lm[26, 0]
        assert lm[48, 0] < lm[51, 0] < lm[54, 0] and lm[31, 0] < lm[33, 0] < lm[35, 0]
        # vertical order: brows above eyes above nose tip above mouth above chin
        assert lm[19, 1] < lm[37, 1] < lm[30, 1] < lm[51, 1] < lm[57, 1] < lm[8, 1]
        eye_centres = np.stack([lm[36:42].mean(0), lm[42:48].mean(0)])
        cheeks = np.stack([(lm[31] + lm[2]) / 2, (lm[35] + lm[14]) / 2])
        darker_eyes += _luma(_sample(img, eye_centres)).mean() < \
            _luma(_sample(img, cheeks)).mean() - 10
        mouth = _sample(img, lm[[50, 52, 56, 58, 62, 66]])
        skin = _sample(img, np.stack([cheeks.mean(0)] + [lm[2] * 0.6 + lm[31] * 0.4,
                                                          lm[14] * 0.6 + lm[35] * 0.4]))
        redness = lambda c: c[:, 0] / (c.sum(1) + 1.0)  # noqa: E731
        redder_mouth += (redness(mouth).mean() > redness(skin).mean()
                         or _luma(mouth).mean() < _luma(skin).mean() - 10)
    assert darker_eyes >= 11 and redder_mouth >= 11, (darker_eyes, redder_mouth)


def test_uniform_and_non_uniform_share_geometry():
    src = SyntheticFaces(size=SIZE, n_identities=200)
    ids, var = np.arange(40), np.arange(40) % 5
    ui = _render(src, ids, var, "uniform")
    ni = _render(src, ids, var, "non-uniform")
    assert np.array_equal(ui.landmarks, ni.landmarks)
    assert not np.array_equal(ui.images, ni.images)
    # the unlit background is the same: corner pixels agree
    assert np.array_equal(ui.images[:, 0, 0], ni.images[:, 0, 0])
    # different light seeds give different lights, reproducibly
    again = _render(src, ids[:3], var[:3], "non-uniform", [0, 0, 0])
    other = _render(src, ids[:3], var[:3], "non-uniform", [1, 1, 1])
    assert again.images.tobytes() == ni.images[:3].tobytes()
    assert again.lights != other.lights
    # intensity distribution over the face: per-face brightness changes by a varying factor,
    # and shading inside the face is much stronger under non-uniform light
    def face_stats(images, lms):
        means, stds = [], []
        for img, lm in zip(images, lms):
            x0, y0 = lm[:, 0].min(), lm[17:, 1].min()
            x1, y1 = lm[:, 0].max(), lm[:, 1].max()
            crop = _luma(img)[int(y0):int(y1), int(x0):int(x1)]
            means.append(crop.mean())
            stds.append(crop.std())
        return np.array(means), np.array(stds)
    (m_ui, s_ui), (m_ni, s_ni) = face_stats(ui.images, ui.landmarks), \
        face_stats(ni.images, ni.landmarks)
    ratio = m_ni / m_ui
    assert ratio.std() > 0.1 and np.abs(ratio - 1.0).mean() > 0.15, ratio
    contrast_ni, contrast_ui = (s_ni / m_ni).mean(), (s_ui / m_ui).mean()
    assert contrast_ni > 1.3 * contrast_ui, (contrast_ni, contrast_ui)
    # side lights: the half of the face towards the light is much brighter than the other,
    # a left/right asymmetry the uniform render of the same faces does not have
    def halves(img, lm):
        x_mid, y0, y1 = lm[27:31, 0].mean(), int(lm[36:48, 1].min()), int(lm[57, 1])
        luma = _luma(img)[y0:y1]
        left = luma[:, int(lm[1, 0]) + 1:int(x_mid) - 1].mean()
        right = luma[:, int(x_mid) + 2:int(lm[15, 0])].mean()
        return left, right
    asym_ni, asym_ui = [], []
    for b, light in enumerate(ni.lights):
        main = light["lights"][0]
        if abs(main["azimuth_deg"]) < 60:
            continue
        left, right = halves(ni.images[b], ni.landmarks[b])
        lit, dark = (right, left) if main["azimuth_deg"] > 0 else (left, right)
        asym_ni.append((lit - dark) / (lit + dark))
        left, right = halves(ui.images[b], ui.landmarks[b])
        asym_ui.append(abs(left - right) / (left + right))
    assert len(asym_ni) >= 5
    assert min(asym_ni) > 0.2 and np.mean(asym_ni) > 4 * np.mean(asym_ui), (asym_ni, asym_ui)


@pytest.mark.parametrize("kwargs", [{"size": 8}, {"n_identities": 0}, {"lighting": "dim"},
                                    {"images_per_identity": 0}, {"seed": -1}, {"size": 64.0}])
def test_bad_construction(kwargs):
    with pytest.raises(UserInputError):
        SyntheticFaces(**kwargs)


def test_bad_indices_and_render_args(src):
    with pytest.raises(UserInputError, match="out of range"):
        src[len(src)]
    with pytest.raises(UserInputError):
        src.get_batch([0, -1])
    with pytest.raises(UserInputError):
        src.identity_of(len(src))
    with pytest.raises(UserInputError, match="lighting"):
        _render(src, [0], [0], "sideways")
    with pytest.raises(UserInputError):
        _render(src, [10_000], [0])
    with pytest.raises(UserInputError):
        _render(src, [0, 1], [0])
    with pytest.raises(UserInputError):
        _render(src, [0], [0], "non-uniform", [0, 1])
    with pytest.raises(UserInputError):
        src.render(np.array([0.5]), np.array([0]), lighting="uniform")


def test_non_uniform_light_is_a_seeded_mixture_of_dark_room_and_milder_lights():
    from datagen.sources.synthetic.params import sample_light

    lights = [sample_light(0, i, 0, k) for i in range(50) for k in range(4)]
    assert lights[7] == sample_light(0, 1, 0, 3)  # a pure function of its seeds
    kinds = [d["kind"] for d in lights]
    assert 0.6 < kinds.count("point") / len(kinds) < 0.9 and "key-fill" in kinds
    for d in lights:
        if d["kind"] == "point":  # one light, no fill, black shadows as in Extended Yale B
            assert len(d["lights"]) == 1 and d["ambient"] < 0.001
            assert abs(d["lights"][0]["azimuth_deg"]) <= 115
        else:
            assert 0.05 <= d["ambient"] <= 0.30
