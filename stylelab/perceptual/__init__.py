"""Perceptual measures on frozen image networks: :func:`load_backbone` and the
:class:`Backbone` contract (multi-scale ``features``, pooled ``embed``)."""

from .backbones import (
    Backbone,
    BackboneUnavailable,
    list_backbones,
    load_backbone,
    register_backbone,
)

try:  # written in parallel; imported once they exist
    from .distance import perceptual_distance  # noqa: F401
except ImportError:
    pass
try:
    from .distribution import frechet_distance, kid, sample_features  # noqa: F401
except ImportError:
    pass

__all__ = ["Backbone", "BackboneUnavailable", "list_backbones", "load_backbone",
           "register_backbone"]
