"""CPGAN generator and discriminator on the tiny preset: shapes, spectral norm, copy block,
guide sensitivity, gradient flow and a short fit."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from cpgan.config import ModelConfig
from cpgan.nets import Discriminator, Generator, GeneratorOutput
from cpgan.nets.internal import CopyBlock
from facecore.config import from_mapping
from facecore.errors import UserInputError

TINY = ModelConfig.preset("tiny")


def _batch(b: int = 2, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    nilr = torch.rand(b, 3, 16, 16, generator=gen) * 2 - 1
    guide = torch.rand(b, 3, 128, 128, generator=gen) * 2 - 1
    return nilr, guide


def _seeded(cls, config, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return cls(config)


def test_generator_shapes_at_every_scale(device):
    g = _seeded(Generator, TINY).to(device)
    nilr, guide = (t.to(device) for t in _batch(3))
    out, feats = g.forward_features(nilr, guide)
    assert isinstance(out, GeneratorOutput)
    assert out.sr.shape == (3, 3, 128, 128)
    assert out.sr.abs().max() <= 1.0
    assert out.heatmaps.shape == (3, 68, 64, 64)
    for s in (16, 32, 64):
        assert feats[s].shape == (3, TINY.width, s, s)
    assert feats[128].shape[::2] == (3, 128) and feats[128].shape[-1] == 128


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_other_normalisations_run(norm):
    config = ModelConfig(**{**TINY.__dict__, "norm": norm})
    out = Generator(config)(*_batch())
    assert out.sr.shape == (2, 3, 128, 128) and torch.isfinite(out.sr).all()


def test_discriminator_gives_8x8_logits(device):
    d = _seeded(Discriminator, TINY).to(device)
    assert d(torch.zeros(2, 3, 128, 128, device=device)).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="Discriminator"):
        d(torch.zeros(2, 1, 128, 128, device=device))


def test_generator_rejects_wrong_shapes():
    g = Generator(TINY)
    nilr, guide = _batch()
    with pytest.raises(ValueError, match="nilr"):
        g(nilr[:, :, :8], guide)
    with pytest.raises(ValueError, match="guide"):
        g(nilr, guide[:, :1])
    with pytest.raises(ValueError, match="batch"):
        g(nilr, guide[:1])


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("sn", [True, False])
def test_spectral_norm_on_every_conv(sn):
    config = ModelConfig(**{**TINY.__dict__, "spectral_norm": sn})
    for net in (Generator(config), Discriminator(config)):
        convs = _convs(net)
        assert len(convs) >= 9  # D has 9 convs, G many more
        for m in convs:
            has = parametrize.is_parametrized(m, "weight") and any(
                type(p).__name__ == "_SpectralNorm" for p in m.parametrizations.weight)
            assert has == sn


def test_copy_block_is_identity_at_init_and_learns_gamma():
    block = CopyBlock(16)
    assert block.gamma.item() == 0.0
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(block(x), x)
    g = Generator(TINY)
    assert g.internal.copy.gamma.item() == 0.0
    out = g(*_batch())
    out.sr.square().mean().backward()
    assert g.internal.copy.gamma.grad is not None and g.internal.copy.gamma.grad.abs() > 0


def test_same_seed_same_bytes_and_eval_is_deterministic():
    """Same process: the same seed gives exactly the same weights, and eval-mode forward
    passes on the same input are exactly equal."""
    g1, g2 = _seeded(Generator, TINY, 3), _seeded(Generator, TINY, 3)
    g1.eval(), g2.eval()
    nilr, guide = _batch()
    with torch.no_grad():
        a, b = g1(nilr, guide).sr, g2(nilr, guide).sr
    assert torch.equal(a, b)


def test_gradients_reach_both_paths_and_the_guide_matters():
    g = _seeded(Generator, TINY)
    with torch.no_grad():
        g.internal.copy.gamma.fill_(0.5)
    nilr, guide = _batch()
    nilr.requires_grad_(True)
    guide.requires_grad_(True)
    out = g(nilr, guide)
    (out.sr.square().mean() + out.heatmaps.square().mean()).backward()
    assert nilr.grad.abs().sum() > 0 and guide.grad.abs().sum() > 0
    for name in ("stem", "reduce", "external16", "external32", "external64", "heatmap_head"):
        grads = [p.grad for p in getattr(g, name).parameters()]
        assert all(gr is not None for gr in grads) and sum(gr.abs().sum() for gr in grads) > 0, name
    g.eval()  # no spectral-norm power iteration: repeated calls are bit-identical
    with torch.no_grad():
        # the value path carries the un-normalised guide, so the guide's colour reaches the output
        warm, cool = torch.full_like(guide, 0.8), torch.full_like(guide, -0.8)
        base = g(nilr, warm).sr
        recoloured = g(nilr, cool).sr
        other_face = g(-nilr, warm).sr
        same_again = g(nilr, warm).sr
    assert torch.equal(base, same_again)  # any difference below is the input, not noise
    assert (base - recoloured).abs().mean() > 1e-4
    # at init the guide's effect is of the same order as the thumbnail's (not negligible)
    assert (base - recoloured).abs().mean() > 0.05 * (base - other_face).abs().mean()


def test_a_few_adam_steps_fit_a_fixed_batch():
    g = _seeded(Generator, TINY)
    gen = torch.Generator().manual_seed(0)
    coarse = torch.rand(2, 3, 4, 4, generator=gen) * 2 - 1  # smooth "faces": 4×4 colour fields
    nilr = F.interpolate(coarse, size=16, mode="bilinear", align_corners=False)
    guide = torch.rand(2, 3, 128, 128, generator=gen) * 2 - 1
    target = F.interpolate(coarse, size=128, mode="bilinear", align_corners=False)
    opt = torch.optim.Adam(g.parameters(), lr=2e-3)
    losses = []
    for _ in range(15):
        loss = (g(nilr, guide).sr - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses
    assert losses[-1] < 0.8 * target.var().item(), losses  # better than any constant output


def _d_params_expected(widths, cin=3):
    total = 0
    for w in widths:
        total += 9 * cin * w + w + 9 * w * w + w
        cin = w
    return total + 9 * cin + 1


def test_presets_and_parameter_counts():
    counts = {}
    for name in ("tiny", "default", "paper"):
        config = ModelConfig.preset(name)
        g, d = Generator(config), Discriminator(config)
        counts[name] = (sum(p.numel() for p in g.parameters()),
                        sum(p.numel() for p in d.parameters()))
        assert counts[name][1] == _d_params_expected(config.disc_widths)
    assert counts["tiny"][0] < counts["default"][0] < counts["paper"][0]
    assert counts["paper"][0] > 10_000_000  # trunk 256 / width 128 / hourglass 256
    paper = ModelConfig.preset("paper")
    assert Generator(paper).stem.weight.shape == (256, 3, 5, 5)


def test_config_validation():
    with pytest.raises(UserInputError, match="preset"):
        ModelConfig.preset("huge")  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="norm"):
        ModelConfig(norm="instance")  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="disc_widths"):
        ModelConfig(disc_widths=(8, 16))
    with pytest.raises(UserInputError, match="unknown config key"):
        from_mapping(ModelConfig, {"trunk": 8, "widht": 4})
    assert from_mapping(ModelConfig, {"disc_widths": [4, 4, 8, 8]}).disc_widths == (4, 4, 8, 8)


def test_global_skip_adds_a_residual_to_the_bicubic_input():
    """With the last conv silenced, the skip generator returns exactly the (clamped) bicubic
    upsampling of its input; gradients still reach the residual path; the paper preset
    keeps the released code's tanh output."""
    g = _seeded(Generator, TINY)
    g.to_rgb = nn.Conv2d(g.to_rgb.in_channels, 3, 3, padding=1)  # a silent last conv (no SN:
    nn.init.zeros_(g.to_rgb.weight)                              # σ of a zero weight is 0)
    nn.init.zeros_(g.to_rgb.bias)
    nilr, guide = _batch(2)
    sr = g(nilr, guide).sr
    bicubic = F.interpolate(nilr, size=(128, 128), mode="bicubic", align_corners=False)
    torch.testing.assert_close(sr, bicubic.clamp(-1, 1))
    sr.sum().backward()
    assert g.to_rgb.bias.grad is not None and g.to_rgb.bias.grad.abs().sum() > 0
    assert ModelConfig.preset("paper").global_skip is False and TINY.global_skip is True


def test_detail_scales_the_residual_between_bicubic_and_the_trained_output():
    """detail 1 is the generator as trained, 0 its bicubic base, 0.5 halfway where nothing
    clamps; a generator without the bicubic base has no residual to scale."""
    g = _seeded(Generator, TINY).eval()
    with torch.no_grad():
        g.to_rgb.bias.fill_(0.05)  # a visible residual from an untrained net
        nilr, guide = torch.rand(2, 3, 16, 16) * 0.5 - 0.25, _batch(2)[1]
        full, half, none = (g(nilr, guide, detail=d).sr for d in (1.0, 0.5, 0.0))
    bicubic = F.interpolate(nilr, size=(128, 128), mode="bicubic", align_corners=False)
    torch.testing.assert_close(full, g(nilr, guide).sr)
    torch.testing.assert_close(none, bicubic.clamp(-1, 1))
    inside = (full.abs() < 1) & (bicubic.abs() < 1)
    assert (full - bicubic)[inside].abs().mean() > 0.01
    torch.testing.assert_close(half[inside], ((full + bicubic) / 2)[inside])
    paper_like = _seeded(Generator, dataclasses.replace(TINY, global_skip=False))
    with pytest.raises(ValueError, match="global_skip"):
        paper_like(nilr, guide, detail=0.5)


def test_icnr_makes_the_sub_pixel_upsampler_start_as_nearest_neighbour():
    """ICNR: the four sub-pixel outputs share one kernel, so before any training the
    upsampled map has equal values in each 2×2 block (no checkerboard), with or without SN."""
    from cpgan.nets.blocks import Upsampler

    for sn in (False, True):
        torch.manual_seed(0)
        up = Upsampler(8, norm="none", sn=sn, icnr=True).eval()
        y = up(torch.randn(2, 8, 6, 6))
        blocks = y.unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2)  # (B, C, 6, 6, 4)
        assert torch.allclose(blocks, blocks[..., :1].expand_as(blocks), atol=1e-6)
        assert y.abs().max() > 0
        plain = Upsampler(8, norm="none", sn=sn).eval()(torch.randn(2, 8, 6, 6))
        plain_blocks = plain.unfold(2, 2, 2).unfold(3, 2, 2).flatten(-2)
        assert not torch.allclose(plain_blocks, plain_blocks[..., :1].expand_as(plain_blocks))


def test_external_key_size_pools_the_guide_before_attention():
    """With key_size 4 an 8×8 guide is attended as its 4×4 area means: the same output as
    giving the pooled guide itself, and not the output of full-resolution keys."""
    from cpgan.nets.external import ExternalCPNet

    torch.manual_seed(0)
    net = ExternalCPNet(8, res_blocks=1, sn=False, key_size=4).eval()
    x, guide = torch.randn(2, 8, 8, 8), torch.randn(2, 8, 8, 8)
    assert torch.allclose(net(x, guide), net(x, F.avg_pool2d(guide, 2)), atol=1e-5)
    full = ExternalCPNet(8, res_blocks=1, sn=False).eval()
    full.load_state_dict(net.state_dict())
    assert not torch.allclose(full(x, guide), net(x, guide), atol=1e-3)


def test_input_aligner_starts_as_the_identity_and_learns_to_undo_a_rotation():
    """align_input: at initialisation the generator sees its thumbnail unchanged; trained on
    the generator's kind of signal (a pixel loss against the upright face), the spatial
    transformer learns the inverse of a rotation it was never told."""
    from cpgan.nets.aligner import InputAligner

    torch.manual_seed(0)
    aligner = InputAligner(channels=8)
    upright = F.interpolate(torch.rand(8, 3, 4, 4) * 2 - 1, size=16, mode="bilinear",
                            align_corners=False)  # smooth faces-like blobs
    assert torch.allclose(aligner(upright), upright, atol=1e-4)
    angle = torch.tensor(0.3)
    rot = torch.tensor([[angle.cos(), -angle.sin(), 0.0], [angle.sin(), angle.cos(), 0.0]])
    grid = F.affine_grid(rot.expand(8, 2, 3), [8, 3, 16, 16], align_corners=False)
    rotated = F.grid_sample(upright, grid, padding_mode="border", align_corners=False)
    inner = (slice(None), slice(None), slice(4, 12), slice(4, 12))  # away from the border

    def loss() -> torch.Tensor:
        return F.mse_loss(aligner(rotated)[inner], upright[inner])

    opt = torch.optim.Adam(aligner.parameters(), lr=3e-3)
    first = loss().item()
    for _ in range(60):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 0.1 * first  # seeds 0-2: 0.011-0.013 of it
    theta = aligner.theta(rotated).detach()
    turned = torch.atan2(theta[:, 1, 0], theta[:, 0, 0])
    assert (turned + 0.3).abs().max() < 0.05  # seeds 0-2: -0.299 to -0.303


def test_align_input_option_builds_an_aligner_that_changes_nothing_at_init():
    cfg = ModelConfig.preset("tiny")
    plain = Generator(cfg)
    torch.manual_seed(0)
    aligned = Generator(from_mapping(ModelConfig, {**cfg.__dict__, "align_input": True}))
    assert plain.aligner is None and aligned.aligner is not None
    state = {k: v for k, v in aligned.state_dict().items() if not k.startswith("aligner.")}
    plain.load_state_dict(state)
    nilr, guide = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(plain.eval()(nilr, guide).sr, aligned.eval()(nilr, guide).sr,
                              atol=1e-4)


def test_output_clamp_passes_gradients_that_pull_back_and_blocks_those_that_push_out():
    """An out-of-range output pixel gets the gradient toward [-1, 1] (straight through), never
    one away from it: such a push changes nothing the loss sees, so nothing would stop it."""
    from cpgan.nets.generator import _clamp_straight_through

    x = torch.tensor([2.0, 2.0, -2.0, -2.0, 0.5], requires_grad=True)
    y = _clamp_straight_through(x)
    assert torch.equal(y.detach(), torch.tensor([1.0, 1.0, -1.0, -1.0, 0.5]))
    # loss gradients: +1 lowers x (inward above 1), -1 raises it (inward below -1)
    y.backward(torch.tensor([1.0, -1.0, -1.0, 1.0, 3.0]))
    assert torch.equal(x.grad, torch.tensor([1.0, 0.0, -1.0, 0.0, 3.0]))
    # a loss that keeps pushing a clamped pixel outward no longer moves it at all
    z = torch.tensor([-1.5], requires_grad=True)
    opt = torch.optim.Adam([z], lr=0.1)
    for _ in range(20):
        opt.zero_grad()
        _clamp_straight_through(z).sum().backward()  # wants it lower, below the range
        opt.step()
    assert float(z) == -1.5
