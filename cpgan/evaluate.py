"""Evaluate a trained CPGAN against bicubic upsampling on a shard split.

PSNR/SSIM are measured on RGB in [0, 1] against UI-HR (the paper's Table 1 metric);
``identity=True`` adds Table 2's protocol: face embeddings (dlib's, or a TorchScript
network the user gives), gallery = the first UI-HR image of every identity in the
split, probes = every sample's bicubic, CPGAN and UI-HR image, rank-1 accuracy per
probe kind. A model trained with L_id on dlib's network is judged by that same network
then, which flatters its rank-1: the result says so (``identity_caveat``), and an
independent embedding (``identity_net``) is the fair judge.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch

from cpgan.checkpoint import load_generator
from cpgan.data import eval_loader
from cpgan.metrics import psnr, ssim
from cpgan.nets import Generator
from cpgan.nets.blocks import bicubic_upsample
from facecore.align import EYE_DISTANCE, EYE_DISTANCE_RANGE, eye_distance_of
from facecore.errors import UserInputError
from facecore.grid import make_grid
from facecore.imageio import write_image

log = logging.getLogger(__name__)
GRID_ROWS = 8
GRID_COLUMNS = ("NI-LR", "bicubic", "CPGAN", "UI-HR", "guide")


@dataclass(frozen=True)
class EvalConfig:
    """``cpgan eval``: which split and how much of it, and the options of ``evaluate``.

    identity: add rank-1 face identification; identity_net: a TorchScript embedding to judge
    it instead of dlib's (RGB in [0, 1] at identity_size²); max_samples: None = the whole split;
    detail: the scale of the generator's residual on bicubic (``Generator.forward``).
    """

    split: Literal["train", "val", "test"] = "test"
    max_samples: int | None = None
    batch_size: int = 16
    device: str = "cpu"
    identity: bool = False
    identity_net: str | None = None
    identity_size: int = 112
    detail: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.detail <= 1:
            raise UserInputError(f"--detail must be in [0, 1] (1: as trained, 0: bicubic), "
                                 f"got {self.detail}")
        if self.max_samples is not None and self.max_samples < 1:
            raise UserInputError(f"--max-samples must be >= 1, got {self.max_samples}")
        if self.identity_net is not None and not self.identity:
            raise UserInputError("--identity-net is used by --identity; add --identity")


def bicubic_baseline(nilr: torch.Tensor, size: int = 128) -> torch.Tensor:
    """(B, 3, 16, 16) in [0, 1] → (B, 3, size, size): the generator's own bicubic upsampling
    (``cpgan.nets.blocks.bicubic_upsample``), clamped to [0, 1]."""
    return bicubic_upsample(nilr, size).clamp(0, 1)


def check_detail(generator: Generator, detail: float) -> None:
    """One clear error when ``--detail`` asks for a scale this checkpoint cannot give."""
    if detail != 1.0 and not generator.config.global_skip:
        raise UserInputError(f"--detail {detail:g}: this checkpoint's generator draws the whole "
                             "face (global_skip off), there is no residual on bicubic to "
                             "scale; leave --detail at 1")


@torch.no_grad()
def hallucinate_batch(generator: Generator, nilr: torch.Tensor, guide: torch.Tensor, *,
                      detail: float = 1.0) -> torch.Tensor:
    """CPGAN output in [0, 1] for nilr (B, 3, 16, 16) and guide (B, 3, 128, 128), both in [0, 1]."""
    out = generator(nilr * 2 - 1, guide * 2 - 1, detail=detail)
    return ((out.sr.float() + 1) / 2).clamp(0, 1)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] → (B, H, W, 3) uint8."""
    return (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def add_scores(sums: dict[str, dict[str, float]], outputs: dict[str, torch.Tensor],
               uihr: torch.Tensor) -> None:
    """Add each method's per-image PSNR and SSIM sums against ``uihr`` (all in [0, 1])."""
    for name, images in outputs.items():
        sums[name]["psnr"] += float(psnr(images, uihr).sum())
        sums[name]["ssim"] += float(ssim(images, uihr).sum())


def validate(generator: Generator, data_dir: str | Path, *, split: str = "val",
             max_samples: int | None = 64, batch_size: int = 16,
             device: str | torch.device = "cpu") -> dict[str, dict[str, float]]:
    """Mean PSNR/SSIM of ``generator`` (as it is: call ``eval()`` first) and of bicubic on
    the first ``max_samples`` of ``split``: the trainer's periodic check. Reads no global
    RNG, so validating does not change the training run it interrupts."""
    sums = {m: {"psnr": 0.0, "ssim": 0.0} for m in ("bicubic", "cpgan")}
    n = 0
    for batch in eval_loader(data_dir, split=split, batch_size=batch_size, max_samples=max_samples):
        nilr, guide, uihr = ((batch[k].to(device) + 1) / 2 for k in ("nilr", "guide", "uihr"))
        add_scores(sums, {"bicubic": bicubic_baseline(nilr),
                          "cpgan": hallucinate_batch(generator, nilr, guide)}, uihr)
        n += len(nilr)
    return {name: {k: v / max(n, 1) for k, v in m.items()} for name, m in sums.items()}


def evaluate(checkpoint: str | Path, data_dir: str | Path, *, split: str = "test",
             out: str | Path, grid: str | Path | None = None, identity: bool = False,
             identity_net: str | Path | None = None, identity_size: int = 112,
             max_samples: int | None = None, batch_size: int = 16,
             device: str | torch.device = "cpu", detail: float = 1.0) -> dict[str, Any]:
    """Measure CPGAN and bicubic on ``split`` and write ``out`` (JSON); returns that dict.

    ``identity_net``: a TorchScript embedding (RGB in [0, 1], ``identity_size``² input, any
    (B, D) output) to use for ``identity`` instead of dlib's descriptor."""
    device = torch.device(device)
    generator, ckpt = load_generator(checkpoint, device=device)
    check_detail(generator, detail)
    sums = {m: {"psnr": 0.0, "ssim": 0.0} for m in ("bicubic", "cpgan")}
    n = 0
    grid_rows: list[list[np.ndarray]] = []
    faces: dict[str, list[np.ndarray]] = {"bicubic": [], "cpgan": [], "uihr": [], "nihr": []}
    ids: list[str] = []
    landmarks: list[np.ndarray] = []
    for batch in eval_loader(data_dir, split=split, batch_size=batch_size, max_samples=max_samples):
        nilr, guide, uihr = ((batch[k].to(device) + 1) / 2 for k in ("nilr", "guide", "uihr"))
        outputs = {"bicubic": bicubic_baseline(nilr),
                   "cpgan": hallucinate_batch(generator, nilr, guide, detail=detail)}
        add_scores(sums, outputs, uihr)
        n += len(nilr)
        images = {**outputs, "uihr": uihr, "nilr": nilr, "guide": guide}
        if identity:
            images["nihr"] = (batch["nihr"].to(device) + 1) / 2
        u8 = {k: to_uint8(v) for k, v in images.items()}
        for i in range(min(len(nilr), GRID_ROWS - len(grid_rows))):
            grid_rows.append([u8[k][i] for k in ("nilr", "bicubic", "cpgan", "uihr", "guide")])
        if identity:
            for k in faces:
                faces[k].extend(u8[k])
            ids.extend(batch["identity"])
            landmarks.append(batch["landmarks"].numpy())
    if n == 0:
        raise UserInputError(f"{data_dir}: split {split!r} has no samples to evaluate")
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint), "step": int(ckpt["step"]), "split": split, "n": n,
        "detail": detail,
        "device": str(device), "weights": ckpt.get("weights", {}),
        "loss_terms": list(ckpt["loss_config"]["terms"]),
        **{name: {k: v / n for k, v in m.items()} for name, m in sums.items()},
    }
    if identity:
        framing = eye_distance_of(np.concatenate(landmarks), int(uihr.shape[-1]))
        low, high = EYE_DISTANCE_RANGE
        framing = round(framing, 3) if low <= framing <= high else EYE_DISTANCE  # NaN: none
        embed = (dlib_embedding(framing) if identity_net is None
                 else torchscript_embedding(identity_net, size=identity_size))
        result["identity_rank1"] = identity_rank1(faces, ids, embed)
        result["identity_net"] = "dlib" if identity_net is None else str(identity_net)
        result["identity_eye_distance"] = framing
        trained_with_dlib = ckpt["loss_config"].get("identity_net") == "dlib"
        if identity_net is None and "id" in result["loss_terms"] and trained_with_dlib:
            result["identity_caveat"] = IDENTITY_CAVEAT
            log.warning("%s", IDENTITY_CAVEAT)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2, allow_nan=True) + "\n")
    if grid is not None:
        labels = [list(GRID_COLUMNS)] * len(grid_rows)
        write_image(grid, make_grid(grid_rows, labels=labels))
    log.info("%s %s (n=%d): bicubic PSNR %.2f SSIM %.4f | CPGAN PSNR %.2f SSIM %.4f", split,
             checkpoint, n, result["bicubic"]["psnr"], result["bicubic"]["ssim"],
             result["cpgan"]["psnr"], result["cpgan"]["ssim"])
    return result


IDENTITY_CAVEAT = ("this model was trained with L_id on dlib's face network, the network "
                   "that measures rank-1 here, which flatters its CPGAN score; judge with an "
                   "independent embedding: cpgan eval --identity --identity-net PATH")
Embed = Callable[[np.ndarray], np.ndarray]


def dlib_embedding(eye_distance: float = EYE_DISTANCE) -> Embed:
    """dlib's face descriptor of (N, S, S, 3) uint8 aligned crops (``FaceEmbedder``) framed
    with ``eye_distance`` (the shards' own framing, measured from their UI-HR landmarks:
    dlib's chip must be cut where the face is)."""
    from facecore.identity import FaceEmbedder  # dlib: loaded only when asked

    return FaceEmbedder(eye_distance=eye_distance).embed


def torchscript_embedding(path: str | Path, *, size: int) -> Embed:
    """A user's TorchScript face embedding: (B, 3, size, size) RGB in [0, 1] → (B, D); the
    crops are resized to size² (bilinear, antialiased) and embedded 32 at a time."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"--identity-net {path}: no such file; give a TorchScript model")
    try:
        with warnings.catch_warnings():  # TorchScript is what the option promises to read
            warnings.simplefilter("ignore", FutureWarning)
            net = torch.jit.load(str(path), map_location="cpu").eval()
    except (RuntimeError, ValueError) as exc:
        raise UserInputError(f"--identity-net {path}: not a TorchScript model ({exc}); save "
                             "one with torch.jit.script(model).save(path)") from None

    @torch.no_grad()
    def embed(images: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(images), 32):
            x = torch.from_numpy(images[start:start + 32]).permute(0, 3, 1, 2).float() / 255
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                                antialias=True, align_corners=False)
            emb = net(x)
            if not isinstance(emb, torch.Tensor) or emb.dim() != 2 or len(emb) != len(x):
                raise UserInputError(f"--identity-net {path}: expected a (B, D) tensor for "
                                     f"(B, 3, {size}, {size}) input")
            out.append(emb.float().numpy())
        return np.concatenate(out)

    return embed


def first_of_each(ids: list[str]) -> tuple[list[str], list[int]]:
    """The Table 2 gallery: each identity once, in order of first appearance, and the row of
    its first sample (whose UI-HR is the gallery face)."""
    first: dict[str, int] = {}
    for i, who in enumerate(ids):
        first.setdefault(who, i)
    return list(first), list(first.values())


def identity_rank1(faces: dict[str, list[np.ndarray]], ids: list[str],
                   embed: Embed) -> dict[str, float]:
    """Table 2 protocol: rank-1 of bicubic, CPGAN, UI-HR and NI-HR probes against a gallery
    of the first UI-HR image of each identity. faces: kind → (H, W, 3) uint8 images, one per
    id; ``embed``: (N, H, W, 3) uint8 → (N, D) embeddings. NI-HR (the shaded 128² face,
    warped) is what identity the shading leaves before any downsampling; on real data
    with one uniform photo per identity, UI-HR probes are their own gallery (100 %)."""
    from facecore.identity import rank1_accuracy

    uihr_emb = embed(np.stack(faces["uihr"]))
    gallery_ids, rows = first_of_each(ids)
    gallery = uihr_emb[rows]
    scores = {}
    for kind in ("bicubic", "cpgan", "uihr", "nihr"):
        emb = uihr_emb if kind == "uihr" else embed(np.stack(faces[kind]))
        scores[kind] = rank1_accuracy(emb, ids, gallery, gallery_ids)
    log.info("identity rank-1 over %d probes, %d identities: %s", len(ids), len(gallery_ids),
             ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    return {k: (v if math.isfinite(v) else float("nan")) for k, v in scores.items()}
