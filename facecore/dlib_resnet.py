"""dlib's ResNet face descriptor as a differentiable torch module, read from dlib's own file.

``dlib.face_recognition_model_v1`` computes the 128-D descriptor that ``facecore.identity``
measures identity with, but it is a black box: no gradients, and the pybind11 module
cannot export its weights. To use the same descriptor as a training loss we rebuild the
network (``anet_type`` of dlib's ``examples/dnn_face_recognition_ex.cpp``) in torch and
fill it by parsing ``dlib_face_recognition_resnet_model_v1.dat`` ourselves.

dlib's binary format (``dlib/serialize.h``, ``dlib/dnn/core.h``, ``layers.h``, ``input.h``,
``dlib/cuda/tensor.h``), as far as this network needs it:

- an integer is a control byte (low nibble: byte count, bit 7: negative) and that many
  little-endian magnitude bytes; a bool is the ASCII byte ``'0'``/``'1'``; a string is its
  length (an integer) and its bytes; a scalar float is two integers, mantissa and
  exponent, worth ``mantissa * 2**exponent``;
- a tensor is version 2, then num_samples, k, nr, nc, then raw little-endian float32s —
  which is why numpy can read the 22 MB of weights without a Python loop;
- a network is written outside-in: each layer writes its version and then its whole
  subnetwork *before* its own details, so the file holds the loss, then one version per
  layer from the top down to the input layer, then the layers' details from the bottom up.

Tag, skip and ``add_prev`` layers carry no tag ids in the file, so the residual wiring
cannot be read from it: the architecture is written out here (``_dlib_layers``) and the
file is checked against it layer by layer (kinds, filter counts, kernels, strides,
paddings, tensor sizes); anything else is a ``UserInputError`` naming the file.

Behaviour that matters for matching dlib to float32 rounding (max |Δ| ≈ 3e-7):

- pixels become ``(RGB − mean) / 256`` with the mean stored in the file (122.782,
  117.001, 104.298), not ImageNet statistics;
- stride-2 convolutions and all poolings use padding 0 (stride-1 convs pad by k // 2);
- ``add_prev`` of tensors of different sizes zero-pads the smaller one at the
  bottom/right and at the end of the channels (top-left alignment), which happens both
  for channel growth (32→64…) and spatially (block 3×3 vs shortcut 4×4 in alevel1,
  1×1 vs 2×2 in alevel0);
- batch norm was folded into per-channel ``affine`` layers (scale, shift) before saving;
- the final ``fc_no_bias`` matrix is stored inputs × outputs (the transpose of
  ``nn.Linear.weight``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facecore.dlib_models import RESNET_DESCRIPTOR, model_path
from facecore.errors import UserInputError
from facecore.perceptual import file_record

INPUT_SIZE = 150
DESCRIPTOR_DIM = 128
PACKAGE_NAME = "face-recognition-models"
DLIB_MEAN_RGB = (122.782, 117.001, 104.298)  # input_rgb_image's defaults; the file holds them

# Residual blocks in forward order as (output channels, downsampling): alevel4 … alevel0.
_BLOCKS: tuple[tuple[int, bool], ...] = (
    (32, False), (32, False), (32, False),
    (64, True), (64, False), (64, False), (64, False),
    (128, True), (128, False), (128, False),
    (256, True), (256, False), (256, False),
    (256, True),
)


# --------------------------------------------------------------------------- torch network

class _Affine(nn.Module):
    """dlib ``affine_`` (a batch norm frozen into per-channel ``x * gamma + beta``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma[:, None, None] + self.beta[:, None, None]


def _add_prev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib ``add_prev``: the sum over the union of both shapes, each operand zero outside
    its own extent (smaller tensors padded at the end of channels, rows and columns)."""
    k, h, w = (max(p, q) for p, q in zip(a.shape[1:], b.shape[1:], strict=True))

    def grow(t: torch.Tensor) -> torch.Tensor:
        pad = (0, w - t.shape[3], 0, h - t.shape[2], 0, k - t.shape[1])
        return F.pad(t, pad) if any(pad) else t

    return grow(a) + grow(b)


class _Residual(nn.Module):
    """dlib ``ares`` / ``ares_down``: relu(block(x) + shortcut(x)), where the block is
    con-affine-relu-con-affine and the down shortcut is a 2×2/2 average pool."""

    def __init__(self, in_channels: int, channels: int, down: bool) -> None:
        super().__init__()
        self.down = down
        stride, pad = (2, 0) if down else (1, 1)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=pad)
        self.affine1 = _Affine(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1)
        self.affine2 = _Affine(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_add_prev(y, shortcut))


class DlibFaceResNet(nn.Module):
    """dlib's face-recognition ResNet (29 convs, 5.6M parameters): 150×150 chips → 128-D.

    ``forward`` takes RGB chips (B, 3, 150, 150) in [0, 1], the project's image range,
    cut as ``dlib.get_face_chip(img, shape_5pt, 150, 0.25)`` cuts them, and applies dlib's
    own preprocessing inside so callers never see dlib's pixel convention. The result
    matches ``compute_face_descriptor`` on the same chip to float32 rounding and is
    differentiable with respect to the input. Built untrained; fill it with
    ``load_dlib_face_resnet``.
    """

    mean_rgb: torch.Tensor  # (3,) dlib's pixel mean, 0–255 scale, filled from the file

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean_rgb", torch.tensor(DLIB_MEAN_RGB, dtype=torch.float32))
        self.stem_conv = nn.Conv2d(3, 32, 7, stride=2, padding=0)
        self.stem_affine = _Affine(32)
        blocks, channels = [], 32
        for out_channels, down in _BLOCKS:
            blocks.append(_Residual(channels, out_channels, down))
            channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(channels, DESCRIPTOR_DIM, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, INPUT_SIZE, INPUT_SIZE) \
                or not x.is_floating_point():
            raise ValueError(f"DlibFaceResNet wants (B, 3, {INPUT_SIZE}, {INPUT_SIZE}) RGB in "
                             f"[0, 1] floats, got {tuple(x.shape)} {x.dtype}")
        h = (x * 255.0 - self.mean_rgb.to(x.dtype)[:, None, None]) / 256.0
        h = F.max_pool2d(F.relu(self.stem_affine(self.stem_conv(h))), 3, 2)
        for block in self.blocks:
            h = block(h)
        return self.fc(h.mean(dim=(2, 3)))


# --------------------------------------------------------------------------- dlib's format

class _FormatError(Exception):
    """The bytes are not what this network's serialization must be (message says what)."""


class _Reader:
    """Cursor over a dlib-serialized byte string; every read checks bounds and syntax."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def _take(self, n: int, what: str) -> int:
        start = self.pos
        if n < 0 or start + n > len(self.data):
            raise _FormatError(f"file ends inside {what} (byte {start})")
        self.pos = start + n
        return start

    def read_int(self, what: str) -> int:
        at = self._take(1, what)
        control = self.data[at]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise _FormatError(f"bad integer control byte 0x{control:02x} for {what} (byte {at})")
        start = self._take(size, what)
        value = int.from_bytes(self.data[start:start + size], "little")
        return -value if control & 0x80 else value

    def read_float(self, what: str) -> float:
        mantissa, exponent = self.read_int(what), self.read_int(what)
        if exponent >= 32000:  # float_details' is_inf / is_ninf / is_nan markers
            return (math.inf, -math.inf)[exponent - 32000] if exponent < 32002 else math.nan
        return float(np.float32(math.ldexp(float(np.float32(mantissa)), exponent)))

    def read_bool(self, what: str) -> bool:
        at = self._take(1, what)
        if self.data[at] not in b"01":
            raise _FormatError(f"bad bool byte 0x{self.data[at]:02x} for {what} (byte {at})")
        return self.data[at] == ord("1")

    def read_str(self, what: str) -> str:
        n = self.read_int(what)
        if n > 64:
            raise _FormatError(f"implausible string length {n} for {what} (byte {self.pos})")
        start = self._take(n, what)
        return self.data[start:start + n].decode("latin-1")

    def expect_int(self, want: int, what: str) -> None:
        if (got := self.read_int(what)) != want:
            raise _FormatError(f"{what}: expected {want}, found {got}")

    def expect_str(self, allowed: tuple[str, ...], what: str) -> str:
        if (got := self.read_str(what)) not in allowed:
            raise _FormatError(f"{what}: expected {' or '.join(allowed)}, found {got!r}")
        return got

    def tensor(self, what: str) -> np.ndarray:
        """A ``resizable_tensor``: shape header, then float32s read by numpy (read-only view)."""
        self.expect_int(2, f"{what} tensor version")
        shape = tuple(self.read_int(f"{what} tensor shape") for _ in range(4))
        if min(shape) < 0:
            raise _FormatError(f"{what}: negative tensor shape {shape}")
        count = math.prod(shape)
        start = self._take(4 * count, f"{what} tensor data")
        return np.frombuffer(self.data, dtype="<f4", count=count, offset=start).reshape(shape)

    def alias(self, what: str) -> tuple[int, ...]:
        """An ``alias_tensor``: only a shape (a view into the layer's params)."""
        self.expect_int(1, f"{what} alias version")
        return tuple(self.read_int(f"{what} alias shape") for _ in range(4))


@dataclass(frozen=True)
class _Layer:
    """One dlib layer of ``anet_type`` as it must appear in the file (top to bottom)."""

    kind: str  # con, affine, relu, max_pool, avg_pool, add_prev, tag, skip, fc
    filters: int = 0
    kernel: int = 0  # 0 with avg_pool (and stride 1): avg_pool_everything
    stride: int = 1

    @property
    def padding(self) -> int:
        """dlib's default for convolutions: kernel // 2 for stride 1, else 0."""
        return self.kernel // 2 if self.stride == 1 else 0


def _dlib_layers() -> list[_Layer]:
    """``anet_type`` without its loss, outermost layer first, as dlib serializes it."""
    def block(n: int, stride: int) -> list[_Layer]:
        return [_Layer("affine"), _Layer("con", n, 3, 1), _Layer("relu"),
                _Layer("affine"), _Layer("con", n, 3, stride)]

    layers = [_Layer("fc", DESCRIPTOR_DIM), _Layer("avg_pool", 0, 0, 1)]  # avg_pool_everything
    for n, down in reversed(_BLOCKS):  # alevel0 first
        if down:  # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,2,tag1<…>>>>>>>
            layers += [_Layer("relu"), _Layer("add_prev"), _Layer("avg_pool", 0, 2, 2),
                       _Layer("skip"), _Layer("tag"), *block(n, 2), _Layer("tag")]
        else:  # relu<add_prev1<block<N,1,tag1<…>>>>
            layers += [_Layer("relu"), _Layer("add_prev"), *block(n, 1), _Layer("tag")]
    return layers + [_Layer("max_pool", 0, 3, 2), _Layer("relu"), _Layer("affine"),
                     _Layer("con", 32, 7, 2)]


def _read_details(r: _Reader, layer: _Layer, where: str,
                  in_channels: int) -> list[np.ndarray]:
    """One layer's own serialization; returns its weight arrays in torch layout."""
    if layer.kind == "con":
        version = r.expect_str(("con_4", "con_5", "con_6"), where)
        params = r.tensor(where)
        # num_filters, nr, nc, stride_y, stride_x, padding_y, padding_x
        geometry = tuple(r.read_int(where) for _ in range(7))
        want = (layer.filters, layer.kernel, layer.kernel, layer.stride, layer.stride,
                layer.padding, layer.padding)
        if geometry != want:
            raise _FormatError(f"{where}: (filters, nr, nc, strides, paddings) {geometry}, "
                               f"expected {want}")
        filters, biases = r.alias(where), r.alias(where)
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.read_float(where)
        use_bias = r.read_bool(where) if version in ("con_5", "con_6") else True
        if version == "con_6" and r.read_bool(where):
            # use_relu: dlib's fuse_layers() folded a relu (and affine) into this con
            raise _FormatError(f"{where}: a fused (fuse_layers) network, not supported")
        n, k = layer.filters, layer.kernel
        if filters != (n, in_channels, k, k) or biases != (1, n, 1, 1) or not use_bias \
                or params.size != n * in_channels * k * k + n:
            raise _FormatError(f"{where}: filter {filters} / bias {biases} shapes and "
                               f"{params.size} params do not fit {n}×{in_channels}×{k}×{k}")
        flat = params.reshape(-1)
        return [flat[:-n].reshape(filters), flat[-n:]]
    if layer.kind == "affine":
        version = r.expect_str(("affine_", "affine_2"), where)
        params = r.tensor(where)  # gamma then beta; the two aliases give their shapes
        gamma, beta = r.alias(where), r.alias(where)
        mode = r.read_int(where)
        disabled = r.read_bool(where) if version == "affine_2" else False
        # mode 0 is CONV_MODE: one gamma and beta per channel
        if mode != 0 or disabled or gamma != (1, in_channels, 1, 1) or beta != gamma \
                or params.size != 2 * in_channels:
            raise _FormatError(f"{where}: mode {mode}, disabled {disabled}, gamma {gamma}, "
                               f"beta {beta}, {params.size} params: not a per-channel "
                               f"affine of {in_channels} channels")
        flat = params.reshape(-1)
        return [flat[:in_channels], flat[in_channels:]]
    if layer.kind == "relu":
        if r.expect_str(("relu_", "relu_2"), where) == "relu_2" and r.read_bool(where):
            raise _FormatError(f"{where}: relu is disabled")
        return []
    if layer.kind in ("max_pool", "avg_pool"):
        r.expect_str((f"{layer.kind}_2",), where)
        window = tuple(r.read_int(where) for _ in range(6))
        expected = (layer.kernel,) * 2 + (layer.stride,) * 2 + (0, 0)
        if window != expected:
            raise _FormatError(f"{where}: (nr, nc, strides, paddings) {window}, "
                               f"expected {expected}")
        return []
    if layer.kind == "add_prev":
        r.expect_str(("add_prev_",), where)
        return []
    if layer.kind == "fc":
        version = r.expect_str(("fc_2", "fc_3"), where)
        outputs, inputs = r.read_int(where), r.read_int(where)
        params = r.tensor(where)
        weights, _biases = r.alias(where), r.alias(where)
        bias_mode = r.read_int(where)
        for _ in range(4):
            r.read_float(where)
        if version == "fc_3":
            r.read_bool(where)  # use_bias: meaningless for fc_no_bias
        if (outputs, inputs, bias_mode) != (layer.filters, in_channels, 1) \
                or weights != (inputs, outputs, 1, 1) or params.size != inputs * outputs:
            raise _FormatError(f"{where}: fc {inputs}→{outputs} (bias mode {bias_mode}, "
                               f"weights {weights}, {params.size} params), expected "
                               f"fc_no_bias {in_channels}→{layer.filters}")
        return [params.reshape(inputs, outputs).T]  # stored inputs × outputs
    raise AssertionError(layer.kind)


def _parse(data: bytes) -> list[np.ndarray]:
    """The input mean (3,) and then every weight array in forward order (stem … fc)."""
    r = _Reader(data)
    r.expect_int(1, "add_loss_layer version")
    r.expect_str(("loss_metric_2", "loss_metric_"), "loss layer")
    r.read_float("loss margin")
    r.read_float("loss distance threshold")
    layers = _dlib_layers()
    versions: list[int] = []  # of the add_layer wrappers, top-down
    for i, layer in enumerate(layers):
        where = f"layer {i + 1} ({layer.kind})"
        if layer.kind in ("tag", "skip"):
            r.expect_int(1, f"{where} version")
            versions.append(0)
            continue
        version = r.read_int(f"{where} version")
        allowed = (2, 3) if i == len(layers) - 1 else (1, 2)
        if version not in allowed:
            raise _FormatError(f"{where}: add_layer version {version}, expected {allowed}")
        versions.append(version)
    r.expect_str(("input_rgb_image_sized",), "input layer")
    mean = tuple(r.read_float("input mean") for _ in range(3))
    if not np.allclose(mean, DLIB_MEAN_RGB, atol=1e-3):
        raise _FormatError(f"input mean {mean}, expected {DLIB_MEAN_RGB}")
    size = (r.read_int("input size"), r.read_int("input size"))
    if size != (INPUT_SIZE, INPUT_SIZE):
        raise _FormatError(f"input size {size}, expected {INPUT_SIZE}×{INPUT_SIZE}")

    arrays = [np.array(mean, dtype=np.float32)]
    arrays[0].flags.writeable = False
    channels = 3
    for i in range(len(layers) - 1, -1, -1):  # details come bottom-up
        layer, version = layers[i], versions[i]
        if layer.kind in ("tag", "skip"):
            continue
        where = f"layer {i + 1} ({layer.kind})"
        arrays += _read_details(r, layer, where, channels)
        if layer.kind in ("con", "fc"):
            channels = layer.filters
        for _ in range(3):  # setup called, gradient stale, output/gradient disabled
            r.read_bool(where)
        r.tensor(f"{where} x_grad")
        r.tensor(f"{where} cached_output")
        if i == len(layers) - 1:  # the add_layer over the input layer
            r.tensor(f"{where} grad_final")
            if version == 3:
                r.read_int(f"{where} sample expansion factor")
        elif version == 2:
            r.tensor(f"{where} params_grad")
    if r.pos != len(data):
        raise _FormatError(f"{len(data) - r.pos} unexpected bytes after the network")
    return arrays


# --------------------------------------------------------------------------- public API

def _default_path(path: str | Path | None) -> Path:
    path = model_path(RESNET_DESCRIPTOR) if path is None else Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such dlib face-recognition model file")
    return path


@functools.lru_cache(maxsize=2)
def _parsed(path: str, mtime_ns: int, size: int) -> tuple[np.ndarray, ...]:
    """Parse once per file version (keyed by mtime and size, so an edited file is reread).

    The arrays are read-only views of the file's bytes, so the cache cannot be altered
    through a module built from it (``load_dlib_face_resnet`` copies them).
    """
    del mtime_ns, size  # only part of the cache key
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read the dlib model file: {exc}") from None
    try:
        return tuple(_parse(data))
    except _FormatError as exc:
        raise UserInputError(f"{path}: not dlib's face-recognition ResNet "
                             f"({RESNET_DESCRIPTOR}): {exc}") from None


def load_dlib_face_resnet(path: str | Path | None = None) -> DlibFaceResNet:
    """dlib's face-recognition ResNet with the weights of ``path``, frozen, in eval mode.

    ``path`` defaults to ``dlib_face_recognition_resnet_model_v1.dat`` from the
    face-recognition-models package. Parameters do not require grad (it is used as a
    fixed identity metric); gradients still flow to the input. Each call returns a new
    module, but each file is parsed only once per process. A missing file, or one that is
    not this network in dlib's format, raises ``UserInputError`` naming the file.
    """
    path = _default_path(path)
    stat = path.stat()
    arrays = _parsed(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    net = DlibFaceResNet()
    params: list[tuple[str, torch.Tensor]] = [("mean_rgb", net.mean_rgb),
                                              *net.named_parameters()]
    if len(params) != len(arrays):  # _parse and DlibFaceResNet disagree: a bug, not input
        raise AssertionError(f"{len(arrays)} weight arrays for {len(params)} parameters")
    with torch.no_grad():
        for (name, param), array in zip(params, arrays, strict=True):
            if tuple(param.shape) != array.shape:
                raise AssertionError(f"{name}: {array.shape} from the file, "
                                     f"{tuple(param.shape)} in the module")
            param.copy_(torch.tensor(array))
    net.requires_grad_(False)
    return net.eval()


def weights_record(path: str | Path | None = None) -> dict[str, str | None]:
    """What to write into manifests and checkpoints about the weights used
    (``facecore.perceptual.weights_record``): the package and its version only when the
    file is the installed face-recognition-models one, so a copy from elsewhere is never
    credited to it; the sha256 ties a result to the exact bytes either way."""
    path = _default_path(path)
    try:
        ours = path.resolve() == model_path(RESNET_DESCRIPTOR).resolve()
    except UserInputError:  # package not installed: a file from elsewhere
        ours = False
    return file_record(path, name=path.name,
                                     package=PACKAGE_NAME if ours else None)
