"""Hallucinate 128×128 uniformly-lit faces from 16×16 shaded thumbnails with a trained CPGAN."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from cpgan.checkpoint import load_generator
from cpgan.evaluate import check_detail, hallucinate_batch, to_uint8
from facecore.errors import UserInputError
from facecore.imageio import list_images, read_image, write_image

log = logging.getLogger(__name__)
LR_SIZE, HR_SIZE = 16, 128


def collect_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files given directly or found (recursively) in given folders, in the given order."""
    files: list[Path] = []
    for item in map(Path, inputs):
        files.extend(list_images(item) if item.is_dir() else [item])
    if not files:
        raise UserInputError("no input images given; pass 16×16 face files or folders of them")
    return files


def load_square(path: Path, size: int, *, what: str) -> np.ndarray:
    """Read ``path`` as (size, size, 3) uint8; other square sizes are area-resized (with a
    warning when shrinking); non-square images are an error."""
    image = read_image(path)
    h, w = image.shape[:2]
    if h != w:
        raise UserInputError(f"{path}: {what} must be a square aligned face crop, got {w}×{h}")
    if h != size:
        if h > size:
            log.warning("%s: %d×%d %s downsampled (antialiased) to %d×%d", path, w, h, what,
                        size, size)
        interp = cv2.INTER_AREA if h > size else cv2.INTER_CUBIC
        image = cv2.resize(image, (size, size), interpolation=interp)
    return image


def _tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).to(device)


def hallucinate_files(checkpoint: str | Path, inputs: Sequence[str | Path], *, guide: str | Path,
                      out: str | Path, device: str | torch.device = "cpu",
                      batch_size: int = 16, detail: float = 1.0) -> list[Path]:
    """Write one 128×128 PNG per input face to ``out`` (same stem); returns the written paths.

    inputs: 16×16 NI-LR faces (files or folders; larger squares are downsampled);
    guide: one uniformly lit 128×128 face (other square sizes are resized);
    detail: the scale of the generator's residual on bicubic (``Generator.forward``).
    """
    device = torch.device(device)
    files = collect_inputs(inputs)
    guide_image = load_square(Path(guide), HR_SIZE, what="guide")
    generator, _ = load_generator(checkpoint, device=device)
    check_detail(generator, detail)
    out = Path(out)
    written: list[Path] = []
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        nilr = _tensor(np.stack([load_square(p, LR_SIZE, what="input") for p in chunk]), device)
        guides = _tensor(np.repeat(guide_image[None], len(chunk), axis=0), device)
        faces = to_uint8(hallucinate_batch(generator, nilr, guides, detail=detail))
        for path, face in zip(chunk, faces):
            written.append(write_image(out / f"{path.stem}.png", face))
    log.info("wrote %d hallucinated faces to %s", len(written), out)
    return written
