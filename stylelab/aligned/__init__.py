"""Aligned models: a parent generator and the children fine-tuned from it.

StyleAlign's analyses (:mod:`.changes`: what fine-tuning changes, per layer), cross-domain
hybrids by layer swapping (:mod:`.hybrid`), the "furry cars" appearance measure
(:mod:`.appearance`), exemplar correspondence by masked attention (:mod:`.correspondence`,
MATEBIT) and zero-shot attribute regression through aligned latents (:mod:`.zeroshot`).
All are pure functions over generators, images and latents.
"""

from .appearance import AppearanceConfig, AppearanceModel, face_mask, load_appearance
from .changes import LayerChange, style_changes, total_change, weight_changes
from .correspondence import (
    Correspondence,
    correspond,
    fill_unreliable,
    landmark_error,
    warp,
    warp_points,
)
from .hybrid import hybrid, layer_weights
from .pair import NotAlignedError, as_generator, check_aligned, lineage
from .zeroshot import LatentRegressor, correlation, fit_regressor

__all__ = [
    "AppearanceConfig",
    "AppearanceModel",
    "Correspondence",
    "LatentRegressor",
    "LayerChange",
    "NotAlignedError",
    "as_generator",
    "check_aligned",
    "correlation",
    "correspond",
    "face_mask",
    "fill_unreliable",
    "fit_regressor",
    "hybrid",
    "landmark_error",
    "layer_weights",
    "lineage",
    "load_appearance",
    "style_changes",
    "total_change",
    "warp",
    "warp_points",
    "weight_changes",
]
