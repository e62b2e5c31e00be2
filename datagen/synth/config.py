"""The synthesis config: everything that decides the bytes of a sample."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from facecore.errors import UserInputError
from datagen.relight import GeometricLight
from datagen.sources.base import SplitFractions

Relight = Literal["rain", "physical", "real", "geometric"]
Guides = Literal["batch", "split", "gallery"]


@dataclass(frozen=True)
class SynthConfig:
    """How stage 2 makes pairs; recorded in the manifest and the dataset card.

    seed:             every sample is a pure function of (seed, split, index).
    source:           face source name (``datagen.sources.SOURCES``); ``source_options``
                      its keyword options (``root`` for datasets on disk).
    relight:          ``rain`` (RaIN, ``rain_checkpoint``), ``physical`` (the synthetic
                      source's own non-uniform render), ``real`` (a real non-uniformly
                      lit image of the identity, for sources with lighting labels) or
                      ``geometric`` (the uniformly lit face relit through a 3D template
                      fitted to its landmarks, ``datagen.relight``; any source whose faces
                      have 68 landmarks).
    geometric:        the light ranges of ``geometric`` (its defaults when None); only kept
                      with ``relight: geometric``, so other configs record none.
    shard_size:       samples per shard; shard k holds indices [k·S, (k+1)·S).
    batch_size:       samples per device batch; batches start at shard starts, so the
                      bytes never depend on ranks or workers. Keep ``shard_size`` a
                      multiple of it: a shard's last batch is made whole and its extra
                      samples discarded (1000 with 64 would waste 2.3 % of the device's
                      work; hence the default 1024).
    hr_size, lr_size: NI-HR/UI-HR/guide size and NI-LR size (128 and 16 in the paper).
    max_rotation:     degrees; ``scale_range`` and ``max_translation`` (fraction of hr_size)
                      complete the random affine.
    split_fractions:  identity fractions of train/val/test.
    guides:           where each sample's guide (a uniformly lit face of another identity
                      of the split) comes from. ``batch`` (default since datagen 0.3.0):
                      the UI-HR face of another sample of the same full batch, drawn by
                      the sample's own generator — no face is loaded or rendered for it,
                      and since batches are content faces drawn at random from the split,
                      the guide is still a random face of the split (a batch holding one
                      identity only falls back to ``split`` for its samples). ``split``:
                      any face of the split, loaded apart (the paper's rule as written;
                      one more face per sample). ``gallery``: a fixed gallery of
                      ``guide_gallery`` faces.
    guide_gallery:    K ≥ 2 with ``guides: gallery`` (``--guide-gallery K``): guides come
                      from a fixed gallery of K faces (K identities) per split, drawn once
                      from (seed, split) and loaded once per worker; 0 otherwise.
    device_type:      "cpu" or "cuda" — float results differ between them, so it is part
                      of what decides the bytes.
    threads:          torch intra-op threads the device half (relight, warp, downsample)
                      always runs with, whatever the process's own setting. CPU kernels
                      split their float sums by thread count, so a value near a .5 boundary
                      can round to another uint8 level: the count is part of the config
                      (and a resume with another count is refused) rather than a promise
                      that it does not matter. The host half (loading) always uses 1.
    """

    seed: int = 0
    source: str = "synthetic"
    source_options: dict[str, Any] = field(default_factory=dict)
    relight: Relight = "rain"
    rain_checkpoint: str | None = None
    geometric: GeometricLight | None = None
    shard_size: int = 1024
    batch_size: int = 64
    hr_size: int = 128
    lr_size: int = 16
    max_rotation: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_translation: float = 0.05
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    guides: Guides = "batch"
    guide_gallery: int = 0
    device_type: Literal["cpu", "cuda"] = "cpu"
    threads: int = 1

    def __post_init__(self) -> None:
        from datagen.sources import SOURCES  # the registry imports every source module

        if self.source not in SOURCES:
            raise UserInputError(f"unknown source {self.source!r}; choose one of "
                                 f"{', '.join(sorted(SOURCES))}")
        for name in ("shard_size", "batch_size", "hr_size", "lr_size", "threads"):
            if getattr(self, name) < 1:
                raise UserInputError(f"synth: {name} must be ≥ 1, got {getattr(self, name)}")
        if self.relight == "rain" and not self.rain_checkpoint:
            raise UserInputError("synth: relight 'rain' needs a RaIN checkpoint (--rain PATH); "
                                 "make one with `datagen train-rain --phase finetune --out "
                                 "models/rain.pt`, or use --relight physical")
        if self.relight == "physical" and self.source != "synthetic":
            raise UserInputError("synth: --relight physical needs --source synthetic (only it "
                                 "can render the same face under another light)")
        object.__setattr__(self, "geometric", (self.geometric or GeometricLight())
                           if self.relight == "geometric" else None)
        if self.guide_gallery < 0 or self.guide_gallery == 1:
            raise UserInputError(f"synth: guide_gallery must be 0 (any face) or ≥ 2, got "
                                 f"{self.guide_gallery}")
        if (self.guides == "gallery") != (self.guide_gallery > 0):
            raise UserInputError(f"synth: guides {self.guides!r} with guide_gallery "
                                 f"{self.guide_gallery}: a gallery of K ≥ 2 faces goes with "
                                 f"guides 'gallery' (--guide-gallery K sets both), and only "
                                 f"with it")
        if not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise UserInputError(f"synth: scale_range must be 0 < low ≤ high, got "
                                 f"{self.scale_range}")
        SplitFractions(*self.split_fractions)

    @property
    def fractions(self) -> SplitFractions:
        return SplitFractions(*self.split_fractions)


@dataclass(frozen=True)
class SynthRun:
    """``datagen synth``: how many samples, of which split, with how many worker processes,
    and the ``SynthConfig`` that decides their bytes (the part recorded in the manifest;
    ``n`` and ``workers`` never change a sample).

    n:       samples to make; with ``split`` "all" shared by the identity fractions.
    workers: processes that load or render the faces ahead of the model and PNG-encode its
             output (0: all in the main process).
    """

    n: int
    config: SynthConfig
    split: Literal["train", "val", "test", "all"] = "all"
    workers: int = 1

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise UserInputError(f"synth: workers must be ≥ 0, got {self.workers}")
