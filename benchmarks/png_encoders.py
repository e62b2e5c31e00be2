"""Lossless PNG encoders for shard images: CPU ms per image and bytes against datagen ≤ 0.2's.

Encodes 128×128 synthetic faces (uniformly and non-uniformly lit, as in a shard) with every
candidate that imports here, checks each output decodes with PIL to the same pixels, and
prints one table: CPU ms per image (process CPU time, best of ``--repeats``), mean bytes,
bytes relative to OpenCV zlib level 6 with the run-length strategy (the encoder until
datagen 0.3.0). Optional candidates (``imagecodecs``, ``isal``, ``deflate``) are skipped
when not installed; ``fpng`` is the one shards use (``facecore.imageio.encode_png``).

    python benchmarks/png_encoders.py --faces 64
"""

from __future__ import annotations

import argparse
import io
import struct
import time
import zlib
from typing import Callable

import cv2
import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

Encoder = Callable[[np.ndarray], bytes]


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def up_filtered_png(compress: Callable[[bytes], bytes]) -> Encoder:
    """A PNG writer of our own: filter 'Up' on every row (vectorised), then ``compress``."""
    def encode(img: np.ndarray) -> bytes:
        h, w, _ = img.shape
        rows = img.reshape(h, w * 3)
        out = np.empty((h, w * 3 + 1), np.uint8)
        out[:, 0] = 2
        out[0, 1:] = rows[0]
        np.subtract(rows[1:], rows[:-1], out=out[1:, 1:])
        return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + _chunk(b"IDAT", compress(out.tobytes())) + _chunk(b"IEND", b""))
    return encode


def candidates() -> dict[str, Encoder]:
    rle6 = [cv2.IMWRITE_PNG_COMPRESSION, 6, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]

    def cv2_png(params: list[int]) -> Encoder:
        return lambda im: cv2.imencode(".png", np.ascontiguousarray(im[:, :, ::-1]), params)[1] \
            .tobytes()

    def pil_png(level: int) -> Encoder:
        def encode(im: np.ndarray) -> bytes:
            buf = io.BytesIO()
            Image.fromarray(im).save(buf, format="PNG", compress_level=level)
            return buf.getvalue()
        return encode

    out: dict[str, Encoder] = {
        "OpenCV zlib 6, RLE (datagen ≤ 0.2)": cv2_png(rle6),
        "OpenCV zlib 1, RLE": cv2_png([cv2.IMWRITE_PNG_COMPRESSION, 1,
                                       cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]),
        "OpenCV zlib 1": cv2_png([cv2.IMWRITE_PNG_COMPRESSION, 1]),
        "PIL compress_level 1": pil_png(1),
        "Up filter + zlib 1": up_filtered_png(lambda d: zlib.compress(d, 1)),
    }
    import fpng
    out[f"fpng {fpng.__version__} (datagen 0.3)"] = lambda im: fpng.from_ndarray(im)
    try:
        import imagecodecs
        out["imagecodecs png level 1 (libpng)"] = lambda im: bytes(imagecodecs.png_encode(im,
                                                                                    level=1))
        out["imagecodecs spng level 1"] = lambda im: bytes(imagecodecs.spng_encode(im, level=1))
    except ImportError:
        pass
    try:
        from isal import isal_zlib
        out["Up filter + isal 1"] = up_filtered_png(lambda d: isal_zlib.compress(d, 1))
    except ImportError:
        pass
    try:
        import deflate
        out["Up filter + libdeflate 1"] = up_filtered_png(lambda d: deflate.zlib_compress(d, 1))
    except ImportError:
        pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=64, help="faces per lighting (×2 images)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from datagen.sources.synthetic import SyntheticFaces

    src = SyntheticFaces(size=128)
    ids = np.arange(args.faces) * 13
    variants = ids % 16
    images = np.ascontiguousarray(np.concatenate([
        src.render(ids, variants, lighting="uniform").images,
        src.render(ids, variants, lighting="non-uniform", light_seeds=ids + 3).images]))
    rows = []
    for name, encode in candidates().items():
        best, outputs = float("inf"), []
        for _ in range(args.repeats):
            t = time.process_time()
            outputs = [encode(im) for im in images]
            best = min(best, time.process_time() - t)
        lossless = all(np.array_equal(np.asarray(Image.open(io.BytesIO(b)).convert("RGB")), im)
                       for b, im in zip(outputs, images))
        rows.append((name, 1000 * best / len(images), np.mean([len(b) for b in outputs]),
                     lossless))
    base = rows[0][2]
    table = Table(title=f"PNG encoders, {len(images)} synthetic 128² faces, one core")
    for col in ("encoder", "CPU ms / image", "bytes", "bytes vs datagen ≤ 0.2", "lossless (PIL)"):
        table.add_column(col, justify="right")
    for name, ms, size, ok in sorted(rows, key=lambda r: r[1]):
        table.add_row(name, f"{ms:.3f}", f"{size:,.0f}", f"{size / base:.3f}", str(ok))
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
