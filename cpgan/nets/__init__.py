"""CPGAN networks: the generator (internal + external CPNets, hourglass) and the discriminator."""

from cpgan.nets.discriminator import Discriminator
from cpgan.nets.generator import Generator, GeneratorOutput

__all__ = ["Discriminator", "Generator", "GeneratorOutput"]
