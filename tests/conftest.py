"""Shared test set-up: CPU by default, small thread counts, a device fixture (as kornia's)."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="torch device for model tests (cpu, cuda)")


@pytest.fixture
def device(request: pytest.FixtureRequest) -> torch.device:
    name = request.config.getoption("--device")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("CUDA not available")
    return torch.device(name)


def write_tiny_pair_shards(folder, *, counts=None, shard_size: int = 4, seed: int = 0,
                           hr: int = 128):
    """Write a small but real schema-v1 shard directory (used by shard and CPGAN tests).

    UI-HR faces are smooth random colour fields; NI-HR multiplies them by a side-light
    ramp; NI-LR is NI-HR area-downsampled to 16×16; landmarks are random points.
    """
    import cv2
    import numpy as np

    from datagen.shards import PairSample, ShardJob, ShardWriter, shard_members

    counts = counts or {"train": 8, "test": 4}
    rng = np.random.default_rng(seed)
    writer = ShardWriter(folder, {"config": {"fixture": "tiny", "seed": seed}})
    for split, n in counts.items():
        samples = []
        for i in range(n):
            base = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
            uihr = cv2.resize(base, (hr, hr), interpolation=cv2.INTER_CUBIC)
            ramp = np.linspace(0.2, 1.0, hr, dtype=np.float32)[None, :, None]
            nihr = (uihr * ramp).astype(np.uint8)
            nilr = cv2.resize(nihr, (16, 16), interpolation=cv2.INTER_AREA)
            guide = cv2.resize(rng.integers(0, 256, (4, 4, 3)).astype(np.uint8), (hr, hr))
            lm = rng.uniform(20, hr - 20, (68, 2)).round(3)
            samples.append(PairSample(split, i, nilr, nihr, uihr, guide, {
                "identity": f"id{i}", "guide_identity": f"id{i + 1}", "source": "fixture",
                "landmarks_uihr": lm.tolist(), "landmarks_nilr": (lm / 8).tolist(),
                "affine": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "style_seed": i}))
        for k in range(0, n, shard_size):
            job = ShardJob(split, k // shard_size, k, min(n, k + shard_size))
            writer.write(job, shard_members(samples[job.start:job.stop]))
    return folder


@pytest.fixture
def tiny_shards(tmp_path):
    """A shard directory with 8 train and 4 test samples in shards of 4."""
    return write_tiny_pair_shards(tmp_path / "shards")


@pytest.fixture
def make_shards():
    """The ``write_tiny_pair_shards`` factory, for tests that need several directories."""
    return write_tiny_pair_shards


def write_yale_fixture(root, subjects=(1, 2, 5)):
    """Extended Yale B's layout: per subject a frontal photo, two side-lit ones, the ambient
    one. Subject n's lit photos have the half away from the light at (n / 10) of the frontal
    brightness."""
    ui = np.full((192, 168), 160, np.uint8)
    for n in subjects:
        folder = root / "CroppedYale" / f"yaleB{n:02d}"
        folder.mkdir(parents=True)
        cv2.imwrite(str(folder / f"yaleB{n:02d}_P00A+000E+00.pgm"), ui)  # 8-bit grey, as Yale
        for az, half in (("+070", slice(0, 84)), ("-070", slice(84, 168))):
            lit = ui.copy()
            lit[:, half] = 16 * n
            cv2.imwrite(str(folder / f"yaleB{n:02d}_P00A{az}E+00.pgm"), lit)
        cv2.imwrite(str(folder / f"yaleB{n:02d}_P00_Ambient.pgm"), ui // 8)
    return root


@pytest.fixture
def yale_root(tmp_path):
    """A tiny Extended Yale B tree (``write_yale_fixture``: subjects 1, 2, 5) under tmp_path."""
    return write_yale_fixture(tmp_path / "yale")
