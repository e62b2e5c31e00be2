"""Dataset builder for illumination-robust face super-resolution.

Stage 1 (``datagen.rain``) learns to relight faces; stage 2 (``datagen.synth``)
mass-produces NI-LR / NI-HR / UI-HR / guide training pairs into WebDataset
shards (``datagen.shards``). ``datagen`` never imports ``cpgan``.
"""

__version__ = "0.4.0"
