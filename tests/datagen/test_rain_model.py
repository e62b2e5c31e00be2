import numpy as np
import pytest
import torch

from facecore.errors import UserInputError
from datagen.rain import Rain, RainConfig, relight
from facecore.perceptual import adain
from datagen.rain.data import LightingFieldStream
from datagen.rain.model import GAIN_MAX, GAIN_MIN
from datagen.rain.train import make_optimizer, rain_losses, total_loss

TINY = RainConfig(width=0.125, latent_dim=8, mlp_dim=16, image_size=16, light_grid=8, prior_bank=16)


def _config(output: str = "lighting", **changes) -> RainConfig:
    """TINY with another output head (only the lighting head takes a light layout)."""
    layout = TINY.layout_size if output == "lighting" else 0
    return RainConfig(**{**TINY.__dict__, "output": output, "layout_size": layout, **changes})


def _make(output: str) -> Rain:
    net = Rain(_config(output), vgg_weights="random")
    if output == "shading":  # a fresh shading decoder is the identity: give it some weights
        with torch.no_grad():
            w = net.decoder.convs[-1].weight
            w.copy_(torch.randn(w.shape, generator=torch.Generator().manual_seed(9)) * 0.1)
    if output == "lighting":  # likewise for the lighting heads
        gen = torch.Generator().manual_seed(9)
        with torch.no_grad():
            for w in (net.decoder.gain.weight, net.decoder.tint.weight):
                w.copy_(torch.randn(w.shape, generator=gen))
    return net


@pytest.fixture(scope="module", params=["lighting", "shading", "image"])
def model(request) -> Rain:
    return _make(request.param)


def test_fresh_shading_model_returns_the_input_face():
    faces = _batch(2)
    z = torch.randn(2, TINY.latent_dim, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(relight(Rain(TINY, vgg_weights="random"), faces, z=z), faces)


def _batch(n: int = 2, seed: int = 0) -> torch.Tensor:
    return LightingFieldStream(size=16).sample(n, np.random.default_rng(seed))


def test_sigma_hat_is_positive_even_for_extreme_latents(model):
    z = torch.randn(64, TINY.latent_dim, generator=torch.Generator().manual_seed(0)) * 1e4
    _, std, _ = model.stats_decoder(z)
    assert std.shape == (64, model.encoder.channels[-1], 1, 1)
    assert bool((std > 0).all())


def test_same_z_same_output_different_z_different_output(model, device):
    """Same process and inputs: the same z gives exactly the same output twice."""
    model = model.to(device)
    faces = _batch(2).to(device)
    z = torch.randn(2, model.latent_dim, generator=torch.Generator().manual_seed(1)).to(device)
    a, b = relight(model, faces, z=z), relight(model, faces, z=z)
    assert a.shape == faces.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, b)
    c = relight(model, faces, z=z + 1.0)
    assert (a - c).abs().mean() > 1e-4
    g1, g2 = torch.Generator(device).manual_seed(5), torch.Generator(device).manual_seed(5)
    assert torch.equal(relight(model, faces, generator=g1), relight(model, faces, generator=g2))


def test_relight_rejects_bad_shapes(model):
    with pytest.raises(UserInputError, match="multiples of 8"):
        relight(model, torch.rand(1, 3, 20, 20), generator=torch.Generator())
    with pytest.raises(UserInputError, match=r"\(B, 3, H, W\)"):
        relight(model, torch.rand(3, 16, 16), generator=torch.Generator())
    with pytest.raises(UserInputError, match="z of shape"):
        relight(model, torch.rand(2, 3, 16, 16), z=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="Generator"):
        relight(model, torch.rand(1, 3, 16, 16))


def _grad_owners(model: Rain, loss: torch.Tensor) -> set[str]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name.split(".")[0] for name, p in model.named_parameters()
            if p.grad is not None and p.grad.abs().sum() > 0}


def test_gradients_reach_the_right_parts_and_vgg_stays_frozen():
    model = Rain(_config("image", identity_weight=1.0), vgg_weights="random").train()
    eps = torch.randn(2, TINY.latent_dim, generator=torch.Generator().manual_seed(0))
    vgg_before = [p.clone() for p in model.encoder.parameters()]
    losses = rain_losses(model, _batch(2, 0), _batch(2, 1), eps)
    assert all(v > 0 for k, v in losses.items() if k not in ("paired", "layout", "prior", "ratio"))
    assert _grad_owners(model, losses["content"] + losses["style"]) == {"decoder"}
    losses = rain_losses(model, _batch(2, 0), _batch(2, 1), eps)
    assert _grad_owners(model, losses["recon"]) == {"style_encoder", "stats_decoder"}
    losses = rain_losses(model, _batch(2, 0), _batch(2, 1), eps)
    assert _grad_owners(model, losses["kl"]) == {"style_encoder"}
    losses = rain_losses(model, _batch(2, 0), _batch(2, 1), eps)
    assert _grad_owners(model, losses["identity"]) == {"decoder"}
    assert all(not p.requires_grad for p in model.encoder.parameters())
    assert all(torch.equal(a, b) for a, b in zip(vgg_before, model.encoder.parameters()))


def test_a_few_steps_lower_the_loss_on_a_fixed_batch():
    model = Rain(TINY, vgg_weights="random").train()
    opt = make_optimizer(model, TINY)
    content, style = _batch(4, 0), _batch(4, 1)
    eps = torch.zeros(4, TINY.latent_dim)  # the fixed batch includes fixed noise
    first = None
    for _ in range(40):
        loss = total_loss(rain_losses(model, content, style, eps), TINY)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(total_loss(rain_losses(model, content, style, eps), TINY).detach()) < 0.8 * first


def test_init_is_deterministic_per_seed():
    """Same seed: the same initial weights (generated on the CPU generator, no reductions)."""
    a, b, c = Rain(TINY, vgg_weights="random"), Rain(TINY, vgg_weights="random"), Rain(RainConfig(**{**TINY.__dict__, "seed": 1}), vgg_weights="random")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.decoder.convs[0].weight, c.decoder.convs[0].weight)


@pytest.mark.parametrize("values", [{"width": 0.0}, {"image_size": 20}, {"image_size": 8},
                                    {"latent_dim": 0}])
def test_config_rejects_bad_values(values):
    with pytest.raises(UserInputError):
        RainConfig(**values)


def test_shading_model_relights_other_sizes_consistently():
    model = _make("shading")
    big = torch.nn.functional.interpolate(_batch(2), size=32, mode="bilinear", align_corners=False)
    z = torch.randn(2, TINY.latent_dim, generator=torch.Generator().manual_seed(3))
    out = relight(model, big, z=z)
    assert out.shape == big.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    # the gain is computed at the training size: the 16 px result, upsampled, is close
    small = relight(model, torch.nn.functional.interpolate(big, size=16, mode="area"), z=z)
    gain_big = out / big.clamp_min(1e-3)
    gain_small = torch.nn.functional.interpolate(small / torch.nn.functional.interpolate(
        big, size=16, mode="area").clamp_min(1e-3), size=32, mode="bilinear")
    assert (gain_big - gain_small).abs().median() < 0.1


def test_lighting_head_is_a_smooth_luminance_field_times_a_global_tint():
    model = _make("lighting")
    faces = _batch(2).clamp_min(0.05)  # away from 0 so out / in is the applied gain
    z = torch.randn(2, TINY.latent_dim, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        mean, std, layout = model.stats_decoder(z)
        gain, tint = model.decoder(adain(model.encoder(faces)[-1], mean, std), faces,
                                   model.layouts(layout, faces))
    grid = TINY.light_grid
    assert gain.shape == (2, 1, grid, grid) and tint.shape == (2, 3, 1, 1)
    assert float(gain.min()) >= GAIN_MIN and float(gain.max()) <= GAIN_MAX
    assert float(gain.std()) > 1e-3  # the random head does change the light
    out = relight(model, faces, z=z)
    ok = ((out > 1e-4) & (out < 1 - 1e-4)).all(dim=1, keepdim=True)  # no channel clamped
    ratio = torch.where(ok, out / faces, torch.nan)  # (B, 3, H, W)
    # the channel ratio is the same at every pixel: one tint per image, no colour blobs
    chroma = ratio / ratio.nanmean(dim=1, keepdim=True)
    spread = (chroma - chroma.flatten(2).nanmedian(dim=2).values[:, :, None, None]).abs()
    assert float(spread.nan_to_num(0).max()) < 1e-3
    # the luminance gain is a bilinear field on the grid: a pixel step is at most the largest
    # jump between grid cells spread over the pixels of one cell (a per-pixel gain is not)
    field = ratio.nanmean(dim=1)  # (B, H, W) = gain × mean tint
    cell = faces.shape[-1] // grid
    for b in range(2):
        jump = max(float((gain[b, 0, :, 1:] - gain[b, 0, :, :-1]).abs().max()),
                   float((gain[b, 0, 1:] - gain[b, 0, :-1]).abs().max())) * float(tint[b].max())
        steps = torch.cat([(field[b, :, 1:] - field[b, :, :-1]).flatten(),
                           (field[b, 1:] - field[b, :-1]).flatten()]).abs()
        assert float(steps.nan_to_num(0).max()) <= jump / cell + 1e-4


def test_paired_targets_train_latent_and_decoder_instead_of_the_vgg_losses():
    """With a target, the paired loss reaches the style encoder, the statistics decoder (via
    the decoded layout) and the lighting decoder; the content and style losses are not used."""
    model = _make("lighting").train()  # non-zero heads: a fresh one passes no gradient back
    eps = torch.randn(2, TINY.latent_dim, generator=torch.Generator().manual_seed(0))
    losses = rain_losses(model, _batch(2, 0), _batch(2, 1), eps, _batch(2, 2))
    assert float(losses["content"]) == 0 and float(losses["style"]) == 0
    assert float(losses["paired"].detach()) > 0 and float(losses["layout"].detach()) > 0
    losses = rain_losses(model, _batch(2, 0), _batch(2, 1), eps, _batch(2, 2))
    owners = _grad_owners(model, losses["paired"])
    assert {"style_encoder", "stats_decoder", "decoder"} <= owners, owners


def test_a_layout_is_refused_for_heads_that_cannot_use_it():
    with pytest.raises(UserInputError, match="layout_size"):
        RainConfig(output="image", layout_size=8)
