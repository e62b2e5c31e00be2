import pytest
import torch

from datagen.rain.losses import (content_loss, identity_loss, kl_to_standard_normal,
                                 stats_reconstruction_loss, style_loss)


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _feats(seed: int, dtype=torch.float32) -> list[torch.Tensor]:
    g = _g(seed)
    return [torch.rand(2, c, s, s, generator=g, dtype=dtype) for c, s in ((3, 4), (4, 2))]


def test_content_loss_zero_iff_equal_and_gradient_only_to_output():
    out = torch.rand(2, 4, 3, 3, generator=_g(), requires_grad=True)
    target = out.detach().clone().requires_grad_(True)
    assert content_loss(out, target) == 0
    shifted = target.detach() + 0.1
    shifted.requires_grad_(True)
    loss = content_loss(out, shifted)
    assert loss > 0
    loss.backward()
    assert out.grad is not None and out.grad.abs().sum() > 0
    assert shifted.grad is None  # the AdaIN target is a constant


def test_style_loss_zero_for_same_statistics_positive_otherwise():
    a = _feats(0)
    assert style_loss(a, [f.clone() for f in a]) == 0
    # a spatial permutation keeps channel statistics: still zero (it is a *style* loss)
    perm = [f.flatten(2)[:, :, torch.randperm(f[0, 0].numel(), generator=_g(1))].view_as(f) for f in a]
    assert style_loss(a, perm) < 1e-10
    assert style_loss(a, _feats(1)) > 0
    with pytest.raises(ValueError):
        style_loss(a, a[:1])


def test_style_loss_gradcheck_in_double():
    out = [f.requires_grad_(True) for f in _feats(0, torch.float64)]
    target = _feats(1, torch.float64)
    assert torch.autograd.gradcheck(lambda x, y: style_loss([x, y], target), tuple(out))


def test_stats_reconstruction_loss():
    g = _g(2)
    mean, std = torch.randn(2, 5, 1, 1, generator=g), torch.rand(2, 5, 1, 1, generator=g) + 0.1
    assert stats_reconstruction_loss(mean, std, mean, std) == 0
    assert stats_reconstruction_loss(mean + 0.5, std, mean, std) == pytest.approx(0.25 / 2)
    m_hat = mean.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda m: stats_reconstruction_loss(m, std.double(), mean.double() + 1, std.double()),
        (m_hat.double().detach().requires_grad_(True),))


def test_kl_is_zero_for_the_prior_and_positive_otherwise():
    zeros = torch.zeros(4, 8)
    assert kl_to_standard_normal(zeros, zeros) == 0
    assert kl_to_standard_normal(zeros + 0.5, zeros) == pytest.approx(0.125)
    assert kl_to_standard_normal(zeros, zeros + 1.0) > 0
    assert kl_to_standard_normal(zeros, zeros - 1.0) > 0
    mean = torch.randn(3, 4, generator=_g(3), dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(3, 4, generator=_g(4), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(kl_to_standard_normal, (mean, logvar))


def test_kl_matches_monte_carlo_estimate():
    g = _g(5)
    mean, logvar = torch.tensor([[0.7, -0.3]]), torch.tensor([[0.4, -0.8]])
    z = mean + torch.randn(200_000, 2, generator=g) * (0.5 * logvar).exp()
    log_q = -0.5 * (((z - mean) ** 2) / logvar.exp() + logvar)
    log_p = -0.5 * z ** 2
    mc = (log_q - log_p).mean()  # mean over samples and the two dims, as the loss averages
    assert kl_to_standard_normal(mean, logvar) == pytest.approx(float(mc), abs=0.01)


def test_identity_loss():
    image = torch.rand(2, 3, 4, 4, generator=_g(6))
    assert identity_loss(image.clone(), image) == 0
    assert identity_loss(image * 0.5, image) > 0


def _shaded(gain_left: float, gain_right: float, *, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """A grey face (content) and the same face with each half multiplied by a gain."""
    content = torch.full((1, 3, size, size), 0.5)
    relit = content.clone()
    relit[..., : size // 2] *= gain_left
    relit[..., size // 2:] *= gain_right
    return relit, content


def test_ratio_loss_measures_light_strength_not_where_it_falls():
    from datagen.rain.losses import ratio_loss

    dark_left, content = _shaded(0.1, 1.0)
    assert ratio_loss(dark_left, dark_left, content) == 0
    # a shadow moved within its half (upper rows dark instead of lower): the same values
    moved = content.clone()
    moved[..., :16, :16] *= 0.1
    lower = content.clone()
    lower[..., 16:, :16] *= 0.1
    assert ratio_loss(moved, lower, content) < ratio_loss(content, lower, content)
    # a weaker shadow on the same side costs about the log of the missing depth, per half
    weak_left, _ = _shaded(0.5, 1.0)
    expected = (torch.log(torch.tensor((0.5 * 0.5 + 0.01) / (0.05 + 0.01)))) / 2
    assert ratio_loss(weak_left, dark_left, content) == pytest.approx(float(expected), rel=1e-4)
    # the relit face gets the gradient, the target and the content do not
    relit = weak_left.clone().requires_grad_(True)
    target = dark_left.clone().requires_grad_(True)
    ratio_loss(relit, target, content).backward()
    assert relit.grad.abs().sum() > 0 and target.grad is None
