"""Stage 1: RaIN, a relighting model (AdaIN with a random, latent style).

Public API (the synthesis engine codes against it):
``RainConfig``, ``Rain`` (``model.latent_dim``), ``load_rain(path)``,
``relight(model, faces, z=..., generator=...)``, ``train_rain(...)``.
"""

from datagen.rain.checkpoint import load_rain, save_checkpoint
from datagen.rain.model import Rain, RainConfig
from datagen.rain.relight import relight, sample_latents
from datagen.rain.train import train_rain

__all__ = ["Rain", "RainConfig", "load_rain", "relight", "sample_latents", "save_checkpoint",
           "train_rain"]
