"""Image files and PNG bytes, with errors a person can act on.

PNG bytes (``encode_png``, what shards store) come from fpng (the ``fpng`` package),
the fastest lossless PNG encoder that installs as a package: a pure function of the
pixels (no threads, no timestamps), so the same pixels always give the same bytes, which
shards depend on; ``PNG_ENCODER`` names its version for the manifest. Measured on a
128×128 face (``benchmarks/png_encoders.py``): 0.05 ms against 0.69 ms for OpenCV's zlib
(level 6, run-length strategy, this module's encoder until datagen 0.3.0), for 14.5 %
more bytes. Any PNG reader decodes them (PIL, OpenCV, webdataset). Other image files
(``write_image``) still go through OpenCV.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import fpng
import numpy as np

from facecore.errors import UserInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp")
PNG_ENCODER = f"fpng {fpng.__version__}"  # decides the PNG bytes: in every manifest header


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB (grayscale is replicated to 3 channels)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such image file")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise UserInputError(f"{path}: not a readable image (corrupt or unsupported format)")
    return _to_rgb_uint8(img, str(path))


def _to_rgb_uint8(img: np.ndarray, where: str) -> np.ndarray:
    if img.dtype == np.uint16:
        img = (img / 257.0).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        raise UserInputError(f"{where}: unsupported pixel type {img.dtype}")
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    if img.shape[2] == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img[:, :, ::-1])


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an (H, W, 3) uint8 RGB image; the suffix picks the format."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(image[:, :, ::-1]))
    if not ok:
        raise UserInputError(f"{path}: cannot encode an image with this suffix")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.tobytes())
    tmp.replace(path)
    return path


def encode_png(image: np.ndarray) -> bytes:
    """Lossless, deterministic PNG bytes of an (H, W, 3) uint8 RGB image."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"encode_png wants (H, W, 3) uint8, got {image.shape} {image.dtype}")
    return fpng.from_ndarray(np.ascontiguousarray(image))


def decode_png(data: bytes, *, where: str = "PNG bytes") -> np.ndarray:
    """Decode PNG (or any OpenCV-readable) bytes to (H, W, 3) uint8 RGB."""
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserInputError(f"{where}: not a decodable image")
    return _to_rgb_uint8(img, where)


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted; errors if the folder is missing or empty."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserInputError(f"{folder}: no such folder")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.is_file())
    if not files:
        raise UserInputError(
            f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    return files
