"""CPGAN: Copy-and-Paste GAN face hallucination from shaded 16×16 thumbnails.

Reads the shards made by ``datagen`` (schema v1); may import ``datagen``,
never the other way round.
"""

__version__ = "0.1.0"
