"""Training options of CPGAN (the networks' sizes live in ``cpgan.config.ModelConfig``).

Optimiser settings are the paper's: Adam lr 1e-3, β (0.9, 0.999), ε 1e-8, and the
learning rate multiplied by 0.99 at every epoch boundary. An "epoch" is
``epoch_samples`` samples drawn from the (resampled, endless) training stream.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from cpgan.config import ModelConfig, PresetName
from cpgan.losses import LossConfig
from facecore.errors import UserInputError

WARMUP_TERMS = ("mse", "h")  # the terms G trains on during ``warmup_steps``


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run's numbers (validated once).

    model:          the networks' sizes: a ``ModelConfig`` (its fields in params.yaml) or a
                    preset name (tiny | default | paper), resolved on construction.
    steps:          total optimisation steps (one D step + one G step each).
    epoch_samples:  samples per epoch, over all ranks; the lr decays once per epoch.
    shuffle_buffer: sample shuffle buffer of the stream (per DataLoader worker).
    warmup_steps:   the first this many steps train G on L_mse (and L_h, if a term) alone and
                    leave D untouched; the other terms join afterwards (ESRGAN's PSNR-first
                    schedule: measured on the embedded default, the adversarial and L_ic
                    gradients of an untrained G are as large as L_mse's and mostly above the
                    thumbnail's frequency band — stripes and a dot grid instead of a face).
    val_every:      every this many steps, rank 0 measures PSNR/SSIM of G and of bicubic on
                    the first ``val_samples`` of the ``val`` split (``plots/val.tsv``) and
                    keeps the generator with the best validation SSIM after the warm-up as
                    ``best.pt`` (0: never; ``last.pt`` is written either way).
    hflip:          mirror a seeded half of the training samples (images and landmarks):
                    twice the faces to learn detail from (on Extended Yale B it raised PSNR
                    and lowered rank-1: a mirrored face is the same person; README).
    grad_clip:      clip G's gradient norm (over all its parameters) to this before each step
                    (None: off). It bounds a gradient spike, not Adam's step: on Extended Yale
                    B, clipped at 1 (G's norm is 0.3-1.1 early on), the preset's activations
                    still ran away through the hourglass (README, "Real faces").
    amp:            bf16 autocast on CUDA (ignored on CPU).
    device:         where to train (cpu, cuda, cuda:1, ...); a resume may change it.
    """

    model: ModelConfig | PresetName = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    batch_size: int = 16
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    lr_decay: float = 0.99
    epoch_samples: int = 4096
    steps: int = 1000
    checkpoint_every: int = 200
    log_every: int = 10
    seed: int = 0
    num_workers: int = 0
    shuffle_buffer: int = 256
    warmup_steps: int = 0
    val_every: int = 0
    val_samples: int = 64
    hflip: bool = False
    grad_clip: float | None = None
    amp: bool = True
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.model, str):
            object.__setattr__(self, "model", ModelConfig.preset(self.model))
        for name in ("batch_size", "epoch_samples", "steps", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise UserInputError(f"train config {name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise UserInputError(f"train config warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.val_every < 0 or self.val_samples < 1:
            raise UserInputError(f"train config needs val_every >= 0 and val_samples >= 1, "
                                 f"got {self.val_every}, {self.val_samples}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise UserInputError(
                f"train config grad_clip must be > 0 (or null), got {self.grad_clip}")
        if self.num_workers < 0 or self.shuffle_buffer < 0:
            raise UserInputError("train config num_workers and shuffle_buffer must be >= 0")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1 or len(self.betas) != 2:
            raise UserInputError(f"train config needs lr > 0, lr_decay in (0, 1] and two betas, "
                                 f"got {self.lr}, {self.lr_decay}, {self.betas}")

    def warmup_config(self) -> "TrainConfig":
        """This config with only the warm-up terms (L_mse, and L_h when it is a term)."""
        terms = tuple(t for t in self.loss.terms if t in WARMUP_TERMS)
        return dataclasses.replace(self, loss=dataclasses.replace(self.loss, terms=terms))

    def steps_per_epoch(self, world_size: int = 1) -> int:
        """Optimisation steps in one epoch: epoch_samples / (world_size · batch_size), at least 1
        and a multiple of the DataLoader worker count (each worker yields equal shares).

        The one definition of an epoch's length: the trainer's loader yields this many
        batches, and resume, lr decay and ``cpgan train --epochs`` count with it."""
        workers = max(1, self.num_workers)
        per_worker = max(1, self.epoch_samples // (world_size * self.batch_size * workers))
        return per_worker * workers
