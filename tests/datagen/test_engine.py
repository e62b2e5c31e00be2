"""The data engine at GPU scale: faces rendered on the device, guides from the batch, fpng
PNG bytes — and the contract that these change nothing a reader relies on."""

import io
import pickle

import numpy as np
import pytest
import torch
import webdataset as wds
from PIL import Image

from facecore.imageio import PNG_ENCODER, decode_png, encode_png
from datagen.shards import load_manifest, open_pairs, verify
from datagen.sources.synthetic import SyntheticFaces
from datagen.sources.synthetic.params import uniform_light
from datagen.synth import SynthConfig, Synthesizer, plan_batch, synth
from datagen.synth.pairs import load_batch

CFG = SynthConfig(relight="physical", shard_size=6, batch_size=6, seed=11,
                  source_options={"n_identities": 60})

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _faces():
    src = SyntheticFaces(size=64)
    ids, variants = np.array([3, 17, 17, 40, 2]), np.array([0, 1, 4, 2, 9])
    seeds = np.array([5, 1, 2, 8, 0])
    return src, ids, variants, seeds


def test_one_surface_under_two_lights_gives_the_separate_renders_bytes():
    """Physical pairs shade one surface twice; each image equals rendering it on its own."""
    src, ids, variants, seeds = _faces()
    scene, landmarks = src.scene(ids, variants)
    ni_lights = src.lights(ids, variants, lighting="non-uniform", light_seeds=seeds)
    ui, ni = src.render_scene(scene, [[uniform_light()] * len(ids), ni_lights])
    assert torch.equal(ui, torch.from_numpy(src.render(ids, variants, lighting="uniform").images))
    alone = src.render(ids, variants, lighting="non-uniform", light_seeds=seeds)
    assert torch.equal(ni, torch.from_numpy(alone.images))
    assert np.array_equal(landmarks, alone.landmarks)


def test_a_scene_is_small_to_send_to_the_device():
    src, ids, variants, _ = _faces()
    scene, _ = src.scene(ids, variants)
    assert len(pickle.dumps(scene)) < 600 * len(ids)  # against 12 KB of pixels a 64² face


@CUDA
def test_faces_rendered_on_cuda_match_the_cpu_within_one_level():
    src, ids, variants, seeds = _faces()
    scene, _ = src.scene(ids, variants)
    lights = [src.lights(ids, variants, lighting="non-uniform", light_seeds=seeds)]
    cpu = src.render_scene(scene, lights)[0].int()
    gpu = src.render_scene(scene, lights, device="cuda")[0].cpu().int()
    assert (cpu - gpu).abs().max() <= 1


def test_batch_guides_are_other_identities_uihr_of_the_same_batch(tmp_path):
    """guides 'batch' (default): no face rendered for a guide; each is the UI-HR face of
    another sample of its batch with another identity, recorded as such."""
    assert CFG.guides == "batch"
    syn = Synthesizer(CFG)
    pool = syn.loader.pool("train")
    plans = plan_batch(CFG, pool, "train", 6)
    assert all(p.guide_slot is not None and p.guide == plans[p.guide_slot].content
               and p.guide.identity != p.content.identity for p in plans)
    assert load_batch(CFG, pool, plans).guides is None
    assert plan_batch(CFG, pool, "train", 6) == plans  # a pure function of the batch start
    synth(CFG, tmp_path, {"train": 12}, workers=0)
    samples = list(open_pairs(tmp_path, "train", split_by_worker=False))
    for batch in (samples[:6], samples[6:]):
        for s in batch:
            twins = [t for t in batch if torch.equal(t["uihr"], s["guide"])]
            assert twins and all(t["json"]["identity"] == s["json"]["guide_identity"]
                                 for t in twins)
            assert s["json"]["guide_identity"] != s["json"]["identity"]


def test_split_guides_are_loaded_apart_and_still_another_identity():
    cfg = SynthConfig(**{**CFG.__dict__, "guides": "split"})
    syn = Synthesizer(cfg)
    plans = plan_batch(cfg, syn.loader.pool("train"), "train", 0)
    assert all(p.guide_slot is None and p.guide.identity != p.content.identity for p in plans)
    samples = syn.batch("train", 0)
    assert all(s.meta["guide_identity"] == p.guide.identity for s, p in zip(samples, plans))


def test_a_batch_of_one_identity_falls_back_to_guides_from_the_split():
    cfg = SynthConfig(**{**CFG.__dict__, "batch_size": 1, "shard_size": 1})
    syn = Synthesizer(cfg)
    (plan,) = plan_batch(cfg, syn.loader.pool("train"), "train", 0)
    assert plan.guide_slot is None and plan.guide.identity != plan.content.identity
    (sample,) = syn.batch("train", 0)
    assert sample.guide.shape == (128, 128, 3)


@pytest.mark.parametrize("relight", ["physical", "rain"])
def test_workers_that_render_give_the_bytes_of_the_main_process(tmp_path, relight):
    """On a CPU device the workers render; in one process the device half does: same bytes."""
    extra = {}
    if relight == "rain":
        from datagen.rain import Rain, RainConfig, save_checkpoint
        path = save_checkpoint(tmp_path / "rain.pt",
                               Rain(RainConfig(width=0.125, image_size=32), vgg_weights="random"))
        extra = {"rain_checkpoint": str(path)}
    cfg = SynthConfig(**{**CFG.__dict__, "relight": relight, **extra})
    a = synth(cfg, tmp_path / "a", {"train": 12}, workers=0)
    synth(cfg, tmp_path / "b", {"train": 12}, workers=2)
    names = sorted(r.name for r in a.manifest.shards.values())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert verify(tmp_path / "b").ok


def test_png_bytes_are_lossless_deterministic_and_plain_readers_decode_them(tmp_path):
    rng = np.random.default_rng(0)
    for shape in ((16, 16, 3), (128, 128, 3)):
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        data = encode_png(img)
        assert data == encode_png(img.copy()) and data[:8] == b"\x89PNG\r\n\x1a\n"
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), img)
        assert np.array_equal(decode_png(data), img)
        flipped = img[:, ::-1]  # a strided view, as device outputs may be
        assert np.array_equal(decode_png(encode_png(flipped)), flipped)
    synth(CFG, tmp_path, {"train": 6}, workers=0)
    header = load_manifest(tmp_path).header
    assert header["runtime"]["png"] == PNG_ENCODER and PNG_ENCODER.startswith("fpng ")
    assert header["generator"] == "datagen 0.4.0"
    urls = sorted(str(p) for p in tmp_path.glob("train-*.tar"))
    for sample in wds.WebDataset(urls, shardshuffle=False).decode("rgb8"):
        assert sample["nilr.png"].shape == (16, 16, 3)
        assert sample["guide.png"].shape == (128, 128, 3)
