"""Making samples for one config: load a batch's faces (host), then relight, warp and
downsample them (device).

``BatchLoader`` is the host half (face source, split pools, plans, face loading), cheap
enough that every ``synth`` worker process builds its own; ``Synthesizer`` adds the
relighting model and the device half, and regenerates any single sample.

What the bytes depend on (the contract, also in docs/shards.md): the config (which
includes ``threads``, the intra-op thread count the device half always runs with),
the RaIN checkpoint and perceptual weights, the code version, the torch version and
the device (CPU model or GPU name) — the last two are recorded in the manifest
header as ``runtime`` (``Synthesizer.header``). Not on workers, ranks, interruption,
or the process's own torch thread setting.
"""

from __future__ import annotations

import platform
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from datagen import __version__
from facecore.config import to_dict
from facecore.errors import UserInputError
from facecore.imageio import PNG_ENCODER
from facecore.torchfiles import sha256_file
from datagen.rain import Rain, load_rain
from datagen.shards import PairSample
from datagen.sources import SPLITS, FaceSource, open_source
from datagen.synth.config import SynthConfig
from datagen.synth.pairs import LoadedBatch, guide_gallery, load_batch, make_pairs, \
    plan_batch, rendered_on_host
from datagen.synth.pools import FacePool, FaceRef, make_pool


class BatchLoader:
    """The host half of a config: the face source and its split pools; plans a batch and
    loads what it names (synthetic face parameters, or decoded images). Cheap to build, so
    every worker process has its own."""

    def __init__(self, config: SynthConfig) -> None:
        self.config = config
        options = dict(config.source_options)
        if config.source == "synthetic":
            options.setdefault("size", config.hr_size)
        self.source: FaceSource = open_source(config.source, **options)
        self._pools: dict[str, FacePool] = {}
        self._galleries: dict[str, list[FaceRef]] = {}
        self._guides: dict[FaceRef, tuple[np.ndarray, np.ndarray]] = {}

    def pool(self, split: str) -> FacePool:
        if split not in self._pools:
            self._pools[split] = make_pool(self.source, split, self.config)
            if self.config.guide_gallery:
                self._galleries[split] = guide_gallery(self.config, self._pools[split], split)
        return self._pools[split]

    def load(self, split: str, start: int, *, render: bool = False) -> LoadedBatch:
        """Plans and faces of the full batch [start, start + batch_size) of ``split``; with
        ``render``, synthetic faces rendered here on the CPU (``rendered_on_host``: what
        workers do when the synth device is the CPU).

        Always on one torch thread, in a worker or in the main process alike (renders do
        not depend on the thread count)."""
        with intra_op_threads(1):
            pool = self.pool(split)
            gallery = self._galleries.get(split)
            plans = plan_batch(self.config, pool, split, start, gallery)
            loaded = load_batch(self.config, pool, plans, self._guides if gallery else None)
            return rendered_on_host(self.config, loaded) if render else loaded


@contextmanager
def intra_op_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the process's count."""
    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


def device_name(device: torch.device) -> str:
    """The hardware the device half ran on: the GPU's name, or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class Synthesizer:
    """Loaded source, pools and relighting model for one config; makes pairs on ``device``."""

    def __init__(self, config: SynthConfig, *, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        if self.device.type != config.device_type:
            raise UserInputError(f"synth: config device_type {config.device_type!r} but running "
                                 f"on {self.device}")
        self.loader = BatchLoader(config)
        self.rain: Rain | None = None
        self.rain_sha256: str | None = None
        if config.relight == "rain":
            path = Path(str(config.rain_checkpoint))
            if not path.is_file():
                raise UserInputError(f"{path}: RaIN checkpoint not found; make one with "
                                     f"`datagen train-rain --phase finetune --out {path}` "
                                     f"(or use --relight physical)")
            self.rain = load_rain(path, map_location=self.device)
            self.rain_sha256 = sha256_file(path)

    def header(self) -> dict[str, Any]:
        """What decides the bytes: config (minus the checkpoint's path), model hashes, and
        the runtime: torch version and device, whose float kernels compute the pixels, and
        the PNG encoder that turns them into bytes."""
        config = to_dict(self.config)
        config.pop("rain_checkpoint")
        if config["geometric"] is None:  # the headers of other relightings stay as they were
            config.pop("geometric")
        perceptual = getattr(getattr(self.rain, "encoder", None), "weights_record", None)
        return {"config": config, "generator": f"datagen {__version__}",
                "models": {"rain_sha256": self.rain_sha256, "perceptual": perceptual},
                "runtime": {"torch": torch.__version__, "device": device_name(self.device),
                            "png": PNG_ENCODER}}

    def make(self, loaded: LoadedBatch) -> list[PairSample]:
        """The device half: relight, warp and downsample a loaded batch into pairs, on
        ``config.threads`` intra-op threads whatever the process's own setting."""
        with intra_op_threads(self.config.threads):
            return make_pairs(self.config, loaded, rain=self.rain, device=self.device,
                              source_name=self.config.source)

    def batch(self, split: str, start: int) -> list[PairSample]:
        """The full batch of samples [start, start + batch_size) of ``split``."""
        return self.make(self.loader.load(split, start))

    def sample(self, split: str, index: int) -> PairSample:
        """Regenerate sample ``index`` of ``split`` alone; equals the one in its shard."""
        if split not in SPLITS or index < 0:
            raise UserInputError(f"no sample {split}/{index}")
        S, B = self.config.shard_size, self.config.batch_size
        shard_start = index // S * S
        start = shard_start + (index - shard_start) // B * B
        return self.batch(split, start)[index - start]
