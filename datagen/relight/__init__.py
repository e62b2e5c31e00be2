"""Relighting of face photos that needs no model: ``geometric`` (a 3D template fitted to the
landmarks, shaded under a sampled directional light)."""

from datagen.relight.geometric import GeometricLight, geometric_ratio, relight_geometric, \
    sample_geometric_light

__all__ = ["GeometricLight", "geometric_ratio", "relight_geometric", "sample_geometric_light"]
