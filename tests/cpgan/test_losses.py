"""The five CPGAN losses: zero for identical inputs, positive otherwise, the right terms per
Table 1 variant, adversarial losses moving the right way."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cpgan.heatmaps import render_heatmaps
from cpgan.losses import (LOSS_TERMS, VARIANTS, LossConfig, LossNets, LossWeights,
                          adversarial_loss, contrastive_identity_loss,
                          discriminator_loss, generator_loss, heatmap_loss, identity_loss,
                          illumination_loss, mse_loss, variant_terms)
from cpgan.nets import GeneratorOutput
from facecore.config import from_mapping, to_dict
from facecore.errors import UserInputError

TINY = dict(perceptual_width=0.125, vgg_weights="random", identity_net="random")


@pytest.fixture(scope="module")
def nets() -> LossNets:
    return LossNets(LossConfig(**TINY))


def _images(b: int = 2, seed: int = 0, size: int = 64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, size, size, generator=gen) * 2 - 1


def test_mse_zero_iff_identical():
    a, b = _images(), _images(seed=1)
    assert mse_loss(a, a) == 0
    assert mse_loss(a, b) > 0


def test_identity_loss_zero_iff_identical(nets):
    a, b = _images(), _images(seed=1)
    assert identity_loss(nets, a, a) == 0
    assert identity_loss(nets, a, b) > 0


def test_illumination_loss_near_zero_for_identical_and_finite_gradient(nets):
    a, b = _images(), _images(seed=1)
    same = a.clone().requires_grad_(True)
    loss = illumination_loss(nets, same, a)
    assert loss < 8 * 1e-4 + 1e-6  # eight eps-safe norms of sqrt(1e-8) each
    loss.backward()
    assert torch.isfinite(same.grad).all()
    assert illumination_loss(nets, a, b) > 100 * loss
    # a global brightness change is exactly what L_ic measures
    assert illumination_loss(nets, a * 0.5 - 0.5, a) > 100 * loss


def test_illumination_loss_ignores_layout(nets):
    """L_ic compares channel statistics only, so a spatially shuffled copy scores far lower
    than a differently lit image (the guide may be any identity)."""
    a = _images(seed=3)
    flipped = a.flip(-1)
    darker = (a + 1) * 0.3 - 1
    assert illumination_loss(nets, flipped, a) < 0.5 * illumination_loss(nets, darker, a)


def test_heatmap_loss_zero_for_rendered_target():
    lm = torch.rand(2, 68, 2, generator=torch.Generator().manual_seed(0)) * 120 + 4
    target = render_heatmaps(lm)
    assert heatmap_loss(target, target) == 0
    assert heatmap_loss(target.roll(1, dims=-1), target) > 0
    with pytest.raises(ValueError, match="shapes"):
        heatmap_loss(target[:, :5], target)


def test_heatmap_loss_skips_invalid_samples():
    target = render_heatmaps(torch.full((2, 68, 2), 64.0))
    pred = target.clone()
    pred[1] = 5.0  # garbage for the second sample only
    valid = torch.tensor([True, False])
    assert heatmap_loss(pred, target, valid=valid) == 0
    none = pred.clone().requires_grad_(True)
    zero = heatmap_loss(none, target, valid=torch.tensor([False, False]))
    assert zero == 0
    zero.backward()  # still part of the graph
    assert none.grad is not None


def test_adversarial_losses_move_the_right_way():
    low, high = torch.full((2, 1, 8, 8), -2.0), torch.full((2, 1, 8, 8), 2.0)
    assert adversarial_loss(low) > adversarial_loss(high) > 0  # G wants D(fake) high
    assert discriminator_loss(high, low) < discriminator_loss(low, high)  # D wants real high
    assert discriminator_loss(high, low) > 0
    fake = torch.zeros(2, 1, 8, 8, requires_grad=True)
    adversarial_loss(fake).backward()
    assert (fake.grad < 0).all()  # descending the loss raises the fake logits


def test_variant_terms_match_table_1():
    assert variant_terms("L-") == ("mse",)
    assert variant_terms("L+") == ("mse", "id")
    assert variant_terms("L++") == ("mse", "id", "h")
    assert variant_terms("L*") == ("mse", "id", "h", "adv")
    assert variant_terms("L*+ic") == ("mse", "id", "h", "ic", "adv")
    assert variant_terms("L‡+ic") == variant_terms("L+++ic")
    with pytest.raises(UserInputError, match="variant"):
        variant_terms("L#")


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_generator_loss_uses_exactly_the_variant_terms(name):
    config = LossConfig.for_variant(name, **TINY)
    nets = LossNets(config)
    assert (nets.vgg is not None) == ("ic" in config.terms)
    assert (nets.identity is not None) == ("id" in config.terms)
    b = 2
    gen = torch.Generator().manual_seed(0)
    sr = (torch.rand(b, 3, 128, 128, generator=gen) * 2 - 1).requires_grad_(True)
    heat = torch.rand(b, 68, 64, 64, generator=gen).requires_grad_(True)
    out = GeneratorOutput(sr=sr, heatmaps=heat)
    uihr, guide = _images(b, 1, 128), _images(b, 2, 128)
    landmarks = torch.rand(b, 68, 2, generator=gen) * 128
    fake_logits = sr.mean(dim=(1, 2, 3), keepdim=True).expand(b, 1, 8, 8)
    total, logged = generator_loss(config, nets, out, uihr=uihr, guide=guide,
                                   landmarks=landmarks, fake_logits=fake_logits)
    assert set(logged) == set(config.terms) | {"total"}
    expect = sum(getattr(config.weights, t) * logged[t] for t in config.terms)
    assert logged["total"] == pytest.approx(expect, rel=1e-5)
    assert total.item() == pytest.approx(expect, rel=1e-5)
    assert all(logged[t] > 0 for t in config.terms)
    total.backward()
    assert sr.grad.abs().sum() > 0
    assert (heat.grad is not None and heat.grad.abs().sum() > 0) == ("h" in config.terms)
    if "adv" in config.terms:
        with pytest.raises(ValueError, match="fake_logits"):
            generator_loss(config, nets, out, uihr=uihr, guide=guide, landmarks=landmarks,
                           fake_logits=None)


def test_generator_loss_nan_landmarks_leave_heatmaps_out():
    config = LossConfig(terms=("mse", "h"))
    nets = LossNets(config)
    landmarks = torch.full((2, 68, 2), float("nan"))
    landmarks[0] = 40.0
    target = render_heatmaps(landmarks)
    garbage = target.clone()
    garbage[1] = 3.0
    img = _images(2, 0, 128)
    _, logged = generator_loss(config, nets, GeneratorOutput(img, garbage), uihr=img, guide=img,
                               landmarks=landmarks, fake_logits=None)
    assert logged == {"mse": 0.0, "h": 0.0, "total": 0.0}


def test_loss_config_validation():
    assert LossConfig().terms == LOSS_TERMS
    assert to_dict(LossConfig().weights) == {"mse": 1.0, "id": 1e-3, "h": 1e-2, "ic": 1.0,
                                             "adv": 1e-2}
    with pytest.raises(UserInputError, match="mse"):
        LossConfig(terms=("id",))
    with pytest.raises(UserInputError, match="terms"):
        LossConfig(terms=("mse", "lpips"))
    with pytest.raises(UserInputError, match="weights"):
        LossConfig(weights=LossWeights(id=-1.0))
    cfg = from_mapping(LossConfig, {"terms": ["mse", "ic"], "weights": {"ic": 2}})
    assert cfg.terms == ("mse", "ic") and cfg.weights == LossWeights(ic=2.0)
    with pytest.raises(UserInputError, match="unknown config key.*lpips"):
        from_mapping(LossConfig, {"weights": {"lpips": 1.0}})


def test_loss_nets_are_frozen_and_record_weights(nets):
    assert set(nets.weights) == {"vgg19", "identity"}
    assert all(not p.requires_grad for p in nets.parameters())
    nets.train()
    assert not nets.training and not nets.identity.training


def test_identity_loss_normalised_form_is_bounded_and_raw_form_is_the_papers():
    from cpgan.losses import identity_loss

    g = torch.Generator().manual_seed(3)
    hr = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    sr = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    normalised = LossNets(LossConfig(**TINY))
    raw = LossNets(LossConfig(**TINY, id_normalize=False))
    value = float(identity_loss(normalised, sr, hr))
    assert 0 < value <= 4  # squared distance of unit vectors
    with torch.no_grad():
        f_sr, f_hr = raw.identity((sr + 1) / 2), raw.identity((hr + 1) / 2)
    assert float(identity_loss(raw, sr, hr)) == pytest.approx(float((f_sr - f_hr).pow(2).mean()),
                                                              rel=1e-5)


def test_contrastive_identity_loss_pays_for_the_wrong_identity_not_for_distance():
    """The average face is near every target: the distance term is small for it, the
    contrastive term is at chance (log B). An output nearest its own target scores lower
    than one equally near but nearest another's."""
    target = F.normalize(torch.eye(4) + 0.1, dim=1)  # four identities, (4, D=4)
    average = F.normalize(target.mean(0, keepdim=True).expand(4, -1), dim=1)
    chance = float(contrastive_identity_loss(average, target))
    assert chance == pytest.approx(math.log(4), rel=1e-5)
    assert float(contrastive_identity_loss(target, target)) < chance
    shuffled = target[[1, 0, 3, 2]]  # every output is exactly another person's face
    assert float(contrastive_identity_loss(shuffled, target)) > chance
    # the same images with a larger temperature are softer: nearer chance on both sides
    assert (float(contrastive_identity_loss(target, target))
            < float(contrastive_identity_loss(target, target, temperature=10.0)) < chance)


def test_contrastive_identity_loss_does_not_push_away_the_same_person():
    """Two samples of one person: with labels, the other's target is not a negative, so
    the loss equals the one of a batch without that row's rival; without labels it is."""
    target = F.normalize(torch.tensor([[1.0, 0.2, 0.0], [0.9, 0.3, 0.0], [0.0, 0.1, 1.0]]), dim=1)
    pred = target.clone()
    unlabelled = float(contrastive_identity_loss(pred, target))
    labelled = float(contrastive_identity_loss(pred, target, labels=["a", "a", "b"]))
    assert labelled < unlabelled
    # row 0 sees only row 2 as a negative: the mean of per-row losses with that mask
    logits = pred @ target.T / 0.1
    row = [float(F.cross_entropy(logits[i, [i, 2]][None], torch.tensor([0]))) for i in (0, 1)]
    row.append(float(F.cross_entropy(logits[2][None], torch.tensor([2]))))
    assert labelled == pytest.approx(sum(row) / 3, rel=1e-5)
    with pytest.raises(ValueError, match="labels"):
        contrastive_identity_loss(pred, target, labels=["a", "b"])


def test_identity_loss_adds_the_weighted_contrastive_term():
    g = torch.Generator().manual_seed(5)
    hr = torch.rand(3, 3, 64, 64, generator=g) * 2 - 1
    sr = torch.rand(3, 3, 64, 64, generator=g) * 2 - 1
    plain = LossNets(LossConfig(**TINY))
    mixed = LossNets(LossConfig(**TINY, id_contrast=0.5, id_temperature=0.2))
    with torch.no_grad():
        f_sr = F.normalize(plain.identity((sr + 1) / 2), dim=1)
        f_hr = F.normalize(plain.identity((hr + 1) / 2), dim=1)
    labels = ["x", "y", "x"]
    expected = (float(identity_loss(plain, sr, hr))
                + 0.5 * float(contrastive_identity_loss(f_sr, f_hr, labels=labels,
                                                        temperature=0.2)))
    assert float(identity_loss(mixed, sr, hr, labels=labels)) == pytest.approx(expected, rel=1e-5)
    # generator_loss hands the batch's identity labels to L_id
    config = LossConfig(**TINY, terms=("mse", "id"), id_contrast=0.5, id_temperature=0.2)
    out = GeneratorOutput(sr=sr, heatmaps=torch.zeros(3, 68, 32, 32))
    _, logged = generator_loss(config, mixed, out, uihr=hr, guide=hr,
                               landmarks=torch.zeros(3, 68, 2), fake_logits=None, identity=labels)
    assert logged["id"] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(UserInputError, match="id_contrast"):
        LossConfig(id_contrast=-1.0)
    with pytest.raises(UserInputError, match="id_normalize"):
        LossConfig(id_contrast=1.0, id_normalize=False)


def test_illumination_loss_batch_form_pairs_no_output_with_its_own_guide():
    """"batch" compares batch-mean statistics, so which guide sits beside which output does
    not matter; the paper's per-sample form does depend on the pairing."""
    sr, guide = _images(b=4, seed=5), _images(b=4, seed=6)
    guide[:2] = guide[:2] * 0.3 - 0.7  # two dark guides: the pairing now matters per sample
    shuffled = guide[[2, 3, 0, 1]]
    batch = LossNets(LossConfig(**TINY))
    sample = LossNets(LossConfig(**TINY, ic_reduction="sample"))
    assert float(illumination_loss(batch, sr, guide)) == pytest.approx(
        float(illumination_loss(batch, sr, shuffled)), rel=1e-5)
    assert float(illumination_loss(sample, sr, guide)) != pytest.approx(
        float(illumination_loss(sample, sr, shuffled)), rel=1e-3)


def test_illumination_loss_normalised_form_is_relative_to_the_guide():
    """Relative norms: each term is ‖Δ‖ / ‖guide‖, about 0.5 for an output at half the
    guide's brightness (ReLU features scale with the input, up to the biases), so the
    eight terms stay below 8; the absolute form is the paper's ‖Δ‖, on the features' scale."""
    a = _images(b=2, seed=7)
    relative = LossNets(LossConfig(**TINY))
    absolute = LossNets(LossConfig(**TINY, ic_normalize=False))
    darker = (a + 1) * 0.5 - 1
    rel, ab = float(illumination_loss(relative, darker, a)), float(illumination_loss(absolute,
                                                                                     darker, a))
    assert 0 < rel < 8
    assert ab > 0 and ab != pytest.approx(rel, rel=1e-2)
    with pytest.raises(UserInputError, match="ic_reduction"):
        LossConfig(ic_reduction="pixel")


def test_default_loss_nets_are_the_real_networks_and_say_so(caplog):
    """Default LossConfig: ImageNet VGG-19 for L_ic and dlib's face ResNet for L_id; their
    records name the files and hashes; no random init is announced or recorded."""
    import logging

    with caplog.at_level(logging.WARNING):
        nets = LossNets(LossConfig())
    assert nets.weights["vgg19"]["name"] == "vgg19-imagenet-keras-notop-q8"
    assert nets.weights["identity"]["package"] == "face-recognition-models"
    assert "random" not in str(nets.weights).lower()
    assert not any("RANDOM" in r.getMessage() for r in caplog.records)
    g = torch.Generator().manual_seed(0)
    sr = (torch.rand(2, 3, 128, 128, generator=g) * 2 - 1).requires_grad_(True)
    hr = torch.rand(2, 3, 128, 128, generator=g) * 2 - 1
    loss = identity_loss(nets, sr, hr) + illumination_loss(nets, sr, hr)
    loss.backward()
    assert torch.isfinite(loss) and sr.grad.abs().sum() > 0


def test_identity_chip_follows_the_training_framing():
    """id_eye_distance moves where L_id's dlib chip is cut: in a tighter framing (Yale B at
    0.5) the face is larger in the crop, and so is the chip, by 0.5 / 0.225."""
    from facecore.align import EYE_DISTANCE

    default = LossNets(LossConfig(terms=("mse", "id")))
    tight = LossNets(LossConfig(terms=("mse", "id"), id_eye_distance=0.5))
    assert default.identity.eye_distance == EYE_DISTANCE and tight.identity.eye_distance == 0.5
    x = torch.rand(1, 3, 128, 128)
    default.identity(x), tight.identity(x)  # builds each chip grid
    span = {k: float(n.identity._grids[128][..., 0].max() - n.identity._grids[128][..., 0].min())
            for k, n in (("default", default), ("tight", tight))}
    assert span["tight"] / span["default"] == pytest.approx(0.5 / EYE_DISTANCE, rel=0.03)
