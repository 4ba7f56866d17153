"""StyleCLIP (Patashnik et al. 2021) on any CLIP-like model: latent optimization, latent
mapper and global directions, one module each.

>>> from stylelab.styleclip import ClipOptimizeConfig, optimize_text
>>> result = optimize_text(G, clip, w, "a smiling face", ClipOptimizeConfig(steps=40))
"""

from .global_directions import GlobalDirection, apply_global, global_direction
from .mapper import (
    LatentMapper,
    MapperConfig,
    MapperTraining,
    apply_mapper,
    load_mapper,
    train_mapper,
)
from .optimize import ClipOptimizeConfig, TextEditResult, clip_metrics, optimize_text
from .relevance import (
    Relevance,
    RelevanceConfig,
    RelevanceStopped,
    channel_relevance,
    load_or_compute_relevance,
    naive_relevance,
    relevance_path,
)
from .text import TEMPLATES, check_prompts, encode_prompt, text_direction

__all__ = [
    "TEMPLATES", "ClipOptimizeConfig", "GlobalDirection", "LatentMapper", "MapperConfig",
    "MapperTraining", "Relevance", "RelevanceConfig", "RelevanceStopped", "TextEditResult",
    "apply_global", "apply_mapper", "channel_relevance", "check_prompts", "clip_metrics",
    "encode_prompt", "global_direction", "load_mapper", "load_or_compute_relevance",
    "naive_relevance", "optimize_text", "relevance_path", "text_direction", "train_mapper",
]
