"""Perceptual measures on frozen image networks available offline.

* :func:`load_backbone`: ImageNet EfficientNet-Lite0/1/2 and the VGG16 trunk (HED-tuned), the
  :class:`Backbone` contract (multi-scale ``features``, pooled ``embed``); LPIPS's own nets
  when the ``lpips`` package and its torchvision weights are present;
* :class:`PerceptualDistance` / :func:`perceptual_distance`: LPIPS-style distance;
* :func:`frechet_distance`, :func:`kid`, :func:`sample_features`: distribution distances
  (report them as FD-/KID-<backbone>: not comparable with Inception FID).
"""

from .backbones import (
    Backbone,
    BackboneUnavailable,
    list_backbones,
    load_backbone,
    register_backbone,
)
from .distance import PerceptualDistance, perceptual_distance
from .distribution import KIDResult, frechet_distance, kid, metric_name, sample_features

__all__ = ["Backbone", "BackboneUnavailable", "KIDResult", "PerceptualDistance",
           "frechet_distance", "kid", "list_backbones", "load_backbone", "metric_name",
           "perceptual_distance", "register_backbone", "sample_features"]
