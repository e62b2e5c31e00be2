"""The CPGAN model configuration (networks only; training options live in ``train_config``).

Widths default to a CPU-friendly size; ``ModelConfig.preset("paper")`` gives the
released code's sizes (trunk 256, width 128, hourglass 256, discriminator 64…512).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from facecore.errors import UserInputError

PresetName = Literal["tiny", "default", "paper"]


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the generator (G) and discriminator (D); validated once on construction.

    trunk: channels of the internal CPNet at 16×16 (paper 256).
    width: channels of the external CPNets and the upsampling path (paper 128).
    res_blocks: residual blocks per CPNet (paper 2).
    hourglass_features / hourglass_depth: the landmark hourglass at 64×64 (paper 256 / 4).
    n_landmarks: heatmaps predicted (68).
    disc_widths: channels of D's four stride-2 blocks; 128 px in → 8×8 logits out.
    spectral_norm: spectral normalisation on every conv of D, and of G unless
        ``generator_spectral_norm`` says otherwise (paper: both).
    generator_spectral_norm: spectral normalisation on G's convs; None follows
        ``spectral_norm``.
    icnr: ICNR init of the sub-pixel upsamplers' convs (``cpgan.nets.blocks.icnr_``).
    external_key_size: the external CPNets attend to the guide's features area-pooled to
        at most this side (None: the paper's full-resolution keys). At 64² full keys make a
        4,096 × 4,096 attention map per face, half of a CPU training step.
    norm: normalisation in G's upsamplers ("layer" default, "batch" as the released
        code, "none"); see ``cpgan.nets.blocks.Upsampler``.
    global_skip: G predicts a residual on the bicubic upsampling of its input (as VDSR and
        EDSR do) instead of the whole face through a final tanh (the released code,
        ``False``). Measured on the embedded default: without it, 200 steps of L_mse alone
        give the same average face for every input (15.2 dB against bicubic's 12.3 only
        because the relit input is far darker than the truth); with it the output depends
        on the input from the first step.
    align_input: a spatial transformer resamples the jittered thumbnail upright before
        everything else (``cpgan.nets.aligner``), learnt through the generator's losses.
    """

    trunk: int = 32
    width: int = 16
    res_blocks: int = 2
    hourglass_features: int = 32
    hourglass_depth: int = 4
    n_landmarks: int = 68
    disc_widths: tuple[int, ...] = (16, 32, 64, 128)
    spectral_norm: bool = True
    norm: Literal["layer", "batch", "none"] = "layer"
    global_skip: bool = True
    generator_spectral_norm: bool | None = None
    icnr: bool = False
    external_key_size: int | None = None
    align_input: bool = False

    @property
    def generator_sn(self) -> bool:
        """Whether G's convs are spectrally normalised."""
        return (self.spectral_norm if self.generator_spectral_norm is None
                else self.generator_spectral_norm)

    def __post_init__(self) -> None:
        for name in ("trunk", "width", "hourglass_features", "n_landmarks"):
            if getattr(self, name) < 1:
                raise UserInputError(f"model config {name} must be >= 1, got {getattr(self, name)}")
        if self.res_blocks < 0:
            raise UserInputError(f"model config res_blocks must be >= 0, got {self.res_blocks}")
        if not 1 <= self.hourglass_depth <= 6:
            raise UserInputError("model config hourglass_depth must be in 1..6 (64 px halved "
                                 f"depth times), got {self.hourglass_depth}")
        if self.norm not in ("layer", "batch", "none"):
            raise UserInputError(f"model config norm must be layer, batch or none, "
                                 f"got {self.norm!r}")
        if self.external_key_size is not None and self.external_key_size < 1:
            raise UserInputError("model config external_key_size must be >= 1 or null, "
                                 f"got {self.external_key_size}")
        if len(self.disc_widths) != 4 or min(self.disc_widths) < 1:
            raise UserInputError("model config disc_widths must be four positive channel counts "
                                 f"(128 px → 8×8 logits), got {self.disc_widths}")

    @classmethod
    def preset(cls, name: PresetName) -> "ModelConfig":
        """``tiny`` (tests), ``default`` (CPU-sized, the embedded default's measured choices)
        or ``paper`` (released-code sizes and design)."""
        presets = {
            "tiny": cls(trunk=16, width=8, hourglass_features=8, hourglass_depth=2,
                        disc_widths=(8, 16, 16, 32)),
            # measured on the embedded default (README "Where this departs"): without SN
            # and normalisation in G, with ICNR upsamplers and 32² guide keys, 300 steps of
            # L_mse give 18.39 dB / SSIM 0.596 against 16.81 / 0.567, at half the step time
            "default": cls(generator_spectral_norm=False, norm="none", icnr=True,
                           external_key_size=32),
            "paper": cls(trunk=256, width=128, hourglass_features=256, hourglass_depth=4,
                         disc_widths=(64, 128, 256, 512), global_skip=False),
        }
        if name not in presets:
            raise UserInputError(f"unknown model preset {name!r}; "
                                 f"choose one of {', '.join(presets)}")
        return presets[name]
